"""WebM/Matroska metadata is voided in place (issue 19, item 17): Tags, and Title and
DateUTC in Info, become EBML Void elements of the same size; PyAV still decodes every
frame, and CRC-32 elements still match."""

from __future__ import annotations

import io
import zlib

import pytest

from kimi_vision_cli.media.webmmeta import _children, _header, strip_webm_metadata
from tests.media import video_bytes

PLACE = "+48.8584+002.2945/"
TAGS = {"title": "TestCam trip", "comment": "shot by TestCam", "location": PLACE}
SEGMENT, CLUSTER = 0x18538067, 0x1F43B675


def webm(fmt: str = "webm", **tags: str) -> bytes:
    return video_bytes(fmt=fmt, codec="libvpx-vp9", metadata=tags or TAGS)


def decoded(data: bytes) -> tuple[dict[str, str], int]:
    import av

    with av.open(io.BytesIO(data)) as c:
        return dict(c.metadata), sum(1 for _ in c.decode(video=0))


def level1(data: bytes) -> list[tuple[int, int, int, int]]:
    ((_, _, body, end),) = [c for c in _children(data, 0, len(data)) if c[0] == SEGMENT]
    return list(_children(data, body, end))


def test_title_comment_and_location_are_voided_in_place() -> None:
    original = webm()
    tags, frames = decoded(original)
    assert tags["title"] == "TestCam trip" and tags["LOCATION"] == PLACE  # the input carries them
    buf = bytearray(original)
    out, kinds = strip_webm_metadata(buf)
    assert out is buf and kinds == ["gps", "metadata"]  # a bytearray is changed, not copied
    sent = bytes(out)
    assert len(sent) == len(original) and b"TestCam" not in sent and b"48.8584" not in sent
    sent_tags, sent_frames = decoded(sent)
    assert sent_frames == frames and not any("TestCam" in v or PLACE in v for v in sent_tags.values())
    # no SeekHead entry points at the voided Tags any more (a reader would seek to a Void)
    (seekhead,) = [(b, e) for k, _, b, e in level1(sent) if k == 0x114D9B74]
    assert b"\x12\x54\xc3\x67" in original[seekhead[0] : seekhead[1]]
    assert b"\x12\x54\xc3\x67" not in sent[seekhead[0] : seekhead[1]]
    # the clusters (the samples) are the same bytes
    clusters = [(s, e) for k, s, _, e in level1(original) if k == CLUSTER]
    assert clusters and all(sent[s:e] == original[s:e] for s, e in clusters)


def test_bytes_are_copied_once_and_a_clean_file_is_left_alone() -> None:
    original = webm()
    out, kinds = strip_webm_metadata(original)
    assert isinstance(out, bytearray) and kinds
    once = bytes(out)
    again, kinds = strip_webm_metadata(once)
    assert again is once and kinds == []  # nothing left to strip


def test_crc32_elements_still_match_after_stripping() -> None:
    original = webm("matroska")  # FFmpeg's Matroska muxer writes CRC-32 elements; WebM has none
    out = bytes(strip_webm_metadata(original)[0])
    checked = 0
    for _, _, body, end in level1(out):
        first = _header(out, body, end)
        if first is not None and first[0] == 0xBF:
            at = first[1]
            assert int.from_bytes(out[at : at + 4], "little") == zlib.crc32(out[at + 4 : end])
            checked += 1
    assert checked >= 3 and b"TestCam" not in out
    assert decoded(out)[1] == decoded(original)[1]


def test_unknown_sizes_of_a_live_recording_are_walked() -> None:
    """MediaRecorder and live muxers leave the Segment's and Clusters' sizes unknown
    (all value bits set): the walk still ends such a Cluster where the next top-level
    element (here Cues) starts, and goes on."""
    data = bytearray(webm())
    ((_, seg_start, seg_body, _),) = [c for c in _children(data, 0, len(data)) if c[0] == SEGMENT]
    data[seg_start + 4 : seg_body] = b"\x01" + b"\xff" * 7  # 8-byte size field, unknown
    for k, s, b, _ in level1(bytes(data)):
        if k == CLUSTER:
            size_len = b - s - 4
            data[s + 4 : b] = ((1 << (7 * size_len + 1)) - 1).to_bytes(size_len, "big")  # marker + all ones
    assert _header(data, seg_start, len(data))[2] is None  # type: ignore[index]
    assert [k for k, *_ in level1(bytes(data))][-2:] == [CLUSTER, 0x1C53BB6B]  # Cues found after it
    out, kinds = strip_webm_metadata(bytes(data))
    assert kinds == ["gps", "metadata"] and b"TestCam" not in out


@pytest.mark.parametrize("junk", [b"", b"\x1a\x45\xdf\xa3", b"\x1a\x45\xdf\xa3\x00\x00", b"\xff" * 64])
def test_junk_is_left_as_it_is(junk: bytes) -> None:
    assert strip_webm_metadata(junk) == (junk, [])


def test_the_recording_date_goes_too() -> None:
    original = video_bytes(fmt="webm", codec="libvpx-vp9", metadata={"creation_time": "2024-05-06T07:08:09Z"})
    assert "creation_time" in decoded(original)[0]  # FFmpeg writes it as Info's DateUTC
    out, kinds = strip_webm_metadata(original)
    assert kinds == ["metadata"] and "creation_time" not in decoded(bytes(out))[0]
