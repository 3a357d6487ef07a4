"""Failure scenarios shared by the fault, hostile-input and secrets tests (issue 6).

Each scenario prepares files / faults / a local web server and returns the arguments
for `kimi-vision describe` and the exit code the run must end with. test_secrets.py
replays every one with --verbose and checks the key never shows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.fake_moonshot import FakeMoonshot, Fault
from tests.media import image_bytes, write_image

GOOD = "good.png"


def good(tmp_path: Path) -> str:
    write_image(tmp_path / GOOD, 24, 16)
    return GOOD


# -- a tiny web server for URL inputs ---------------------------------------------------

PNG = image_bytes(20, 10)


# The routes whose answer is always the same: (status, body, headers).
_FIXED: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "/image.png": (200, PNG, {"Content-Type": "image/png", "Content-Length": str(len(PNG))}),
    "/huge-length": (200, b"", {"Content-Type": "image/png", "Content-Length": str(10**12)}),
    # bigger than the test's cap, length not announced
    "/no-length": (200, PNG + b"\0" * 5000, {"Content-Type": "image/png"}),
    "/to-file": (302, b"", {"Location": "file:///etc/passwd"}),
    "/to-ftp": (302, b"", {"Location": "ftp://127.0.0.1/x.png"}),
    "/to-image": (302, b"", {"Location": "/image.png"}),
    "/auth-redirect": (302, b"", {"Location": "/no-credentials.png"}),
    "/page.html": (200, b"<html><body>hello</body></html>", {"Content-Type": "text/html"}),
}


class _WebHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no keep-alive: a body without Content-Length ends at close

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        route = self.path.split("?")[0]
        try:
            if route in _FIXED:
                self._send(*_FIXED[route])
            elif route == "/slow-headers":
                time.sleep(3)
                self._send(200, PNG, {"Content-Type": "image/png"})
            elif route == "/trickle":  # every read is quick, the whole body is not
                self.send_response(200)
                self.end_headers()
                for b in PNG:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.05)
            elif route == "/auth.png":  # Basic auth bob:hunter2
                ok = self.headers.get("Authorization") == "Basic Ym9iOmh1bnRlcjI="
                self._send(200 if ok else 401, PNG if ok else b"who?", {"Content-Type": "image/png"})
            elif route == "/no-credentials.png":  # refuses a request that carried them along
                leaked = "Authorization" in self.headers
                self._send(
                    403 if leaked else 200, b"leaked" if leaked else PNG, {"Content-Type": "image/png"}
                )
            else:
                self._send(404, b"not found", {})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def web_server() -> Iterator[str]:
    """http://127.0.0.1:PORT serving the routes above."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- scenarios ----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    setup: Callable[[Path, FakeMoonshot, str], list[str]]  # (tmp_path, fake, web url) -> argv
    exit_code: int
    env: dict[str, str] | None = None


def _fault(*faults: Fault, args: tuple[str, ...] = ()) -> Callable[[Path, FakeMoonshot, str], list[str]]:
    def setup(tmp: Path, fake: FakeMoonshot, web: str) -> list[str]:
        fake.inject(*faults)
        return [*args, good(tmp)]

    return setup


def _bad_file(
    make: Callable[[Path], str], args: tuple[str, ...] = ()
) -> Callable[[Path, FakeMoonshot, str], list[str]]:
    def setup(tmp: Path, fake: FakeMoonshot, web: str) -> list[str]:
        return ["-j", "1", *args, make(tmp), good(tmp)]

    return setup


def _url(route: str) -> Callable[[Path, FakeMoonshot, str], list[str]]:
    def setup(tmp: Path, fake: FakeMoonshot, web: str) -> list[str]:
        return ["-j", "1", "--timeout", "1", web + route if "://" not in route else route, good(tmp)]

    return setup


def _text_png(tmp: Path) -> str:
    (tmp / "notes.png").write_text("just some text, not an image\n")
    return "notes.png"


def _truncated(tmp: Path) -> str:
    data = image_bytes(200, 150, "PNG")
    (tmp / "cut.png").write_bytes(data[: len(data) // 2])
    return "cut.png"


def _bad_crc(tmp: Path) -> str:
    """A PNG whose IDAT has one byte changed and its CRC left: Pillow decodes it anyway."""
    data = bytearray(image_bytes(40, 30, "PNG"))
    at = data.index(b"IDAT") + 4 + 10
    data[at] ^= 0x01
    (tmp / "flipped.png").write_bytes(bytes(data))
    return "flipped.png"


def _svg(tmp: Path) -> str:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    (tmp / "logo.svg").write_text(svg)
    return "logo.svg"


def _xcf(tmp: Path) -> str:
    """A GIMP XCF header: an image type to libmagic, a format Pillow cannot read."""
    (tmp / "layers.xcf").write_bytes(b"gimp xcf v011\0" + bytes(12) + bytes(100))
    return "layers.xcf"


def _bad_ihdr(tmp: Path) -> str:
    """A PNG with valid CRCs whose IHDR asks for bit depth 7: no decoder knows it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 10, 10, 7, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 310))
    (tmp / "odd.png").write_bytes(png + chunk(b"IEND", b""))
    return "odd.png"


def bomb_png(w: int = 100_000, h: int = 100_000) -> bytes:
    """A PNG whose header claims w x h pixels; decoding it would need ~40 GB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bomb(tmp: Path) -> str:
    (tmp / "bomb.png").write_bytes(bomb_png())
    return "bomb.png"


def _loop(tmp: Path) -> str:
    os.symlink("loop-b.png", tmp / "loop-a.png")
    os.symlink("loop-a.png", tmp / "loop-b.png")
    return "loop-a.png"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe.png")
    return "pipe.png"


def _empty(tmp: Path) -> str:
    (tmp / "empty.png").write_bytes(b"")
    return "empty.png"


def _directory(tmp: Path) -> str:
    (tmp / "album").mkdir()
    write_image(tmp / "album" / "x.png")
    return "album"


def _non_utf8(tmp: Path) -> str:
    name = os.fsdecode(b"caf\xe9.png")
    (tmp / name).write_bytes(b"")
    return name


FAULTS = [
    Scenario("5xx-once", _fault(Fault(status=500, type="server_error", message="boom")), 0),
    Scenario(
        "5xx-forever",
        _fault(*[Fault(status=503, type="engine_overloaded_error", message="busy")] * 4, args=("--retries", "1")),
        75,
    ),
    Scenario("cut-before-answer", _fault(Fault(cut_after=0)), 0),
    Scenario("cut-forever", _fault(*[Fault(cut_after=0)] * 3, args=("--retries", "1")), 75),
    # -j 1: the answer streams live, so half of it is on stdout when the cut comes.
    Scenario("cut-mid-answer", _fault(Fault(cut_after=2), args=("-j", "1")), 1),
    Scenario("finish-length", _fault(Fault(finish_reason="length")), 1),
    Scenario(
        "content-filter-400",
        _fault(Fault(status=400, type="content_filter", message="The request was rejected because it was considered high risk")),
        1,
    ),
    Scenario("content-filter-finish", _fault(Fault(finish_reason="content_filter")), 1),
    Scenario("slow-server", _fault(Fault(delay=3), args=("--timeout", "1", "--retries", "0")), 75),
    Scenario("413-html", _fault(Fault(status=413, html=True, message="Request Entity Too Large")), 2),
    Scenario("malformed-chunk", _fault(Fault(malformed=True)), 1),
    Scenario("401", _fault(Fault(status=401, type="invalid_authentication_error", message="Invalid Authentication")), 3),
]  # fmt: skip

HOSTILE = [
    Scenario("missing", _bad_file(lambda tmp: "nope.png"), 2),
    Scenario("directory", _bad_file(_directory), 2),
    Scenario("empty", _bad_file(_empty), 2),
    Scenario("text-named-png", _bad_file(_text_png), 2),
    Scenario("truncated", _bad_file(_truncated), 2),
    Scenario("png-bad-crc", _bad_file(_bad_crc), 2),
    Scenario("png-bad-ihdr", _bad_file(_bad_ihdr, ("--convert",)), 2),
    Scenario("svg-convert", _bad_file(_svg, ("--convert",)), 2),
    Scenario("xcf-convert", _bad_file(_xcf, ("--convert",)), 2),
    Scenario("svg", _bad_file(_svg), 2),
    Scenario("bomb", _bad_file(_bomb), 2),
    Scenario("symlink-loop", _bad_file(_loop), 2),
    Scenario("fifo", _bad_file(_fifo), 2),
    Scenario("non-utf8-name", _bad_file(_non_utf8), 2),
    Scenario("url-huge-length", _url("/huge-length"), 2),
    Scenario("url-no-length-over-cap", _url("/no-length"), 2, env={"KIMI_VISION_MAX_DOWNLOAD": "2000"}),
    Scenario("url-slow", _url("/slow-headers"), 75),
    Scenario("url-trickle", _url("/trickle"), 75),
    Scenario("url-redirect-file", _url("/to-file"), 2),
    Scenario("url-redirect-ftp", _url("/to-ftp"), 2),
    Scenario("url-ftp", _url("ftp://127.0.0.1/x.png"), 2),
    Scenario("url-file", _url("file:///etc/passwd"), 2),
    Scenario("url-404", _url("/missing.png"), 2),
    Scenario("url-html", _url("/page.html"), 2),
]


def by_name(name: str) -> Scenario:
    return next(s for s in FAULTS + HOSTILE if s.name == name)


def run(kv, fake: FakeMoonshot, tmp_path: Path, scenario: Scenario | str, *extra: str):  # type: ignore[no-untyped-def]
    """Run `kimi-vision describe [extra] <scenario args>`; returns the kv Run."""
    sc = by_name(scenario) if isinstance(scenario, str) else scenario
    with web_server() as web:
        args = sc.setup(tmp_path, fake, web)
        return kv("describe", *extra, *args, extra_env=sc.env, timeout=60)
