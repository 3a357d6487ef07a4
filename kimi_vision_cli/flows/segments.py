"""`describe --segment DURATION` (issue 15): one video, one request per segment.

The input is read and cut (media/segments.py) on a worker; each segment then goes as
its own request, run by the scheduler under -j like a separate input (`Split`):
prepared like any video (metadata stripped, --downscale-video, uploaded when large),
planned with the segment's prompt, sent. When every segment has answered, `join`
folds them into the input's one Result: `segments` [{start, end, text, usage}], the
joined text, summed usage. A failed segment fails the input (its sidecar is not
written, so a rerun resumes it) and the segments not yet sent are not sent.
estimate and --dry-run take the same per-segment plans (`segment_plans`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from kimi_vision_cli.errors import KimiVisionError, UsageError
from kimi_vision_cli.flows.upload import upload_pending
from kimi_vision_cli.media.segments import Cutter, Segment
from kimi_vision_cli.media.sniff import sniff
from kimi_vision_cli.moonshot import sum_usage
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.subtitles import clock, span_label
from kimi_vision_cli.plan import DEFAULT_PROMPTS, Planned, Prepared, check_settings, plan
from kimi_vision_cli.runner.context import Context, PartsBar
from kimi_vision_cli.runner.jobs import Split
from kimi_vision_cli.runner.prepare import load_bytes
from kimi_vision_cli.runner.send import send_checked
from kimi_vision_cli.schema import answer_caption
from kimi_vision_cli.types import MediaRef, Source

SEGMENT_PROMPT = (
    "This video is part {n} of {total} of a longer video, from {start} to {end}. "
    "Describe the content of this part."
)


def segment_prompt(start: float, end: float, index: int, total: int) -> str:
    """The default prompt of one segment: -p/--prompt replaces it, for every segment.
    A video no longer than one segment is sent whole, with a video's own default prompt."""
    if total == 1:
        return DEFAULT_PROMPTS["video"]
    # format_map, not .format: a string template, which the layer check must not take for --format
    return SEGMENT_PROMPT.format_map(
        {"n": index + 1, "total": total, "start": clock(start), "end": clock(end)}
    )


def cut_source(source: Source, ctx: Context) -> Cutter:
    """Read one input and plan its cuts (each segment is cut when taken); an image, an
    ms:// id or a model without video is refused."""
    name = source.display
    seconds = ctx.settings.media.segment
    assert seconds is not None
    try:
        if source.kind == "file_id":
            raise UsageError(
                "--segment cannot cut an uploaded file (ms://)", hint="pass the video file itself"
            )
        check_settings(ctx.settings, ["video"])  # before any cutting: the model must take video
        data = load_bytes(source, ctx)
        info = sniff(data, convert=False, name=name)
        if info.kind != "video":
            raise UsageError("--segment cuts videos, this is an image", hint="drop --segment for images")
        from kimi_vision_cli.media.segments import Cutter

        bounds = ctx.settings.media.min_segment, ctx.settings.media.max_segment
        return Cutter(data, seconds, mime=info.mime, name=name, bounds=bounds)
    except KimiVisionError as err:
        raise err.with_input(name) from None


def label(name: str, start: float, end: float) -> str:
    """A part's name in messages and records: the video's name and the part's span."""
    return f"{name} {span_label(start, end)}"


class WarnOnce:
    """A video's warnings, each said once for the video: its parts share its size, so
    "over the recommended size" came once per part (five lines for five). The parts are
    prepared with the video's name for their warnings (`prepare_video(part_of=...)`),
    so the same warning is the same text."""

    def __init__(self, warn: Callable[[str], None]):
        self._warn = warn
        self._said: set[str] = set()
        self._lock = threading.Lock()  # parts are prepared on several workers (-j)

    def __call__(self, text: str) -> None:
        with self._lock:
            if text in self._said:
                return
            self._said.add(text)
        self._warn(text)


def _prepare(
    seg: Segment, ctx: Context, video: str, part: str, warn: Callable[[str], None]
) -> tuple[bytes | bytearray, dict[str, Any]]:
    """A segment prepared as runner/prepare.py prepares any video (stripped, --downscale-video):
    errors and the bar name the `part`, a size warning the `video`."""
    from kimi_vision_cli.media.video import prepare_video

    s = ctx.settings
    data, record = prepare_video(
        seg.data, seg.mime, resize=s.resize, downscale_wanted=s.media.downscale_video, warn=warn,
        keep_metadata=s.media.keep_metadata, bar=ctx.frame_bar,
        name=part, part_of=video,
    )  # fmt: skip
    record["rotated"] = record["rotated"] or seg.rotated  # turned upright when it was cut
    return data, record


def plan_segment(
    name: str,
    seg: Segment,
    index: int,
    total: int,
    ctx: Context,
    *,
    batch: bool = False,
    once: WarnOnce | None = None,
) -> Planned:
    """One segment's request, decided (nothing uploaded or sent). Errors name the segment.
    `batch`: a Batch API line (not streamed, media inline). `once`: the video's warnings."""
    text = label(name, seg.start, seg.end)
    try:
        data, record = _prepare(seg, ctx, name, text, once or WarnOnce(ctx.diag.warn))
        prepared = Prepared(text, MediaRef("video", str(record["mime"]), data=data), record)
        prompt = ctx.settings.request.prompt or segment_prompt(seg.start, seg.end, index, total)
        return plan([prepared], prompt, ctx.settings, label=text, stream=not batch, can_upload=not batch)
    except KimiVisionError as err:
        raise err.with_input(text) from None


def segments_of(source: Source, ctx: Context, *, batch: bool = False) -> Iterator[tuple[Segment, Planned]]:
    """Each segment of a video and its request, in order, each cut as it comes (the
    cutter closed however the walk ends); a part that cannot be cut names the video."""
    cutter = cut_source(source, ctx)
    once = WarnOnce(ctx.diag.warn)
    try:
        for i in range(len(cutter)):
            try:
                seg = cutter.take(i)
            except KimiVisionError as err:
                raise err.with_input(source.display) from None
            yield seg, plan_segment(source.display, seg, i, len(cutter), ctx, batch=batch, once=once)
    finally:
        cutter.close()


def segment_plans(source: Source, ctx: Context) -> Iterator[Planned]:
    """--dry-run and estimate: each segment's request."""
    return (planned for _seg, planned in segments_of(source, ctx))


def _send_segment(
    name: str, cutter: Cutter, index: int, ctx: Context, bar: PartsBar | None, once: WarnOnce
) -> Result:
    """Cut segment `index` (if the pass has not yet), then prepare, upload and send it;
    its bytes are freed when this returns (issue 23: memory bounded by -j, not the clip)."""
    result = Result(input=label(name, *cutter.times[index]), model=ctx.settings.request.model)
    try:
        seg = cutter.take(index)
        if bar:
            bar.add("sent")
        planned = plan_segment(name, seg, index, len(cutter), ctx, once=once)
        result.media = planned.records
        planned = upload_pending(planned, ctx)
        result.media = planned.records
        send_checked(ctx, planned, result)  # never live: segments answer out of order under -j
    except KimiVisionError as err:
        result.error = err.with_input(result.input)
    return result


def split(source: Source, ctx: Context) -> Split:
    """The requests of one segmented input, and how their answers make its Result.
    A failure to read or cut raises (the input fails before any request)."""
    name = source.display
    cutter = cut_source(source, ctx)
    bar = ctx.parts_bar(name, len(cutter)) if ctx.parts_bar is not None else None  # a terminal's
    if bar:
        cutter.on_cut = lambda _i: bar.add("cut")
    once = WarnOnce(ctx.diag.warn)

    def part(i: int) -> Callable[[], Result]:
        def run() -> Result:
            result = _send_segment(name, cutter, i, ctx, bar, once)
            if bar and result.error is None:
                bar.add("answered")
            return result

        return run

    def join(results: list[Result | None]) -> Result:
        if bar:
            bar.close()
        cutter.close()  # a failed or stopped video: the pass ends, its encoders are freed
        return joined(name, ctx.settings.request.model, cutter.times, results)

    return Split([part(i) for i in range(len(cutter))], join)


def joined(name: str, model: str, times: list[tuple[float, float]], results: list[Result | None]) -> Result:
    """The input's Result from its segments': the first failure fails it."""
    out = Result(input=name, model=model)
    done = [r for r in results if r is not None]
    failed = next((r for r in done if r.error is not None), None)
    out.media = [m for r in done for m in r.media]
    out.structured = any(r.structured for r in done)  # --schema: each part's `data`, none on top
    if failed is not None:
        out.error, out.segments = failed.error, []
        return out
    out.segments = [
        {"start": start, "end": end, "text": r.text, "usage": r.usage, "data": r.data}
        for (start, end), r in zip(times, done, strict=True)
    ]
    out.text = "\n\n".join(answer_caption(r.text, r.data).strip() for r in done)
    out.reasoning = "\n\n".join(r.reasoning.strip() for r in done if r.reasoning)
    out.finish_reason = done[-1].finish_reason
    out.usage = sum_usage([r.usage for r in done])
    return out
