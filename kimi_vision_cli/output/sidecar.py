"""Sidecar files: where a caption is written for an input, and writing it atomically.

Naming (docs/batch.md "Sidecar names"):
- next to the input: `photo.png` -> `photo.png.txt` / `photo.png.json` (the full name is
  kept so `photo.png` and `photo.jpg` never share a sidecar);
- under `--output-dir DIR`: the input's path as given, made relative, under DIR
  (`photos/2024/a.png` -> `DIR/photos/2024/a.png.txt`; absolute paths lose their leading
  `/`, a path leaving the current directory (`../a.png`) is named by its absolute path),
  so `cd photos && kimi-vision describe -r . --output-dir ../captions` mirrors the tree
  relative to the directory;
- inputs that are not files, in DIR (or the current directory without --output-dir):
  `-` -> `stdin.txt`, `ms://ID` -> `ms/ID.txt`, `https://host:port/p/a.png` ->
  `host_port/p/a.png.txt` (a query string adds `-<8 hex of its sha1>`), `s3://bucket/p/a.png`
  -> `s3/bucket/p/a.png.txt`;
- under `--output-dir s3://bucket/prefix` (gs://, az://, hf://): the same names, each an
  object written whole (output/objects.py).
A name that is another existing file's sidecar is refused (SidecarSpec.conflict).

A sidecar is written to a temp file in the same directory, fsynced, then renamed over
the target (os.replace is atomic on POSIX): an interrupted run leaves whole files only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kimi_vision_cli.atomic import check_writable, replace_file
from kimi_vision_cli.errors import (
    InputError,
    KimiVisionError,
    OutputBlockedError,
    OutputError,
    UsageError,
    quote_name,
)
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.subtitles import subtitle_file
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source, display_name

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Sidecar

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=,-]")


@dataclass(frozen=True)
class SidecarSpec:
    kind: Sidecar  # vtt and srt: describe --segment
    output_dir: Path | None = None
    store: Any = None  # output/objects.ObjectDir: --output-dir in object storage

    def path_for(self, source: Source) -> Path:
        rel = _relative_name(source)
        if self.store is not None:  # a key under the store's prefix
            return Path(rel + "." + self.kind)
        if self.output_dir is None and source.kind == "path":
            return Path(source.value + "." + self.kind)
        base = self.output_dir if self.output_dir is not None else Path(".")
        return base / (rel + "." + self.kind)

    def conflict(self, source: Source) -> KimiVisionError | None:
        """The sidecar is also another file's: refused, rather than one caption lost
        (issue 11). Names mirror relative paths as given, and a path given that way owns
        its name; any other input (an absolute path, a URL, ms://, `-`) whose name comes
        out as a relative path that exists here as another file would share its sidecar.
        Stateless, so it holds across runs and keeps memory flat."""
        if self.store is not None:
            return None  # keys mirror names as given, none a local file's
        if source.kind == "path" and (self.output_dir is None or not _leaves_cwd(source.value)):
            return None
        rel = _relative_name(source)
        try:
            if not os.path.isfile(rel):
                return None
            if source.kind == "path" and os.path.samefile(rel, source.value):
                return None  # `/here/x.png` run from `/here`: the same file, the same sidecar
        except OSError:
            return None
        return InputError(
            f"its sidecar {quote_name(display_name(str(self.path_for(source))))} is also the sidecar of "
            f"{quote_name(display_name(rel))}, another file",
            input=source.display,
            hint="give the inputs as paths relative to one directory, or use another --output-dir",
        )

    def check(self) -> None:
        """Up front, before any request: captions can go under --output-dir (issue 11).
        Nothing is left (a dry run writes nothing): the nearest existing directory must be
        one, and take a file (atomic.check_writable makes one and removes it)."""
        if self.store is not None:
            if self.kind == "xmp":  # merged by ExifTool into a local file
                raise UsageError(
                    "--sidecar xmp writes local files only",
                    hint="use --sidecar json with an object-storage --output-dir",
                )
            self.store.check()
            return
        if self.output_dir is None:
            return
        where = self.output_dir.absolute()
        while not os.path.lexists(where) and where.parent != where:
            where = where.parent
        if not where.is_dir():
            raise UsageError(
                f"--output-dir {self.output_dir}: {where} is not a directory", hint="pass a directory path"
            )
        check_writable(  # tried, not asked: access(2) says yes to root in /proc
            where,
            f"--output-dir {self.output_dir}",
            "check its permissions (or pick another --output-dir); nothing was sent",
        )

    def exists(self, path: Path) -> bool:
        return bool(self.store.exists(str(path))) if self.store is not None else path.exists()

    def read(self, path: Path) -> bytes:
        """A sidecar's bytes (OSError when it cannot be read)."""
        return bytes(self.store.read(str(path))) if self.store is not None else path.read_bytes()

    def content(self, result: Result, provenance: Provenance | None = None) -> bytes:
        if self.kind == "json":
            record = result.to_dict()
            if provenance is not None:  # what made it: --on-exists stale reads it back
                record["provenance"] = provenance.to_dict()
            text = json.dumps(record, ensure_ascii=False)
        elif self.kind in ("vtt", "srt"):
            text = subtitle_file(self.kind, result)
        else:
            text = result.text
        return (text.rstrip("\n") + "\n").encode("utf-8", "surrogateescape")


def _relative_name(source: Source) -> str:
    if source.kind == "stdin":
        return "stdin"
    if source.kind == "file_id":
        return "ms/" + _safe(source.value)
    if source.kind == "url":
        return _url_name(source.value)
    if source.kind == "object":  # s3://bucket/p/a.png -> s3/bucket/p/a.png
        scheme, _, rest = source.value.partition("://")
        return "/".join(
            [_safe(scheme.lower())] + [_safe(s) for s in rest.split("/") if s not in ("", ".", "..")]
        )
    # A path that leaves the current directory is named by its absolute path, so `../x.png`
    # and `x.png` never share a sidecar (issue 11).
    value = os.path.abspath(source.value) if _leaves_cwd(source.value) else source.value
    norm = posixpath.normpath(value.replace(os.sep, "/"))
    parts = [p for p in norm.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "input"


def _leaves_cwd(path: str) -> bool:
    """An absolute path, or one whose first part is `..`."""
    norm = posixpath.normpath(path.replace(os.sep, "/"))
    return norm.startswith("/") or norm == ".." or norm.startswith("../")


def _url_name(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    segs = [_safe(s) for s in parts.path.split("/") if s not in ("", ".", "..")]
    if not segs:
        segs = ["index"]
    if parts.query:
        segs[-1] += "-" + hashlib.sha1(parts.query.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    host = _safe(parts.hostname or "url")
    try:
        if parts.port is not None:  # another port, another server: another name
            host += f"_{parts.port}"
    except ValueError:  # a port that is not a number: the download will say so
        pass
    return "/".join([host, *segs])


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)[:200] or "_"


# After these no sidecar can be written, whichever the input: the run stops there
# (errors.OutputBlockedError), rather than pay for answers it would lose (issue 11).
_BLOCKED = {getattr(errno, name) for name in ("EROFS", "ENOSPC", "EDQUOT") if hasattr(errno, name)}


def write_atomic(
    path: Path, data: bytes, *, input: str, output_dir: Path | None = None, beside: bool = True
) -> None:
    """Never a half-written file (atomic.replace_file); a failure names the sidecar and
    the place to check: --output-dir only when one was given (issue 19, item 19)."""
    try:
        replace_file(path, data)
    except OSError as exc:
        raise write_error(path, exc, input=input, hint=_write_hint(path, output_dir, beside)) from None


def write_error(
    path: Path, exc: OSError, *, input: str, what: str = "sidecar", hint: str | None = None
) -> OutputError:
    """A file this run writes could not be: the run stops when no input could (_BLOCKED).
    The hint names the place to check: --output-dir only when one was given (issue 19.19)."""
    cls = OutputBlockedError if exc.errno in _BLOCKED else OutputError
    return cls(
        f"cannot write {what} {quote_name(display_name(str(path)))}: {exc.strerror or exc}",
        input=input,
        hint=hint or _write_hint(path, None, True),
    )


def _write_hint(path: Path, output_dir: Path | None, beside: bool) -> str:
    if output_dir is not None:
        return f"check that --output-dir {quote_name(display_name(str(output_dir)))} can be written, or pick another"
    folder = quote_name(display_name(str(path.parent)))
    where = "beside their inputs" if beside else "under the current directory for URLs, ms:// and -"
    return f"sidecars go {where}: check that {folder} can be written, or pass --output-dir DIR"


def write_sidecar(
    spec: SidecarSpec, source: Source, result: Result, *, provenance: Provenance | None = None
) -> Path:
    """A txt, json, vtt or srt sidecar (xmp ones are merged: output/xmp.py)."""
    path = spec.path_for(source)
    beside = source.kind == "path"
    data = spec.content(result, provenance)
    if spec.store is not None:
        spec.store.write(str(path), data, input=result.input)
        return path
    write_atomic(path, data, input=result.input, output_dir=spec.output_dir, beside=beside)
    return path
