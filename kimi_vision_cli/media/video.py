"""Videos: probe with PyAV (resolution, duration, codec) and, on request, downscale.

Moonshot recommends videos of at most 2048x1080; bigger ones are sent as they are
with a warning, or transcoded to fit (H.264 in MP4) with `--downscale-video`.
PyAV is the optional `video` extra and is imported late (STYLE rule 10).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.buffers import MediaBytes, ViewReader
from kimi_vision_cli.errors import InputError, KimiVisionError, UsageError, quote_name
from kimi_vision_cli.media.rotation import Upright, quarter_turns, upright_size
from kimi_vision_cli.media.videometa import BMFF_MIMES, strip_bmff_metadata
from kimi_vision_cli.moonshot import VIDEO_RECOMMENDED

RECOMMENDED = VIDEO_RECOMMENDED  # landscape
_INSTALL_HINT = "install the video extra: pip install 'kimi-vision[video]'"

# (label, total frames or None) -> a context giving the per-frame callback
FrameBar = Callable[[str, "int | None"], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration: float | None  # seconds
    codec: str
    frames: int | None
    rotation: int = 0  # counterclockwise quarter turn of the display matrix (media/rotation.py)


def _av() -> Any:
    try:
        import av
    except ImportError:
        return None
    return av


def available() -> bool:
    return _av() is not None


def bound_for(width: int, height: int, bound: tuple[int, int] = RECOMMENDED) -> tuple[int, int]:
    """The bound in the video's own orientation (a portrait clip fits 1080x2048)."""
    big, small = max(bound), min(bound)
    return (big, small) if width >= height else (small, big)


def fits(width: int, height: int, bound: tuple[int, int] = RECOMMENDED) -> bool:
    bw, bh = bound_for(width, height, bound)
    return width <= bw and height <= bh


def fit_size(width: int, height: int, bound: tuple[int, int] = RECOMMENDED) -> tuple[int, int]:
    """Largest even size (H.264 with 4:2:0 needs even sides) inside the bound, same aspect."""
    bw, bh = bound_for(width, height, bound)
    scale = min(bw / width, bh / height, 1.0)
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


@contextmanager
def ffmpeg_errors(doing: str, name: str | None, hint: str) -> Iterator[None]:
    """PyAV raises av.error.* (FFmpeg's errors) and others for broken files: each is an
    InputError naming the input; our own typed errors pass through."""
    try:
        yield
    except KimiVisionError:
        raise
    except Exception as exc:
        raise InputError(
            f"cannot {doing} ({type(exc).__name__}: {exc})".replace("\n", " "), input=name, hint=hint
        ) from None


def probe(data: MediaBytes, name: str | None = None) -> VideoInfo:
    """Open the container and decode one frame; an undecodable video is an InputError.
    PyAV reads `data` through a view: io.BytesIO would copy a bytearray."""
    av = _av()
    if av is None:
        raise UsageError("cannot probe videos without PyAV", input=name, hint=_INSTALL_HINT)
    with (
        ffmpeg_errors("decode video", name, "the file is damaged or not a video FFmpeg can read"),
        ViewReader(data) as file,
        av.open(file, mode="r") as container,
    ):
        if not container.streams.video:
            raise InputError("no video stream in the file", input=name, hint="pass a video file")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        duration: float | None = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        width, height = stream.codec_context.width, stream.codec_context.height
        frame = next(container.decode(stream), None)
        if frame is None:
            raise InputError("video has no decodable frame", input=name, hint="check the file")
        width, height = width or frame.width, height or frame.height
        turn = quarter_turns(frame.rotation)
        return VideoInfo(width, height, duration, codec, stream.frames or None, turn)


def downscale(
    data: MediaBytes,
    info: VideoInfo,
    size: tuple[int, int],
    *,
    on_frame: Callable[[int], None] | None = None,
    name: str | None = None,
) -> bytes:
    """Transcode to H.264 MP4 at `size`, the pictures turned upright (a display matrix does
    not carry over: issue 23). The audio track is not kept (the API reads pictures)."""
    av = _av()
    if av is None:
        raise UsageError("--downscale-video needs PyAV", input=name, hint=_INSTALL_HINT)
    out = io.BytesIO()
    try:
        with (
            ViewReader(data) as file,
            av.open(file, mode="r") as src,
            av.open(out, mode="w", format="mp4") as dst,
        ):
            in_stream = src.streams.video[0]
            rate = in_stream.average_rate or in_stream.guessed_rate or 25
            stream = dst.add_stream("libx264", rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            # The source's own frame times: with pts=None the encoder counted frames in
            # 1/rate but the muxer read them as ticks of 1/10240, so a 3 s clip came out
            # 0.1 s long (issue 15 saw it in the loopback server's probe).
            stream.codec_context.time_base = in_stream.time_base
            upright = Upright(av)
            for done, frame in enumerate(src.decode(in_stream), 1):
                small = upright(frame).reformat(width=size[0], height=size[1], format="yuv420p")
                small.pict_type = 0  # the encoder places its own keyframes
                for packet in stream.encode(small):
                    dst.mux(packet)
                if on_frame:
                    on_frame(done)
            for packet in stream.encode():
                dst.mux(packet)
    except Exception as exc:
        raise InputError(
            f"cannot transcode video ({type(exc).__name__}: {exc})".replace("\n", " "),
            input=name,
            hint="send it as it is (drop --downscale-video) or convert it with ffmpeg",
        ) from None
    return out.getvalue()


def _strip(data: MediaBytes, mime: str, record: dict[str, Any]) -> MediaBytes:
    """The video without its metadata (what was removed listed in the record); the same
    length: boxes blanked, elements voided in place."""
    if mime in BMFF_MIMES:
        data, record["stripped"] = strip_bmff_metadata(data)
    elif mime == "video/webm":
        from kimi_vision_cli.media.webmmeta import strip_webm_metadata

        data, record["stripped"] = strip_webm_metadata(data)
    record["bytes"] = len(data)
    return data


def prepare_video(
    data: MediaBytes,
    mime: str,
    *,
    resize: bool,
    downscale_wanted: bool,
    warn: Callable[[str], None],
    keep_metadata: bool = False,
    bar: FrameBar | None = None,
    name: str | None = None,
    part_of: str | None = None,
) -> tuple[MediaBytes, dict[str, Any]]:
    """Strip metadata, probe, warn when over the recommendation, and downscale when asked.

    Returns the bytes to send and the media record (SPEC.md "Output", `media`).
    `bar`: opens a frame-count progress display (progress.frame_bar), given only when
    stderr is a terminal. `part_of`: the video this is one segment of (`name` is then the
    part's label, which errors and the bar show): the size warning names the video, whose
    parts all share its size.
    """
    record: dict[str, Any] = {
        "mime": mime, "width": None, "height": None, "original_width": None,
        "original_height": None, "bytes": len(data), "original_bytes": len(data),
        "original_mime": mime, "resized": False, "rotated": False, "converted": False,
        "stripped": [], "duration": None, "codec": None,
    }  # fmt: skip
    if not keep_metadata:
        data = _strip(data, mime, record)
    if not available():
        if downscale_wanted and resize:
            raise UsageError("--downscale-video needs PyAV", input=name, hint=_INSTALL_HINT)
        return data, record  # probing is a nicety; sending works without it
    info = probe(data, name)
    width, height = upright_size(info.width, info.height, info.rotation)  # as displayed
    record.update(
        width=width, height=height, original_width=width, original_height=height,
        duration=info.duration, codec=info.codec,
    )  # fmt: skip
    if fits(width, height):
        return data, record
    bw, bh = bound_for(width, height)
    if not downscale_wanted or not resize:
        warn(
            f"{quote_name(part_of or name or 'video')}: video is {width}x{height}, over Moonshot's recommended {bw}x{bh}"
            + (" — pass --downscale-video to transcode it to fit" if resize else " (--no-resize: sent as is)")
        )
        return data, record
    size = fit_size(width, height)
    if bar is None:
        small = downscale(data, info, size, name=name)
    else:
        with bar(f"downscaling {name}", info.frames) as on_frame:
            small = downscale(data, info, size, on_frame=on_frame, name=name)
    record.update(
        mime="video/mp4", width=size[0], height=size[1], bytes=len(small), resized=True,
        converted=mime != "video/mp4", codec="h264", rotated=info.rotation != 0,
    )  # fmt: skip
    return small, record
