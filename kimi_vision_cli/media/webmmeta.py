"""Metadata out of WebM (Matroska) files without moving a byte (issue 19, item 17).

FFmpeg and cameras write a clip's title into the segment Info and everything else
(LOCATION, COMMENT, ENCODER, dates, per-track tags) into the Tags element. SPEC.md:
location and camera metadata never leave the machine by default, as MP4/MOV metadata
does not (videometa.py).

Each such element becomes an EBML Void element (ID 0xEC) of the same total size with
its payload zeroed (RFC 8794 section 17.2: readers skip Void; Matroska: Void may stand
anywhere). Nothing moves, so Cues, SeekHead positions and cluster offsets stay right.
The SeekHead entry that pointed at Tags is voided too, so no reader seeks to a Void,
and a CRC-32 element of a changed Info or SeekHead is computed again (Matroska: CRC-32
of the rest of the parent's data, IEEE, little-endian). Blanked: Tags, and Title and
DateUTC in Info; MuxingApp and WritingApp are mandatory and name only the library.
Pure bytes, no PyAV.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from kimi_vision_cli.buffers import MediaBytes

_SEGMENT, _SEEKHEAD, _INFO, _TAGS, _CLUSTER = 0x18538067, 0x114D9B74, 0x1549A966, 0x1254C367, 0x1F43B675
_SEEK, _SEEK_ID = 0x4DBB, 0x53AB
_TITLE, _DATE_UTC = 0x7BA9, 0x4461
_VOID, _CRC32 = 0xEC, 0xBF
# Top-level children of a Segment: where a Cluster of unknown size (live recordings) ends.
_LEVEL1 = {_SEEKHEAD, _INFO, 0x1654AE6B, _CLUSTER, 0x1C53BB6B, _TAGS, 0x1941A469, 0x1043A770}
_TAGS_ID = _TAGS.to_bytes(4, "big")


def _header(data: MediaBytes, pos: int, end: int) -> tuple[int, int, int | None] | None:
    """(element id, data start, data size or None when unknown) of the element at pos."""
    if pos >= end or data[pos] == 0:
        return None
    id_len = 9 - data[pos].bit_length()
    if id_len > 4 or pos + id_len >= end or data[pos + id_len] == 0:
        return None
    size_at = pos + id_len
    size_len = 9 - data[size_at].bit_length()
    if size_at + size_len > end:
        return None
    size = int.from_bytes(data[size_at : size_at + size_len], "big") & ((1 << (7 * size_len)) - 1)
    unknown = size == (1 << (7 * size_len)) - 1
    return int.from_bytes(data[pos:size_at], "big"), size_at + size_len, None if unknown else size


def _children(data: MediaBytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(id, element start, data start, element end) of each child in [start, end). Stops
    at what cannot be located reliably."""
    pos = start
    while (head := _header(data, pos, end)) is not None:
        kind, body, size = head
        if size is None:  # unknown: a Segment runs to the end, a Cluster to the next top-level element
            if kind == _SEGMENT:
                stop = end
            elif kind == _CLUSTER:
                stop = _unknown_cluster_end(data, body, end)
            else:
                return
        else:
            stop = body + size
        if stop > end:
            return
        yield kind, pos, body, stop
        pos = stop


def _unknown_cluster_end(data: MediaBytes, start: int, end: int) -> int:
    pos = start
    while (head := _header(data, pos, end)) is not None:
        kind, body, size = head
        if kind in _LEVEL1 or size is None:
            return pos
        pos = body + size
    return min(pos, end)


def _void(out: bytearray, start: int, end: int) -> None:
    """The element in [start, end) becomes a Void of the same total size, zeroed."""
    total = end - start
    size_len = min(8, total - 1)
    payload = total - 1 - size_len
    out[start] = _VOID
    out[start + 1 : start + 1 + size_len] = ((1 << (7 * size_len)) | payload).to_bytes(size_len, "big")
    out[start + 1 + size_len : end] = bytes(payload)


def _fix_crc(out: bytearray, body: int, end: int) -> None:
    first = _header(out, body, end)
    if first is not None and first[0] == _CRC32 and first[2] == 4:
        crc_at = first[1]
        out[crc_at : crc_at + 4] = zlib.crc32(out[crc_at + 4 : end]).to_bytes(4, "little")


def _level1_changes(
    data: MediaBytes, kind: int, body: int, end: int
) -> tuple[list[tuple[int, int]], list[str]]:
    """(spans to void, kinds) inside one top-level element of a Segment."""
    if kind == _TAGS:
        found = ["metadata"]
        if b"LOCATION" in bytes(data[body:end]).upper():
            found.insert(0, "gps")
        return [(-1, -1)], found  # the whole element
    spans: list[tuple[int, int]] = []
    if kind == _INFO:
        spans = [(s, e) for k, s, _, e in _children(data, body, end) if k in (_TITLE, _DATE_UTC)]
    elif kind == _SEEKHEAD:
        for k, s, b, e in _children(data, body, end):
            if k == _SEEK and any(
                c == _SEEK_ID and data[cb:ce] == _TAGS_ID for c, _, cb, ce in _children(data, b, e)
            ):
                spans.append((s, e))
    return spans, ["metadata"] if spans and kind == _INFO else []


def strip_webm_metadata(data: MediaBytes) -> tuple[MediaBytes, list[str]]:
    """(data with Tags, Title and DateUTC voided, kinds dropped); (data, []) when there is
    none. A bytearray is changed in place, bytes are copied once (as videometa.py)."""
    out: bytearray | None = data if isinstance(data, bytearray) else None
    kinds: list[str] = []
    for kind, _, seg_body, seg_end in _children(data, 0, len(data)):
        if kind != _SEGMENT:
            continue
        for child, start, body, end in _children(data, seg_body, seg_end):
            spans, found = _level1_changes(data, child, body, end)
            if not spans:
                continue
            if out is None:
                out = bytearray(data)
            for s, e in spans:
                _void(out, start if s < 0 else s, end if s < 0 else e)
            if spans[0][0] >= 0:
                _fix_crc(out, body, end)
            kinds.extend(k for k in found if k not in kinds)
    if out is None:
        return data, []
    return out, sorted(kinds, key=("gps", "metadata").index)
