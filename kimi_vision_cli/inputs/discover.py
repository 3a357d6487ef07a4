"""INPUT arguments -> a stream of Sources. Stat only: bytes are read later, just
before each input is prepared (a million paths must not be loaded up front)."""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator
from typing import IO, Any

from kimi_vision_cli.errors import InputError, KimiVisionError, UsageError
from kimi_vision_cli.inputs.walk import WalkFilter
from kimi_vision_cli.types import MEDIA_EXTENSIONS, Source, display_name

# A file bigger than this is refused before it is read: nothing the API accepts
# (100 MB body, 100 MB upload) can come from it, even after downscaling a video.
MAX_READ_BYTES = 2 * 1024 * 1024 * 1024


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
        from kimi_vision_cli.stores import scheme_of  # fsspec itself is not imported

        if scheme_of(arg):
            return Source("object", arg)
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
    files_from: IO[str] | IO[bytes] | None = None,
    list_on_stdin: bool = False,
    nul: bool = False,
    walk: WalkFilter | None = None,
) -> Iterator[Source]:
    """Sources, yielded lazily; a bad argument becomes a Source carrying its error.
    `files_from`: a list of names, one a line, or NUL-separated with `nul`
    (--files-from0, what `find -print0` writes).

    Standard input can be read once: `-` twice, or `-` with `--files-from -`, is a usage
    error here, before any input is read or sent (issue 11)."""
    args = list(args)
    if args.count("-") > 1 or ("-" in args and list_on_stdin):
        raise UsageError(
            "standard input can be read only once: `-` is given twice"
            + (f" (--files-from{'0' if nul else ''} - reads the list from it)" if list_on_stdin else ""),
            input="-",
            hint="save the bytes to a file and pass its path",
        )
    from kimi_vision_cli.stores import require_backends

    require_backends(args)  # a missing backend dooms every such input: said before any request
    names = None if files_from is None else (_nul_names(files_from) if nul else _line_names(files_from))
    return _sources(args, recursive, names, walk or WalkFilter(), stdin_used=list_on_stdin)


def _sources(
    args: list[str], recursive: bool, names: Iterator[str] | None, walk: WalkFilter, *, stdin_used: bool
) -> Iterator[Source]:
    for arg in _chain_args(args, names):
        if arg == "-":
            if stdin_used:  # a second `-`, from the --files-from list
                yield Source(
                    "stdin", "-", InputError("standard input is already used", hint="list file paths")
                )
                continue
            stdin_used = True
        src = classify(arg)
        if src.kind == "object" and recursive:
            yield from _walk_objects(src, walk)
            continue
        if src.kind == "object" and arg.endswith("/"):
            yield Source(
                "object", arg, InputError("is a prefix", input=src.display, hint="pass -r to walk it")
            )
            continue
        if src.kind != "path" or src.error:
            yield src
            continue
        if "\0" in arg:  # e.g. a `find -print0` list given to --files-from
            yield Source(
                "path", arg,
                InputError("name holds a NUL byte", input=display_name(arg),
                           hint="for a NUL-separated list (find -print0), use --files-from0"),
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
            yield from _walk_some(arg, walk)
            continue
        yield src


def _walk_some(root: str, walk: WalkFilter) -> Iterator[Source]:
    """A walk that finds nothing is an input error, not a silent success (issue 11): a
    CI job pointed at the wrong directory must not pass with no caption written."""
    found = False
    for src in _walk(root, walk, ""):
        found = True
        yield src
    if not found:
        yield Source(
            "path",
            root,
            InputError(
                "no image or video file found in it",
                input=display_name(root),
                hint="-r picks files by extension (.png, .jpg, .webp, .mp4, ...)"
                + ("" if walk.hidden else ", skips hidden ones (--hidden)")
                + (", and leaves out --exclude matches" if walk.exclude else ""),
            ),
        )


def _walk_objects(src: Source, walk: WalkFilter) -> Iterator[Source]:
    """-r over an object URL: a prefix is walked as a directory is (hidden segments,
    --exclude, media extensions, an empty walk an error); a key is taken as given."""
    from kimi_vision_cli.inputs import objects

    try:
        if not objects.is_prefix(src.value):
            yield src
            return
        found = False
        for url in objects.walk_keys(src.value, walk.skips, _is_media):
            found = True
            yield Source("object", url)
    except KimiVisionError as err:
        yield Source("object", src.value, err.with_input(src.display))
        return
    if not found:
        yield Source("object", src.value, InputError(
            "no image or video object found under it", input=src.display,
            hint="-r picks keys by extension (.png, .jpg, .webp, .mp4, ...)"
            + ("" if walk.hidden else ", skips hidden ones (--hidden)")
            + (", and leaves out --exclude matches" if walk.exclude else ""),
        ))  # fmt: skip


def _is_media(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def _chain_args(args: Iterable[str], names: Iterator[str] | None) -> Iterator[str]:
    yield from args
    if names is not None:
        yield from names


def _line_names(fh: IO[Any]) -> Iterator[str]:
    """--files-from: one name a line, kept whole (leading and trailing spaces are part of
    the name); blank lines are skipped."""
    for line in fh:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


def _nul_names(fh: IO[Any]) -> Iterator[str]:
    """--files-from0: names separated by NUL bytes, kept whole (newlines and spaces are
    part of the name, as `xargs -0` reads them); empty names are skipped. Read in pieces,
    so a long list streams."""
    raw = getattr(fh, "buffer", fh)  # the bytes under a text stream (stdin)
    rest = b""
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            break
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        *names, rest = (rest + chunk).split(b"\0")
        yield from (os.fsdecode(n) for n in names if n)
    if rest:
        yield os.fsdecode(rest)


def _walk(root: str, walk: WalkFilter, rel: str) -> Iterator[Source]:
    """Sorted, depth-first, streaming; symlinked directories are not followed (no loops).
    `rel`: root's path under the directory the walk started from (for --exclude)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        yield Source("path", root, _stat_error(root, exc))
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            path = f"{rel}/{entry.name}" if rel else entry.name
            if walk.skips(path, entry.name, is_dir):
                continue
            if is_dir:
                yield from _walk(entry.path, walk, path)
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
