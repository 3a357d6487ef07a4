"""Metadata out of MP4/MOV/3GP files without touching a single sample byte.

Phones write where a clip was shot into the movie header: `©xyz` (QuickTime), `loci`
(3GPP, what FFmpeg writes for MP4), or Apple's `com.apple.quicktime.location.ISO6709`
key under `meta`; make, model and software sit beside it, XMP in a `uuid` box.
SPEC.md: location and camera metadata never leave the machine by default.

Each such box is turned into a `free` box of the same size with its payload zeroed.
Nothing moves, so the chunk offsets in `stco`/`co64` stay right and the file is the
same file to every reader (ISO/IEC 14496-12: readers skip `free`). Pure bytes, no
PyAV: it runs where the video extra is missing too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from kimi_vision_cli.buffers import MediaBytes

# ISO BMFF family as sniff.py names it; WebM has its own stripper (webmmeta.py); other
# containers (AVI, ...) are sent as they are: see docs/privacy.md "What is not removed".
BMFF_MIMES = frozenset({"video/mp4", "video/quicktime", "video/3gpp"})

_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
_DESCEND = {b"moov", b"trak"}  # where user data and metadata boxes live
_METADATA = {b"udta", b"meta"}
_LOCATION_MARKS = (b"\xa9xyz", b"loci", b"location")


def _boxes(data: MediaBytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) for each well-formed box in [start, end).

    Stops at the first malformed header: what follows cannot be located reliably, and
    PyAV's probe refuses a file that is truly broken.
    """
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:  # runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos, pos + header, pos + size
        pos += size


def _kinds(kind: bytes, payload: bytes) -> list[str]:
    found = []
    if any(mark in payload for mark in _LOCATION_MARKS):
        found.append("gps")
    if kind == b"uuid" or b"XMP_" in payload:
        found.append("xmp")
    if kind != b"uuid":
        found.append("metadata")
    return found


def strip_bmff_metadata(data: MediaBytes) -> tuple[MediaBytes, list[str]]:
    """(data with metadata boxes blanked, kinds dropped); (data, []) when there is none.

    A bytearray (a local file, read into one) is blanked in place and returned: the
    request then holds one copy of the video (issue 12, item 3). Bytes (stdin, a URL)
    are copied once into the bytearray returned.
    Kinds use the image vocabulary of `media.stripped`: `gps`, `xmp`, and `metadata`
    for the rest (make, model, software, dates, titles).
    """
    out: bytearray | None = data if isinstance(data, bytearray) else None
    kinds: list[str] = []

    def walk(start: int, end: int, top: bool) -> None:
        nonlocal out
        for kind, box, payload, box_end in _boxes(data, start, end):
            if kind in _DESCEND and (top or kind == b"trak"):
                walk(payload, box_end, False)
                continue
            xmp = kind == b"uuid" and data[payload : payload + 16] == _XMP_UUID
            if kind not in _METADATA and not xmp:
                continue
            if out is None:
                out = bytearray(data)
            body = bytes(data[payload:box_end])
            kinds.extend(k for k in _kinds(kind, body) if k not in kinds)
            out[box + 4 : box + 8] = b"free"  # the type follows the 32-bit size in both header forms
            out[payload:box_end] = bytes(box_end - payload)

    walk(0, len(data), True)
    if out is None or not kinds:  # every box blanked adds a kind
        return data, []
    return out, kinds
