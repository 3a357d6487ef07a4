"""`describe`: one request per input. Which inputs this run takes (--shard, and
--on-exists skip for a resumed run), each input planned (prepare -> plan), and each
sent (upload what the plan says -> stream). The scheduler (scheduler.py) runs many at
once; --dry-run takes the plans (`plans`) and sends nothing."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from kimi_vision_cli import events as ev
from kimi_vision_cli.errors import KimiVisionError, Tally, UsageError
from kimi_vision_cli.flows.upload import upload_pending
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.writers import Writers
from kimi_vision_cli.plan import Planned, plan
from kimi_vision_cli.runner.admission import Admission
from kimi_vision_cli.runner.ahead import Ahead, prepare_ready
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.jobs import Split
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.runner.scheduler import Scheduler
from kimi_vision_cli.types import Source


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`, K 1-based: this machine takes the inputs whose path hashes to K."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise UsageError(f"--shard {text!r} is not K/N", hint="e.g. --shard 1/3 (K counts from 1)")
        k, n = int(m.group(1)), int(m.group(2))
        if n < 1 or not 1 <= k <= n:
            raise UsageError(
                f"--shard {text!r}: K must be between 1 and N", hint="e.g. --shard 1/3 ... --shard 3/3"
            )
        return cls(k, n)

    def owns(self, source: Source) -> bool:
        # sha1 of the input as given: the same on every machine and every Python
        # (hash() is salted per process).
        digest = hashlib.sha1(source.value.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


@dataclass(frozen=True)
class BatchOptions:
    writers: Writers = field(default_factory=Writers)  # sidecar and manifest row; --on-exists
    shard: Shard | None = None


def selected(sources: Iterable[Source], options: BatchOptions) -> Iterator[tuple[Source, bool]]:
    """The inputs of this shard, each with whether it is skipped (its outputs exist). An
    input the manifest cannot name (--files-from: not checked up front) fails unsent."""
    writers = options.writers
    seen: set[tuple[str, str]] = set()
    for source in sources:
        if options.shard is None or options.shard.owns(source):
            err = writers.rejects(source)
            if err is not None:
                source = replace(source, error=err)
            # The same input twice with outputs to write: the second is skipped, as on a
            # rerun; decided here, since its first may not be written yet (it is being
            # prepared ahead or sent) and the same caption must not be paid for twice.
            key = (source.kind, source.value)
            again = bool(writers) and source.kind != "stdin" and key in seen
            if writers:
                seen.add(key)
            yield source, again or writers.done(source)


def plan_one(source: Source, ctx: Context) -> Planned:
    """One input's request, decided (nothing uploaded or sent). Errors name the input."""
    prepared = prepare_source(source, ctx)
    try:
        return plan([prepared], None, ctx.settings, label=source.display)
    except KimiVisionError as err:
        raise err.with_input(source.display) from None


def describe_one(
    source: Source,
    ctx: Context,
    live: ev.Sink | None,
    admission: Admission | None = None,
    ahead: Ahead | None = None,
) -> Result | Split:
    """Plan, upload and send one input; a failure is the Result's error. With --segment,
    the Split of its segments' requests (flows/segments.py). `admission`: the run's
    preparation slots and byte budget (runner/admission.py); `ahead`: the run's pool
    that prepared the input before it was taken (runner/ahead.py)."""
    admission = admission or Admission(
        ctx.settings.run.concurrency, ctx.settings.run.max_memory, ctx.host.cores
    )
    result = Result(input=source.display, model=ctx.settings.request.model)
    if ctx.settings.media.segment is not None:
        from kimi_vision_cli.flows import segments  # --segment only: video cutting, sending

        try:
            with admission.preparing():  # cutting the video is CPU work too
                return segments.split(source, ctx)
        except KimiVisionError as err:
            result.error, result.segments = err.with_input(result.input), []
            return result
    ready = (ahead.take(source) if ahead is not None else None) or prepare_ready(source, ctx, admission)
    result.media = ready.media
    if ready.planned is None:
        assert ready.error is not None
        result.error = ready.error
        return result
    try:
        planned = upload_pending(ready.planned, ctx)
        result.media = planned.records
        if live:
            live.emit(ev.Started(result.input))
        # The HTTP transport is imported by the first request, after the first input is
        # prepared (issue 12, item 4); --dry-run never imports it.
        from kimi_vision_cli.runner.send import send_checked

        send_checked(ctx, planned, result, live)
    except KimiVisionError as err:
        result.error = err.with_input(result.input)
    finally:
        admission.memory.release(ready.held)
    return result


def plans(sources: Iterable[Source], ctx: Context, options: BatchOptions, tally: Tally) -> Iterator[Planned]:
    """--dry-run: each selected input's request, in order. Failures go to the tally."""
    for source, skip in selected(sources, options):
        if skip:
            tally.skip()
            continue
        try:
            if ctx.settings.media.segment is not None:
                from kimi_vision_cli.flows import segments  # --segment only: video cutting, sending

                planned = list(segments.segment_plans(source, ctx))
            else:
                planned = [plan_one(source, ctx)]
        except KimiVisionError as err:
            if tally.error(err.with_input(source.display)):
                return
            continue
        tally.ok()
        yield from planned


def run(
    sources: Iterable[Source],
    ctx: Context,
    sink: ev.Sink,
    *,
    multi: bool,
    options: BatchOptions | None = None,
    cancel: threading.Event | None = None,
) -> Tally:
    """Describe every selected input, a few at a time, emitting the run's events to
    `sink` (events.py: each input's record comes as `Finished`); the tally of the run."""
    options = options or BatchOptions()
    admission = Admission(ctx.settings.run.concurrency, ctx.settings.run.max_memory, ctx.host.cores)
    ahead: Ahead | None = None

    def work(source: Source, live: ev.Sink | None) -> Result | Split:
        return describe_one(source, ctx, live, admission, ahead)

    scheduler = Scheduler(ctx, sink, work, multi=multi, writers=options.writers, cancel=cancel)
    pairs = selected(sources, options)
    if ctx.settings.media.segment is None:  # --segment cuts each video in its worker (flows/segments.py)
        ahead = Ahead(ctx, admission, stopping=lambda: scheduler.stopping)
        pairs = ahead.pairs(pairs)
    try:
        return scheduler.run(pairs)
    finally:
        if ahead is not None:
            ahead.close()
