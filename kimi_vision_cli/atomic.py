"""Whole files or none: the one way this tool writes a file the user or a rerun reads
(sidecars, the upload cache, batch manifests)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".kimi-vision-"
TEMP_SUFFIX = ".tmp"


def replace_file(path: Path, data: bytes) -> None:
    """Temp file in the target's directory, fsynced, renamed over the target (atomic on
    POSIX), then the directory fsynced so the rename itself survives a power cut.
    Raises OSError; the temp file never outlives a failure or an interrupt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


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
def replacing(path: Path) -> Iterator[BinaryIO]:
    """replace_file for a file written a piece at a time (a report of thousands of
    thumbnails is never whole in memory): the temp file is renamed over `path` only when
    the block ends without an exception, and removed otherwise. The file gets the mode a
    new file gets here (0666 less the umask), not mkstemp's 0600: it is for reading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            mask = os.umask(0o022)  # os.umask only reads by setting: put it straight back
            os.umask(mask)
            os.fchmod(fh.fileno(), 0o666 & ~mask)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
