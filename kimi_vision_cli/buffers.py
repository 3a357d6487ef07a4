"""Media bytes that may be a bytearray, and a file over them that does not copy them.

A local file is read into a bytearray so that a video's metadata boxes are blanked in
place: an inline request then holds one copy of its media, not the read, a mutable copy
and a final `bytes` copy (issue 12, item 3). PyAV reads a file object; `io.BytesIO`
shares an exact `bytes` object but copies a bytearray, so PyAV reads a `ViewReader`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MediaBytes: TypeAlias = bytes | bytearray


class ViewReader(io.RawIOBase):
    """A read-only, seekable file over a memoryview of `data` (no copy of it)."""

    def __init__(self, data: MediaBytes):
        super().__init__()
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # PyAV's reader wants exactly `bytes`, one piece (its buffer, ~32 KiB) at a time.
        end = len(self._view) if size is None or size < 0 else min(self._pos + size, len(self._view))
        piece = bytes(self._view[self._pos : end]) if end > self._pos else b""
        self._pos = max(self._pos, end)
        return piece

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        end = min(self._pos + len(target), len(self._view))
        n = max(0, end - self._pos)
        target[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._view.release()  # the bytearray can be resized again
        super().close()
