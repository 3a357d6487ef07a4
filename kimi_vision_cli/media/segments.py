"""Cut a video into consecutive segments of about N seconds (`describe --segment`, issue 15).

The ideal cuts lie on a fixed grid, k x N from the first frame (issue 23). Each goes to
the nearest keyframe within a quarter of N: those segments are remuxed, packets copied,
nothing decoded. A segment that would have to start (or end) between keyframes is
decoded and re-encoded to H.264, so it starts on a keyframe of its own. Every cut is a
frame's presentation time: segment i ends where i+1 starts, the first starts at 0 and
the last ends with the clip, so the segments cover the clip with no gap and no overlap.
A tail shorter than half of N joins the segment before it.

Times are seconds from the first frame. Only the first video stream is kept: the API
reads pictures, as `downscale` already assumes. Each segment is an MP4 (H.264, or the
source's codec when remuxed); metadata stripping and --downscale-video then apply to
it like to any video. PyAV is imported late (STYLE rule 10).
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kimi_vision_cli.errors import InputError, UsageError
from kimi_vision_cli.media.buffers import MediaBytes, ViewReader
from kimi_vision_cli.media.rotation import Upright, quarter_turns
from kimi_vision_cli.media.video import ffmpeg_errors

_INSTALL_HINT = "install the video extra: pip install 'kimi-vision[video]'"
# Codecs an MP4 holds as they are; any other (VP8, WMV, FLV1...) is re-encoded.
_REMUXABLE = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
_DAMAGED = "the file is damaged, or convert it to MP4 with ffmpeg first"
_SLACK = 0.25  # a cut may move this fraction of N to reach a keyframe


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the clip's first frame
    end: float
    data: MediaBytes  # the input itself when it is one segment
    mime: str
    reencoded: bool
    rotated: bool = False  # re-encoded with its pictures turned upright (media/rotation.py)


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
    keys = sorted(frames.keys) if frames.codec in _REMUXABLE else []  # re-encoded anyway: cut where asked
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
    copy = frames.codec in _REMUXABLE
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


def cut(
    data: MediaBytes,
    every: float | str,
    *,
    mime: str = "video/mp4",
    name: str | None = None,
    on_frame: Callable[[int], None] | None = None,
    bounds: tuple[float, float] = (2.0, 60.0),
) -> list[Segment]:
    """The segments of about `every` seconds, or each shot (`every` "scenes", its parts
    between `bounds` seconds); a clip no longer than one comes back whole.

    `on_frame` counts frames re-encoded (a progress bar); undecodable input is an InputError.
    """
    av = _av(name)
    with ffmpeg_errors("cut video into segments", name, _DAMAGED):
        with ViewReader(data) as file, av.open(file, mode="r") as src:
            frames = _scan(src, name)
        if every == "scenes":
            from kimi_vision_cli.media.scenes import scene_starts

            spans = plan_scenes(frames, scene_starts(data, name=name), *bounds)
        else:
            spans = plan(frames, float(every))
        if len(spans) == 1:
            return [Segment(0.0, _seconds(frames, frames.end), data, mime, reencoded=False)]
        out: dict[int, bytes] = {}
        turned: set[int] = set()
        if any(s.remux for s in spans):
            with ViewReader(data) as file, av.open(file, mode="r") as src:
                out.update(_remux(av, src, spans))
        if not all(s.remux for s in spans):
            with ViewReader(data) as file, av.open(file, mode="r") as src:
                out.update(_reencode(av, src, spans, on_frame, turned))
        missing = next((s for i, s in enumerate(spans) if i not in out), None)
        if missing is not None:  # no frame of it could be decoded: one line, not a KeyError
            at = f"{_seconds(frames, missing.start):.1f}–{_seconds(frames, missing.end):.1f} s"
            raise InputError(f"no decodable frame in {at}", input=name, hint=_DAMAGED)
        times = [(_seconds(frames, s.start), _seconds(frames, s.end)) for s in spans]
        return [
            Segment(a, b, out[i], "video/mp4", reencoded=not s.remux, rotated=i in turned)
            for i, ((a, b), s) in enumerate(zip(times, spans, strict=True))
        ]


def _av(name: str | None) -> Any:
    try:
        import av
    except ImportError:
        raise UsageError("--segment needs PyAV", input=name, hint=_INSTALL_HINT) from None
    return av


def _seconds(frames: Frames, ticks: int) -> float:
    return float((ticks - frames.pts[0]) * frames.time_base)


def _scan(src: Any, name: str | None) -> Frames:
    if not src.streams.video:
        raise InputError("no video stream in the file", input=name, hint="--segment cuts videos")
    stream = src.streams.video[0]
    pts: list[int] = []
    keys: set[int] = set()
    end = 0
    for packet in src.demux(stream):
        if packet.pts is None:
            continue  # the flush packet, or a frame with no time (cannot be placed)
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.add(packet.pts)
        end = max(end, packet.pts + (packet.duration or 0))
    if keys and min(keys) > min(pts, default=0):
        # A clip cut from a longer one may open on frames that refer to a keyframe it
        # lacks (issue 23): nothing can decode them, so the clip starts at its first keyframe.
        pts = [p for p in pts if p >= min(keys)]
    if not pts:
        raise InputError("video has no frames", input=name, hint="check the file")
    pts.sort()
    if end <= pts[-1]:  # no packet durations: one frame at the average rate
        rate = stream.average_rate or stream.guessed_rate or 25
        end = pts[-1] + max(1, int(1 / (Fraction(rate) * stream.time_base)))
    return Frames(pts, keys, end, Fraction(stream.time_base), stream.codec_context.name)


def _index(starts: list[int], pts: int) -> int:
    """The span holding `pts`, by the spans' start times (built once per pass, not per packet)."""
    return max(0, bisect.bisect_right(starts, pts) - 1)


def _remux(av: Any, src: Any, spans: list[Span]) -> dict[int, bytes]:
    """Copy the packets of each remuxable span into its own MP4, times shifted to 0."""
    stream = src.streams.video[0]
    outputs: dict[int, tuple[io.BytesIO, Any, Any]] = {}
    starts = [s.start for s in spans]
    try:
        for packet in src.demux(stream):
            if packet.pts is None:
                continue
            i = _index(starts, packet.pts)
            if packet.pts < starts[0] or not spans[i].remux:  # before the first keyframe: left out
                continue
            if i not in outputs:
                buf = io.BytesIO()
                dst = av.open(buf, mode="w", format="mp4")
                outputs[i] = buf, dst, dst.add_stream_from_template(stream)
            _buf, dst, out_stream = outputs[i]
            shift = spans[i].start
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = out_stream
            dst.mux(packet)
    finally:
        for _buf, dst, _s in outputs.values():
            dst.close()
    return {i: buf.getvalue() for i, (buf, _d, _s) in outputs.items()}


class _Encoder:
    """One re-encoded span: H.264 in MP4, keeping the source's frame times. Frames come
    in upright (a display matrix does not carry over to the new stream: issue 23)."""

    def __init__(self, av: Any, source: Any, shift: int, first: Any):
        self.buf = io.BytesIO()
        self.dst = av.open(self.buf, mode="w", format="mp4")
        rate = source.average_rate or source.guessed_rate or 25
        self.stream = self.dst.add_stream("libx264", rate=rate)
        self.size = max(2, first.width // 2 * 2), max(2, first.height // 2 * 2)  # 4:2:0: even sides
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = source.time_base
        self.stream.codec_context.time_base = source.time_base
        self.stream.options = {"preset": "veryfast", "crf": "23"}
        self.shift = shift

    def add(self, frame: Any) -> None:
        out = frame.reformat(width=self.size[0], height=self.size[1], format="yuv420p")
        out.pts = frame.pts - self.shift
        out.time_base = self.stream.codec_context.time_base
        out.pict_type = 0  # let the encoder choose: the source's I/P/B marks do not carry over
        self._mux(self.stream.encode(out))

    def close(self) -> bytes:
        self._mux(self.stream.encode())
        self.dst.close()
        return self.buf.getvalue()

    def _mux(self, packets: Iterator[Any]) -> None:
        for packet in packets:
            self.dst.mux(packet)


def _reencode(
    av: Any, src: Any, spans: list[Span], on_frame: Callable[[int], None] | None, turned: set[int]
) -> dict[int, bytes]:
    """Decode once; each frame of a span that cannot be copied goes to that span's encoder.
    `turned` gets the spans whose pictures were turned upright."""
    stream = src.streams.video[0]
    encoders: dict[int, _Encoder] = {}
    done: dict[int, bytes] = {}
    count = 0
    upright = Upright(av)
    starts = [s.start for s in spans]
    for frame in src.decode(stream):
        if frame.pts is None:
            continue
        i = _index(starts, frame.pts)
        if frame.pts < starts[0] or spans[i].remux:
            continue
        if quarter_turns(frame.rotation):
            turned.add(i)
        frame = upright(frame)
        if i not in encoders:
            encoders[i] = _Encoder(av, stream, spans[i].start, frame)
        encoders[i].add(frame)
        count += 1
        if on_frame:
            on_frame(count)
    for i, encoder in encoders.items():
        done[i] = encoder.close()
    return done
