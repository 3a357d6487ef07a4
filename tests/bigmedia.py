"""Large "videos" made cheaply: a small real MP4 followed by a big `free` box.

libmagic still says video/mp4 and PyAV still decodes it (ISO BMFF readers skip `free`
boxes), so a 60 MB file costs one small encode and a sparse-ish write.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.media import video_bytes

MB = 1024 * 1024


def padded_video(path: Path, size: int, *, frames: int = 5, w: int = 64, h: int = 48) -> Path:
    head = video_bytes(w, h, frames)
    pad = size - len(head) - 8
    assert pad > 0
    chunk = bytes(MB)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(struct.pack(">I4s", pad + 8, b"free"))
        left = pad
        while left:
            n = min(left, MB)
            fh.write(chunk[:n])
            left -= n
    return path
