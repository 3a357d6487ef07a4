"""Where to cut a video (`describe --segment`, issues 15 and 23): pure, tested without video.

The ideal cuts lie on a fixed grid, k x N from the first frame. Each goes to the
nearest keyframe within a quarter of N: those segments can be remuxed, packets copied,
nothing decoded. A segment that would have to start (or end) between keyframes is
re-encoded, so it starts on a keyframe of its own. Every cut is a frame's presentation
time: segment i ends where i+1 starts, the first starts at the first frame and the last
ends with the clip, so the segments cover the clip with no gap and no overlap. A tail
shorter than half of N joins the segment before it. `--segment scenes` cuts where each
shot starts instead (`plan_scenes`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction

# Codecs an MP4 holds as they are; any other (VP8, WMV, FLV1...) is re-encoded.
REMUXABLE = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
_SLACK = 0.25  # a cut may move this fraction of N to reach a keyframe


@dataclass(frozen=True)
class Span:
    """A planned segment: frame times in stream ticks, and whether packets can be copied."""

    start: int
    end: int
    remux: bool


@dataclass(frozen=True)
class Frames:
    """What a demux pass (no decoding) learns: each frame's pts, which are keyframes."""

    pts: list[int]  # sorted presentation times, stream ticks
    keys: set[int]
    end: int  # where the last frame stops showing
    time_base: Fraction
    codec: str


def plan(frames: Frames, every: float) -> list[Span]:
    """Where to cut: pure, so the choice is tested without any video.

    The k-th cut is the keyframe nearest k x `every` from the first frame, never measured
    from the cut before (issue 23: measured from the last cut, the error drifted and a
    12 s clip at 4 s gave four parts); with no keyframe within the slack, the frame there."""
    step = Fraction(every) / frames.time_base
    cuts = [frames.pts[0], *_grid(frames, frames.pts[0], frames.end, step)]
    if len(cuts) > 1 and frames.end - cuts[-1] < step / 2:
        cuts.pop()  # a runt costs a whole request: the last segment takes it
    return _spans(frames, cuts)


def plan_scenes(frames: Frames, starts: list[float], low: float, high: float) -> list[Span]:
    """Cut where each shot starts (`starts`, seconds from the first frame: media/scenes.py).
    A part shorter than `low` seconds joins the next one (the last joins the one before);
    a part longer than `high` is split into equal parts on the grid, as `plan` cuts."""
    tb, origin, end = frames.time_base, frames.pts[0], frames.end
    least = Fraction(low) / tb
    cuts = [origin]
    for seconds in starts:
        at = _nearest(frames.pts, origin + Fraction(seconds) / tb)
        near = [k for k in frames.keys if abs(k - at) <= 1 / (2 * tb)]  # a scene-cut keyframe
        at = min(near, key=lambda k: abs(k - at), default=at)
        if at - cuts[-1] >= least and end - at >= least:
            cuts.append(at)
    bounded = [origin]
    for a, b in zip(cuts, [*cuts[1:], end], strict=True):
        parts = math.ceil((b - a) * tb / Fraction(high))
        bounded += [*_grid(frames, a, b, Fraction(b - a) / parts), b] if parts > 1 else [b]
    return _spans(frames, bounded[:-1])


def _grid(frames: Frames, start: int, end: int, step: Fraction) -> list[int]:
    """The cuts after `start` and before `end` at the keyframes (else frames) nearest start + k x step."""
    slack = step * Fraction(_SLACK)
    keys = sorted(frames.keys) if frames.codec in REMUXABLE else []  # re-encoded anyway: cut where asked
    cuts = [start]
    k = 1
    while start + k * step < end:
        target = start + k * step
        cut = _nearest_key(keys, target, slack, after=cuts[-1])
        if cut is None:
            cut = _nearest(frames.pts, target)
        if cuts[-1] < cut < end:
            cuts.append(cut)
        k += 1
    return cuts[1:]


def _spans(frames: Frames, cuts: list[int]) -> list[Span]:
    copy = frames.codec in REMUXABLE
    ends = [*cuts[1:], frames.end]
    return [
        Span(a, b, copy and a in frames.keys and (b == frames.end or b in frames.keys))
        for a, b in zip(cuts, ends, strict=True)
    ]


def _nearest(pts: list[int], target: Fraction) -> int:
    i = bisect.bisect_left(pts, target)
    return min(pts[max(0, i - 1) : i + 1], key=lambda p: abs(p - target))


def _nearest_key(keys: list[int], target: Fraction, slack: Fraction, *, after: int) -> int | None:
    i = bisect.bisect_left(keys, target)
    near = [k for k in keys[max(0, i - 1) : i + 1] if k > after and abs(k - target) <= slack]
    return min(near, key=lambda k: abs(k - target), default=None)
