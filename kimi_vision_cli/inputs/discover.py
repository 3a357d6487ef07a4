"""INPUT arguments -> a stream of Sources. Stat only: bytes are read later, just
before each input is prepared (a million paths must not be loaded up front)."""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kimi_vision_cli.errors import InputError, KimiVisionError, UsageError
from kimi_vision_cli.media.sniff import MEDIA_EXTENSIONS

# A file bigger than this is refused before it is read: nothing the API accepts
# (100 MB body, 100 MB upload) can come from it, even after downscaling a video.
MAX_READ_BYTES = 2 * 1024 * 1024 * 1024


# `https://user:password@host/...`: the credentials are a secret like the API key.
_URL_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def display_name(text: str) -> str:
    """A name safe to print: undecodable bytes (surrogate escapes) shown as \\xNN,
    a URL's user:password as ***."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    try:
        text.encode("utf-8")
        safe = text
    except UnicodeEncodeError:
        safe = os.fsencode(text).decode("utf-8", "backslashreplace")
    # Control characters would let a file name move the cursor or fake a line.
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in safe)


@dataclass(frozen=True)
class Source:
    kind: str  # "path" | "stdin" | "file_id" | "url"
    value: str  # the path, "-", the file id, or the URL
    error: KimiVisionError | None = None  # discovery failed for this input

    @property
    def display(self) -> str:
        if self.kind == "file_id":
            return f"ms://{self.value}"
        if self.kind == "stdin":
            return "-"
        return display_name(self.value)

    @property
    def path(self) -> Path | None:
        return Path(self.value) if self.kind == "path" else None


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# A file or batch id goes into a URL path (/v1/files/{id}): one that is empty or would
# change the path (`a/b`, `..`, `?x`) is refused before any lookup (issue 11).
_ID = re.compile(r"[^\s/\\?#%]+")


def valid_id(text: str) -> bool:
    return bool(_ID.fullmatch(text)) and text not in (".", "..")


def classify(arg: str) -> Source:
    if arg == "-":
        return Source("stdin", "-")
    if arg.startswith("ms://"):
        file_id = arg[len("ms://") :]
        if not valid_id(file_id):
            return Source(
                "file_id",
                file_id,
                InputError(
                    "not a valid ms://FILE_ID",
                    input=display_name(arg),
                    hint="use the id `upload` or `files list` printed",
                ),
            )
        return Source("file_id", file_id)
    lowered = arg.lower()
    if lowered.startswith(("http://", "https://")):
        return Source("url", arg)
    if _SCHEME.match(arg) and not os.path.exists(arg):
        return Source(
            "url",
            arg,
            InputError("unsupported URL scheme", input=display_name(arg), hint="use http(s)://"),
        )
    return Source("path", arg)


def iter_sources(
    args: Iterable[str],
    *,
    recursive: bool = False,
    files_from: IO[str] | None = None,
    list_on_stdin: bool = False,
) -> Iterator[Source]:
    """Sources, yielded lazily; a bad argument becomes a Source carrying its error.

    Standard input can be read once: `-` twice, or `-` with `--files-from -`, is a usage
    error here, before any input is read or sent (issue 11)."""
    args = list(args)
    if args.count("-") > 1 or ("-" in args and list_on_stdin):
        raise UsageError(
            "standard input can be read only once: `-` is given twice"
            + (" (--files-from - reads the list from it)" if list_on_stdin else ""),
            input="-",
            hint="save the bytes to a file and pass its path",
        )
    return _sources(args, recursive, files_from, stdin_used=list_on_stdin)


def _sources(
    args: list[str], recursive: bool, files_from: IO[str] | None, *, stdin_used: bool
) -> Iterator[Source]:
    for arg in _chain_args(args, files_from):
        if arg == "-":
            if stdin_used:  # a second `-`, from the --files-from list
                yield Source(
                    "stdin", "-", InputError("standard input is already used", hint="list file paths")
                )
                continue
            stdin_used = True
        src = classify(arg)
        if src.kind != "path" or src.error:
            yield src
            continue
        if "\0" in arg:  # e.g. a `find -print0` list given to --files-from
            yield Source(
                "path", arg,
                InputError("name holds a NUL byte", input=display_name(arg), hint="give one path per line"),
            )  # fmt: skip
            continue
        try:
            st = os.stat(arg)
        except OSError as exc:
            yield Source("path", arg, _stat_error(arg, exc))
            continue
        if stat.S_ISDIR(st.st_mode):
            if not recursive:
                yield Source(
                    "path",
                    arg,
                    InputError("is a directory", input=display_name(arg), hint="pass -r to walk it"),
                )
                continue
            yield from _walk_some(arg)
            continue
        yield src


def _walk_some(root: str) -> Iterator[Source]:
    """A walk that finds nothing is an input error, not a silent success (issue 11): a
    CI job pointed at the wrong directory must not pass with no caption written."""
    found = False
    for src in _walk(root):
        found = True
        yield src
    if not found:
        yield Source(
            "path",
            root,
            InputError(
                "no image or video file found in it",
                input=display_name(root),
                hint="-r picks files by extension (.png, .jpg, .webp, .mp4, ...)",
            ),
        )


def _chain_args(args: Iterable[str], files_from: IO[str] | None) -> Iterator[str]:
    yield from args
    if files_from is not None:
        for line in files_from:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line


def _walk(root: str) -> Iterator[Source]:
    """Sorted, depth-first, streaming; symlinked directories are not followed (no loops)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        yield Source("path", root, _stat_error(root, exc))
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
            elif os.path.splitext(entry.name)[1].lower() in MEDIA_EXTENSIONS:
                yield Source("path", entry.path)
        except OSError as exc:
            yield Source("path", entry.path, _stat_error(entry.path, exc))


def _stat_error(path: str, exc: OSError) -> InputError:
    name = display_name(path)
    if exc.errno == errno.ENOENT:
        return InputError("no such file", input=name, hint="check the path")
    if exc.errno == errno.ELOOP:
        return InputError("symbolic link loop", input=name, hint="fix the link")
    if exc.errno == errno.EACCES:
        return InputError("permission denied", input=name, hint="check the file's permissions")
    return InputError(f"cannot open: {exc.strerror}", input=name)


def read_path(path: str) -> bytearray:
    """Read a regular file; refuse FIFOs, devices and directories without blocking on them.

    Into a bytearray: a video's metadata boxes are then blanked in place, so the request
    holds the file once (media/videometa.py; issue 12, item 3)."""
    name = display_name(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang the run.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _stat_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory", input=name, hint="pass -r to walk it")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                "not a regular file (FIFO, socket or device)",
                input=name,
                hint="save the data to a file, or pipe it to `-`",
            )
        if st.st_size > MAX_READ_BYTES:
            raise InputError(f"file is too large ({st.st_size:,} bytes)", input=name)
        if st.st_size == 0:
            raise InputError("file is empty", input=name, hint="pass an image or video file")
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh:
            data = _read_all(fh, st.st_size)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", input=name) from None
    finally:
        os.close(fd)
    if not data:
        raise InputError("file is empty", input=name, hint="pass an image or video file")
    return data


def _read_all(fh: io.RawIOBase, size: int) -> bytearray:
    """The whole file, read into one bytearray of the size fstat gave (no copy), then
    whatever a file that grew since holds more."""
    data = bytearray(size)
    with memoryview(data) as view:
        got = 0
        while got < size:
            n = fh.readinto(view[got:])
            if not n:
                break
            got += n
    del data[got:]  # it shrank
    data += fh.read() or b""
    return data
