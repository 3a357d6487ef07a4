"""Cutting a video into timed segments (media/segments.py) and the --segment DURATION value."""

from __future__ import annotations

import base64
import io
import itertools
from fractions import Fraction

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.media import segments
from kimi_vision_cli.media.segments import Frames, plan, plan_scenes
from kimi_vision_cli.options import duration
from tests.media import headless_video, shots_video, timed_video, vfr_video


def probe(data: bytes) -> tuple[float, int, str, list[bytes]]:
    """(duration in seconds, frames decoded, codec, the payload of each packet)."""
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        seconds = float(s.duration * s.time_base)
        payloads = [bytes(p) for p in c.demux(s) if p.size]
    with av.open(io.BytesIO(data)) as c:
        frames = sum(1 for _ in c.decode(video=0))
        return seconds, frames, c.streams.video[0].codec_context.name, payloads


@pytest.fixture(scope="module")
def clip() -> bytes:
    return timed_video(12, keyframe_every=2)


def test_cuts_at_keyframes_by_copying_packets(clip: bytes) -> None:
    segs = segments.cut(clip, 4)
    assert [(s.start, s.end) for s in segs] == [(0, 4), (4, 8), (8, 12)]
    assert not any(s.reencoded for s in segs)
    _, _, _, source = probe(clip)
    copied: list[bytes] = []
    for s in segs:
        seconds, frames, codec, payloads = probe(s.data)
        assert (seconds, frames, codec, s.mime) == (4.0, 40, "h264", "video/mp4")
        copied += payloads
    assert copied == source  # the same compressed pictures, in the same order: nothing re-encoded


def test_keyframes_far_apart_are_reencoded_to_h264() -> None:
    clip = timed_video(12, keyframe_every=None)
    segs = segments.cut(clip, 4)
    assert [(s.start, s.end) for s in segs] == [(0, 4), (4, 8), (8, 12)]
    assert all(s.reencoded for s in segs)
    probes = [probe(s.data) for s in segs]
    assert [(p[1], p[2]) for p in probes] == [(40, "h264")] * 3
    assert sum(p[0] for p in probes) == pytest.approx(12.0)


def test_a_cut_moves_to_the_keyframe_nearest_its_place_on_the_grid() -> None:
    segs = segments.cut(timed_video(12, keyframe_every=3), 4)  # keyframes at 3, 6, 9: 4 -> 3, 8 -> 9
    assert [(s.start, s.end, s.reencoded) for s in segs] == [(0, 3, False), (3, 9, False), (9, 12, False)]


def test_cuts_do_not_drift_with_scene_cut_keyframes() -> None:
    """Issue 23: keyframes at 0, 1, 2, 3, 3.9, 4.9 ... 7.9, 8.8 ... 10.8, 11: measured from
    the previous cut the parts were 0-3.9, 3.9-7.9, 7.9-11 and a runt 11-12."""
    segs = segments.cut(shots_video([3.9, 7.9, 11.0]), 4)
    assert [(s.start, s.end, s.reencoded) for s in segs] == [
        (0, 3.9, False), (3.9, 7.9, False), (7.9, 12, False),
    ]  # fmt: skip


def test_only_the_segments_between_keyframes_are_reencoded() -> None:
    segs = segments.cut(timed_video(12, keyframe_every=8), 4)
    assert [(s.start, s.end, s.reencoded) for s in segs] == [(0, 4, True), (4, 8, True), (8, 12, False)]
    assert sum(probe(s.data)[0] for s in segs) == pytest.approx(12.0)


def test_a_last_part_under_half_the_duration_joins_the_one_before() -> None:
    assert [(s.start, s.end) for s in segments.cut(timed_video(14), 4)][-1] == (12, 14)
    assert [(s.start, s.end) for s in segments.cut(timed_video(13.9), 4)][-1] == (8, 13.9)


def test_a_clip_within_one_segment_is_returned_whole(clip: bytes) -> None:
    [seg] = segments.cut(clip, 30, mime="video/quicktime")
    assert (seg.start, seg.end, seg.data, seg.mime, seg.reencoded) == (0, 12, clip, "video/quicktime", False)


def test_undecodable_video_is_an_input_error() -> None:
    with pytest.raises(InputError) as err:
        segments.cut(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, 4, name="bad.mp4")
    assert err.value.input == "bad.mp4" and err.value.exit_code == 2


def test_a_clip_opening_between_keyframes_starts_at_its_first_keyframe() -> None:
    """Issue 23: the head refers to a keyframe the clip lacks; it was a KeyError: 0."""
    clip = headless_video(12, drop=5, keyframe_every=3)  # the first keyframe is 3 s in
    segs = segments.cut(clip, 2)
    assert segs[0].start == 0 and segs[-1].end == pytest.approx(9.0)
    assert all(a.end == b.start for a, b in itertools.pairwise(segs))
    assert sum(probe(s.data)[1] for s in segs) == 90  # every decodable frame, once


@pytest.mark.parametrize("clip", [vfr_video(12), vfr_video(12, fmt="webm", codec="libvpx", live=True)],
                         ids=["vfr-mp4", "webm-without-duration"])  # fmt: skip
def test_variable_frame_rate_and_missing_duration_segment_cleanly(clip: bytes) -> None:
    with av.open(io.BytesIO(clip)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    segs = segments.cut(clip, 4)
    assert len(segs) == 3 and segs[0].start == 0 and segs[-1].end == pytest.approx(12.0, abs=0.1)
    assert all(a.end == b.start for a, b in itertools.pairwise(segs))
    assert sum(probe(s.data)[1] for s in segs) == frames


@given(
    gaps=st.lists(st.integers(1, 50), min_size=1, max_size=200),
    key_every=st.integers(1, 80),
    every=st.floats(1, 20),
)
def test_plan_covers_the_clip_without_gap_or_overlap(gaps: list[int], key_every: int, every: float) -> None:
    pts = [0]
    for g in gaps:
        pts.append(pts[-1] + g)
    frames = Frames(pts[:-1], set(pts[:-1:key_every]), pts[-1], Fraction(1, 10), "h264")
    spans = plan(frames, every)
    assert spans[0].start == 0 and spans[-1].end == pts[-1]
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    assert all(s.start < s.end and s.start in frames.pts for s in spans)
    assert all(not s.remux or s.start in frames.keys for s in spans)


def test_scenes_cut_at_each_shot_change() -> None:
    segs = segments.cut(shots_video([3, 8]), "scenes")  # shots of 3, 5 and 4 s
    assert [(s.start, s.end) for s in segs] == [(0, 3), (3, 8), (8, 12)]


def frames_10fps(seconds: int, keys: list[float]) -> Frames:
    return Frames(
        list(range(seconds * 10)), {round(k * 10) for k in keys}, seconds * 10, Fraction(1, 10), "h264"
    )


def test_scenes_shorter_than_the_minimum_join_the_next_and_the_last_the_one_before() -> None:
    frames = frames_10fps(12, [0, 1, 3, 8, 11])
    spans = plan_scenes(frames, [1, 3, 8, 11], 2, 60)
    assert [(s.start, s.end, s.remux) for s in spans] == [(0, 30, True), (30, 80, True), (80, 120, True)]


def test_a_shot_longer_than_the_maximum_is_split_in_equal_parts_at_keyframes() -> None:
    frames = frames_10fps(30, [k / 2 for k in range(60)])  # a keyframe every half second
    spans = plan_scenes(frames, [5.04], 2, 10)  # shots of 5 s and 25 s: the 25 s one in 3
    assert [(s.start, s.end) for s in spans] == [(0, 50), (50, 135), (135, 215), (215, 300)]
    assert [s.remux for s in plan_scenes(frames_10fps(30, [0]), [5], 2, 10)] == [False] * 4


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("4.5s", 4.5), ("1h", 3600), ("45", 45)]
)
def test_duration_values(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "abc", "-3s", "1.s", "3 s", "0s", "0.5s"])
def test_bad_durations_say_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|at least 1s"):
        duration(text)


def test_the_loopback_server_probes_the_video_parts_it_receives(fake) -> None:  # type: ignore[no-untyped-def]
    from tests.test_fake_server import post

    parts = [
        {
            "type": "video_url",
            "video_url": {"url": "data:video/mp4;base64," + base64.b64encode(s.data).decode()},
        }
        for s in segments.cut(timed_video(8), 4)
    ]
    body = {
        "model": "kimi-k2.6",
        "messages": [{"role": "user", "content": [*parts, {"type": "text", "text": "x"}]}],
    }
    status, _ = post(fake, body)
    assert status == 200
    assert fake.chat_requests[-1].videos == [4.0, 4.0]


def test_segments_are_cut_as_they_are_taken_not_all_at_once() -> None:
    """Issue 23: every part was cut, and held, before the first was sent."""
    frames: list[int] = []
    cutter = segments.Cutter(timed_video(12, keyframe_every=None), 2, on_frame=frames.append)
    assert len(cutter) == 6 and frames == []  # planned only
    first = cutter.take(0)
    assert (first.start, first.end) == (0, 2) and 20 <= frames[-1] <= 30  # the first part, and a frame more
    assert [cutter.take(i).start for i in (1, 2)] == [2, 4] and frames[-1] <= 70
    with pytest.raises(ValueError, match="already taken"):
        cutter.take(1)
    cutter.close()


def test_a_parts_size_warning_names_its_video_and_its_errors_the_part() -> None:
    """A segment is prepared under its own label (errors, the downscale bar) but its size
    warning is the whole video's: every part shares the size, so the warning is one text
    said once per video (flows/segments.WarnOnce) and needs no rewriting."""
    from kimi_vision_cli.errors import KimiVisionError
    from kimi_vision_cli.media.video import prepare_video

    said: list[str] = []
    part = "big 2.mp4 [00:00:01–00:00:02]"

    def prepare(data: bytes) -> None:
        prepare_video(
            data,
            "video/mp4",
            resize=True,
            downscale_wanted=False,
            warn=said.append,
            name=part,
            part_of="big 2.mp4",
        )

    prepare(timed_video(1, w=2560, h=1440))
    assert said == [
        "'big 2.mp4': video is 2560x1440, over Moonshot's recommended 2048x1080 "
        "— pass --downscale-video to transcode it to fit"
    ]
    with pytest.raises(KimiVisionError) as err:
        prepare(b"\0\0\0\x18ftypisom" + b"\0" * 64)
    assert err.value.one_line().startswith(f"'{part}': ")
