"""Hostile input (issue 6): each bad input is one error line naming it, exit 2, and the
good input next to it is still described."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tests.scenarios import HOSTILE, run

CAPTION = "a 24x16 image/png image"

# (scenario, text the one error line must hold)
EXPECTED = {
    "missing": "nope.png: no such file",
    "directory": "album: is a directory — pass -r",
    "empty": "empty.png: file is empty",
    "text-named-png": "notes.png: unsupported type text/plain",
    "truncated": "cut.png: cannot decode image",
    "png-bad-crc": "flipped.png: cannot decode image (image/png): the IDAT chunk at byte",
    "png-bad-ihdr": "odd.png: cannot decode image (image/png): its header is damaged or not one Pillow reads",
    "svg-convert": "logo.svg: unsupported type image/svg+xml: a vector image, which kimi-vision cannot rasterise — render it to PNG first",
    "svg": "logo.svg: unsupported type image/svg+xml: a vector image",
    "xcf-convert": "layers.xcf: cannot decode image (image/x-xcf): not a format Pillow can read — export it as PNG",
    "bomb": "bomb.png: image has too many pixels",
    "symlink-loop": "loop-a.png: symbolic link loop",
    "fifo": "pipe.png: not a regular file",
    "non-utf8-name": "'caf\\xe9.png': file is empty",
    "url-huge-length": "over the 104,857,600-byte cap",
    "url-no-length-over-cap": "over the 2,000-byte cap",
    "url-slow": "took longer than 1s",
    "url-trickle": "took longer than 1s",
    "url-redirect-file": "redirected to a non-http(s) URL (file:///etc/passwd)",
    "url-redirect-ftp": "redirected to a non-http(s) URL (ftp://",
    "url-ftp": "ftp://127.0.0.1/x.png: unsupported URL scheme",
    "url-file": "file:///etc/passwd: unsupported URL scheme",
    "url-404": "download failed: HTTP 404",
    "url-html": "unsupported type text/html",
}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kimi-vision: error: ")]


@pytest.mark.parametrize("scenario", HOSTILE, ids=lambda s: s.name)
def test_bad_input_one_line_exit_2_good_one_still_described(kv, fake, tmp_path: Path, scenario) -> None:
    """Exit 2, except a download that timed out: temporary, 75 (rerunning may finish)."""
    started = time.monotonic()
    r = run(kv, fake, tmp_path, scenario)
    assert time.monotonic() - started < 20, "must not hang (FIFO, slow URL)"
    assert r.returncode == scenario.exit_code, r.stderr
    (line,) = error_lines(r.stderr)
    assert EXPECTED[scenario.name] in line, line
    assert "Traceback" not in r.stderr
    assert " object at 0x" not in line and "--convert" not in line, "no Python repr, no hint that cannot help"
    assert CAPTION in r.stdout, "the good input must still be processed"
    assert len(fake.chat_requests) == 1  # nothing was sent for the bad one


def test_non_utf8_name_of_a_good_file_is_printed_safely(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / os.fsdecode(b"caf\xe9.png"), 24, 16)
    write_image(tmp_path / "plain.png", 24, 16)
    r = kv("describe", "-j", "1", os.fsdecode(b"caf\xe9.png"), "plain.png")
    assert r.returncode == 0, r.stderr
    assert "==> caf\\xe9.png <==" in r.stdout
    assert "\ufffd" not in r.stdout


def test_control_characters_in_a_name_cannot_forge_lines(kv, fake, tmp_path: Path) -> None:
    name = "evil\nkimi-vision: error: forged\x1b[2J.png"
    r = kv("describe", name)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert "\x1b" not in r.stderr


def _unreadable_path(tmp_path: Path) -> str | None:
    """A path that open() refuses with EACCES, even for root (tests run as root here):
    a write-only sysfs attribute refuses reads whatever the caller's capabilities."""
    if os.geteuid() != 0:
        p = tmp_path / "locked.png"
        p.write_bytes(b"\x89PNG\r\n\x1a\n")
        p.chmod(0)
        return "locked.png"
    for candidate in ("/sys/bus/pci/rescan", "/sys/kernel/mm/ksm/run"):
        try:
            os.close(os.open(candidate, os.O_RDONLY))
        except OSError as exc:
            if exc.errno == errno.EACCES:
                os.symlink(candidate, tmp_path / "locked.png")
                return "locked.png"
    return None


def test_unreadable_file(kv, fake, tmp_path: Path) -> None:
    path = _unreadable_path(tmp_path)
    if path is None:
        pytest.skip("running as root and no file refuses root's reads here")
    from tests.media import write_image

    write_image(tmp_path / "good.png", 24, 16)
    r = kv("describe", "-j", "1", path, "good.png")
    assert r.returncode == 2, r.stderr
    (line,) = error_lines(r.stderr)
    assert "locked.png: permission denied" in line
    assert CAPTION in r.stdout


def test_url_input_is_downloaded_and_sniffed(kv, fake, tmp_path: Path) -> None:
    from tests.scenarios import web_server

    with web_server() as web:
        r = kv("describe", "-j", "1", f"{web}/image.png", f"{web}/to-image")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("a 20x10 image/png image") == 2
    assert f"==> {web}/image.png <==" in r.stdout


def test_corrupt_exif_is_dropped_quietly(kv, fake, tmp_path: Path) -> None:
    from tests.media import jpeg_with_exif

    data = bytearray(jpeg_with_exif(24, 16))
    data[data.index(b"Exif\0\0") + 6 + 18] = 0x04  # an IFD entry now points past the data
    (tmp_path / "odd.jpg").write_bytes(bytes(data))
    r = kv("describe", "odd.jpg")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "no Pillow warning may leak onto stderr"
    assert "a 24x16 image/jpeg image" in r.stdout


def test_nul_byte_in_files_from_is_one_bad_input(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "ok.png")
    (tmp_path / "list.txt").write_bytes(b"ok.png\nbad\0name.png\nok.png\n")
    r = kv("describe", "--files-from", "list.txt", "--format", "jsonl")
    assert r.returncode == 2, r.stderr
    assert "NUL byte" in r.stderr and "Traceback" not in r.stderr
    assert len(fake.chat_requests) == 2 and len(r.stdout.splitlines()) == 3


def test_sidecar_name_too_long_fails_that_input_only(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    long_name = "a" * 249 + ".png"  # 253 bytes: the sidecar's .txt makes 257, over NAME_MAX
    write_image(tmp_path / long_name)
    write_image(tmp_path / "ok.png")
    r = kv("describe", long_name, "ok.png", "--sidecar", "txt", "-j", "1")
    assert "Traceback" not in r.stderr
    assert r.returncode == 1 and "cannot write sidecar" in r.stderr
    assert (tmp_path / "ok.png.txt").exists()
