"""Whole files or none: the one way this tool writes a file the user or a rerun reads
(sidecars, manifests, media written with --embed, the upload cache, batch manifests).

Modes (issue 19 item 2): a new file follows the umask, as any program's output does
(it is created with 0666 and the kernel applies the umask); a replaced file keeps the
mode, and the owner and group where the system lets us, of the file it replaces. Only
the tool's own cache files are created 0600 (`private=True`).

A symbolic link is written through: its target is replaced and the link stays (an
album of links into a photo library keeps pointing at the captioned photo).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from kimi_vision_cli.errors import OutputBlockedError, UsageError, quote_name
from kimi_vision_cli.types import display_name

TEMP_PREFIX = ".kimi-vision-"
TEMP_SUFFIX = ".tmp"


def replace_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Temp file in the target's directory, fsynced, renamed over the target (atomic on
    POSIX), then the directory fsynced so the rename itself survives a power cut.
    Raises OSError; the temp file never outlives a failure or an interrupt."""
    with replacing(path, private=private) as fh:
        fh.write(data)


def replace_by(path: Path, produce: Callable[[Path], None], *, keep_times: bool = False) -> None:
    """The same guarantees for a file another program writes: `produce(tmp)` creates the
    new file at `tmp`, a free name in the target's directory (exiftool's `-o` refuses a
    name that exists). Then the old file's owner and mode (and, with keep_times, its
    access and modification times) are given to it, and it is renamed over the target."""
    path = _through_links(path)
    tmp = _free_name(path.parent)
    try:
        produce(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            _keep_owner_and_mode(fd, path)
            os.fsync(fd)
        finally:
            os.close(fd)
        if keep_times:
            old = os.stat(path)
            os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(path.parent)


def try_creating(directory: Path) -> None:
    """A file can be made in `directory` (OSError if not): a temporary one is made and
    removed at once. Tried, not asked: access(2) says yes to root where making a file
    fails (/proc: ENOENT), so an output place checked that way failed only once paid for."""
    fd, name = _create(directory, 0o600)
    os.close(fd)
    _unlink(name)


def check_directory_exists(path: Path, what: str, other: str) -> None:
    """The directory a file goes in exists, else UsageError (exit 2) saying how to make it.
    It is not made (as for a shell redirection): a slip in the path would leave the output
    somewhere unlooked-for. `other`: what to pick instead ("another --manifest")."""
    if os.path.lexists(path.absolute().parent):
        return
    shown = quote_name(display_name(str(path.parent)))
    raise UsageError(
        f"{what}: the directory {shown} does not exist",
        hint=f"create it first (mkdir -p {shown}) or pick {other}",
    )


def check_writable(directory: Path, what: str, hint: str, *, file: Path | None = None) -> None:
    """Up front, before any request: outputs can be written there, else OutputBlockedError
    (exit 1), `what: PLACE cannot be written (STRERROR) — hint`. `file`, when it exists,
    must be writable (access(2): it says no to root on a read-only file system or an
    immutable file), and a file can be made in `directory` (try_creating)."""
    if file is not None and os.path.lexists(file) and not os.access(file, os.W_OK):
        raise OutputBlockedError(f"{what}: {file} cannot be written ({os.strerror(errno.EACCES)})", hint=hint)
    try:
        try_creating(directory)
    except OSError as exc:
        raise OutputBlockedError(
            f"{what}: {directory} cannot be written ({exc.strerror or exc})", hint=hint
        ) from None


def _through_links(path: Path) -> Path:
    """The file a rename must replace: a symbolic link's target (renamed over, the link
    itself would become a separate copy), else `path`."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _create(directory: Path, mode: int) -> tuple[int, Path]:
    """A new file, opened for writing; unlike mkstemp (always 0600) its mode is `mode`
    less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = _free_name(directory)
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def _free_name(directory: Path) -> Path:
    return directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def _keep_owner_and_mode(fd: int, path: Path) -> None:
    """The replaced file's owner, group and permission bits, on the new one. A file that
    does not exist yet leaves the new one as created (the umask)."""
    try:
        old = os.stat(path)
    except FileNotFoundError:
        return
    if hasattr(os, "fchown"):
        for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
            try:  # root can give the file back to its owner; others keep at least the group
                os.fchown(fd, uid, gid)
                break
            except PermissionError:
                continue
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits


def _unlink(path: Path) -> None:
    with suppress(OSError):
        os.unlink(path)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # e.g. a platform without directory handles: the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; nothing more to do
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """replace_file for a file written a piece at a time (a report of thousands of
    thumbnails is never whole in memory): the temp file is renamed over `path` only when
    the block ends without an exception, and removed otherwise. A new file follows the
    umask, a replaced one keeps its mode and owner; `private`: 0600 (the tool's caches)."""
    path = _through_links(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create(path.parent, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if not private:
                _keep_owner_and_mode(fh.fileno(), path)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(path.parent)
