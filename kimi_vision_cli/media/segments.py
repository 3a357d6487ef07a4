"""Cut a video into segments (`describe --segment`, issues 15 and 23), one at a time.

Where the cuts fall is media/cutplan.py (a fixed grid at keyframes) or, for
`--segment scenes`, the shots media/scenes.py finds. A `Cutter` then makes each segment
when it is asked for, in order, in one pass over the file: remuxable segments get the
packets copied, the others the decoded frames re-encoded to H.264 (turned upright:
media/rotation.py). A segment is handed out as soon as the pass has moved past it, so
a video is held once and only the segments asked for and not yet taken are held with
it, whatever its length (issue 23 saw 2.4 GB for 10 s of 4K when every part was kept).

Times are seconds from the first frame (the first keyframe, when the clip opens on
frames nothing can decode). Only the first video stream is kept: the API reads
pictures, as `downscale` already assumes. Each segment is an MP4 (H.264, or the
source's codec when remuxed); metadata stripping and --downscale-video then apply to
it like to any video. PyAV is imported late (STYLE rule 10).
"""

from __future__ import annotations

import bisect
import io
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from kimi_vision_cli.buffers import MediaBytes, ViewReader
from kimi_vision_cli.errors import InputError, KimiVisionError, UsageError
from kimi_vision_cli.media.cutplan import Frames, Span, plan, plan_scenes
from kimi_vision_cli.media.rotation import Upright, quarter_turns
from kimi_vision_cli.media.video import ffmpeg_errors

__all__ = ["Cutter", "Frames", "Segment", "Span", "cut", "plan", "plan_scenes"]

_INSTALL_HINT = "install the video extra: pip install 'kimi-vision[video]'"
_DAMAGED = "the file is damaged, or convert it to MP4 with ffmpeg first"


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the clip's first frame
    end: float
    data: MediaBytes  # the input itself when it is one segment
    mime: str
    reencoded: bool
    rotated: bool = False  # re-encoded with its pictures turned upright (media/rotation.py)


class Cutter:
    """One video's segments: planned when made (a demux pass, no decoding; scene
    detection for "scenes"), each cut when `take(i)` first needs it. Thread-safe: the
    parts of one video run on several workers, and ask in about the order they start.

    `every`: seconds, or "scenes" (parts between `bounds` seconds). `on_frame` counts
    frames re-encoded. Undecodable input is an InputError, here or from `take`."""

    def __init__(
        self,
        data: MediaBytes,
        every: float | Literal["scenes"],
        *,
        mime: str = "video/mp4",
        name: str | None = None,
        on_frame: Callable[[int], None] | None = None,
        bounds: tuple[float, float] = (2.0, 60.0),
    ):
        self.av, self.data, self.mime, self.name, self.on_frame = _av(name), data, mime, name, on_frame
        with ffmpeg_errors("cut video into segments", name, _DAMAGED):
            with ViewReader(data) as file, self.av.open(file, mode="r") as src:
                self.frames = _scan(src, name)
            if every == "scenes":
                from kimi_vision_cli.media.scenes import scene_starts

                self.spans = plan_scenes(self.frames, scene_starts(data, name=name), *bounds)
            else:
                self.spans = plan(self.frames, float(every))
        self.times = [(_seconds(self.frames, s.start), _seconds(self.frames, s.end)) for s in self.spans]
        self._lock = threading.Lock()
        self._ready: dict[int, Segment] = {}
        self._taken: set[int] = set()
        self._pass: Generator[tuple[int, bytes, bool]] | None = None
        self._failed: KimiVisionError | None = None
        self.on_cut: Callable[[int], None] | None = None  # each segment cut (a progress display)

    def __len__(self) -> int:
        return len(self.spans)

    def take(self, i: int) -> Segment:
        """Segment i, cut now if it was not yet; each is handed out once, then forgotten."""
        with self._lock:
            if i in self._taken:
                raise ValueError(f"segment {i} was already taken")
            while i not in self._ready:
                self._ready.update(self._next())
            self._taken.add(i)
            return self._ready.pop(i)

    def close(self) -> None:
        """Stop the pass (a failed or interrupted video): its files and encoders are freed."""
        with self._lock:
            if self._pass is not None:
                self._pass.close()
            self._ready.clear()

    def _next(self) -> dict[int, Segment]:
        if self._failed is not None:
            raise self._failed
        if len(self.spans) == 1:
            a, b = self.times[0]
            if self.on_cut:
                self.on_cut(0)
            return {0: Segment(a, b, self.data, self.mime, reencoded=False)}
        if self._pass is None:
            self._pass = _Pass(self).run()
        try:
            with ffmpeg_errors("cut video into segments", self.name, _DAMAGED):
                i, data, turned = next(self._pass)
        except KimiVisionError as err:
            self._failed = err
            raise
        a, b = self.times[i]
        if self.on_cut:
            self.on_cut(i)
        return {i: Segment(a, b, data, "video/mp4", reencoded=not self.spans[i].remux, rotated=turned)}


def cut(data: MediaBytes, every: float | Literal["scenes"], **kw: Any) -> list[Segment]:
    """Every segment at once (tests, small clips): `Cutter`'s arguments."""
    cutter = Cutter(data, every, **kw)
    return [cutter.take(i) for i in range(len(cutter))]


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


class _Pass:
    """The one pass over the file: packets of remuxable spans copied, frames of the others
    re-encoded; a span is yielded (index, bytes, turned upright) once both the packets and
    the decoded frames have moved past it, so at most a span or two are open at once."""

    def __init__(self, cutter: Cutter):
        self.c = cutter
        self.starts = [s.start for s in cutter.spans]
        self.open: dict[int, _Remux | _Encoder] = {}
        self.turned: set[int] = set()
        self.upright = Upright(cutter.av)
        self.frames = 0
        self.handed = 0  # spans before this one were handed out

    def run(self) -> Generator[tuple[int, bytes, bool]]:
        c = self.c
        decode = not all(s.remux for s in c.spans)
        packet_at = frame_at = 0  # the span the demuxer, and the decoder, have reached
        with ViewReader(c.data) as file, c.av.open(file, mode="r") as src:
            stream = src.streams.video[0]
            try:
                for packet in src.demux(stream):
                    if packet.pts is not None and packet.pts >= self.starts[0]:
                        packet_at = max(packet_at, self._index(packet.pts))
                    frames = packet.decode() if decode else []  # before the copy shifts its times
                    if packet.pts is not None:
                        self._copy(stream, packet)
                    for frame in frames:
                        if frame.pts is None or frame.pts < self.starts[0]:
                            continue
                        i = self._index(frame.pts)
                        frame_at = max(frame_at, i)
                        # The spans before this frame's are whole: closed before its encoder
                        # opens, so two 4K encoders are never held at once.
                        yield from self._finished(min(packet_at, frame_at))
                        if i >= self.handed:  # (a frame out of order, its span gone: dropped)
                            self._encode(stream, frame, i)
                    yield from self._finished(min(packet_at, frame_at) if decode else packet_at)
                yield from self._finished(len(c.spans))
            finally:
                for out in self.open.values():
                    out.abandon()

    def _index(self, pts: int) -> int:
        return max(0, bisect.bisect_right(self.starts, pts) - 1)

    def _copy(self, stream: Any, packet: Any) -> None:
        i = self._index(packet.pts)
        if packet.pts < self.starts[0] or not self.c.spans[i].remux:  # before the first keyframe: left out
            return
        if i not in self.open:
            self.open[i] = _Remux(self.c.av, stream)
        out = self.open[i]
        assert isinstance(out, _Remux)
        out.add(packet, self.c.spans[i].start)

    def _encode(self, stream: Any, frame: Any, i: int) -> None:
        if self.c.spans[i].remux:
            return
        if quarter_turns(frame.rotation):
            self.turned.add(i)
        frame = self.upright(frame)
        encoder = self.open.get(i) or _Encoder(self.c.av, stream, self.c.spans[i].start, frame)
        assert isinstance(encoder, _Encoder)
        self.open[i] = encoder
        encoder.add(frame)
        self.frames += 1
        if self.c.on_frame:
            self.c.on_frame(self.frames)

    def _finished(self, reached: int) -> Iterator[tuple[int, bytes, bool]]:
        """The spans before `reached`, in order: closed and handed out. A span the pass
        went past with nothing in it (no frame could be decoded) is one InputError line."""
        while self.handed < min(reached, len(self.c.spans)):
            i = self.handed
            out = self.open.pop(i, None)
            if out is None:
                a, b = self.c.times[i]
                raise InputError(f"no decodable frame in {a:.1f}–{b:.1f} s", input=self.c.name, hint=_DAMAGED)
            self.handed += 1
            yield i, out.close(), i in self.turned


class _Remux:
    """One remuxed span: its packets copied into an MP4, times shifted to 0."""

    def __init__(self, av: Any, source: Any):
        self.buf = io.BytesIO()
        self.dst = av.open(self.buf, mode="w", format="mp4")
        self.stream = self.dst.add_stream_from_template(source)

    def add(self, packet: Any, shift: int) -> None:
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self.stream
        self.dst.mux(packet)

    def close(self) -> bytes:
        self.dst.close()
        return self.buf.getvalue()

    def abandon(self) -> None:
        self.dst.close()


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
        # zerolatency: no lookahead, no B-frames. x264's default keeps a few dozen frames
        # in flight, 630 MB at 4K against 215 MB so (one ad hoc run; issue 23 asked < 400 MB).
        self.stream.options = {"preset": "veryfast", "crf": "23", "tune": "zerolatency"}
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

    def abandon(self) -> None:
        self.dst.close()

    def _mux(self, packets: Iterator[Any]) -> None:
        for packet in packets:
            self.dst.mux(packet)
