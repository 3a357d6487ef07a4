"""`batch submit | status | results | cancel`: Moonshot's Batch API for very large jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from kimi_vision_cli.cli.app import STATE, HelpGroup, app
from kimi_vision_cli.cli.params import command, context_for, sources_for, walk_of
from kimi_vision_cli.errors import ExitCode, InputError, KimiVisionError, OutputError, Tally, UsageError
from kimi_vision_cli.output.listing import BATCHES, SUBMITTED, ListingWriter
from kimi_vision_cli.output.records import Submitted
from kimi_vision_cli.settings import Settings

batch_app = typer.Typer(
    cls=HelpGroup,
    help="Moonshot's Batch API: submit a large captioning job, poll it, fetch the results.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")


@dataclass(frozen=True)
class SubmitArgs:
    inputs: list[str]
    recursive: bool
    hidden: bool
    exclude: list[str] | None
    files_from: Path | None
    files_from0: Path | None
    window: str


@command(batch_app, "batch submit", SubmitArgs)
def submit(s: Settings, a: SubmitArgs) -> int:
    """Build one request per input (like describe), upload them as a batch, print the batch id(s)."""
    from kimi_vision_cli.flows import batch as batch_api

    batch_api.check_window(a.window)
    ctx = context_for(s)
    sources = sources_for(a.inputs, a.recursive, a.files_from, a.files_from0, walk_of(a.hidden, a.exclude))
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    out = Submitted()
    tally = Tally(report=ctx.diag.error)
    try:
        batch_api.submit(sources, ctx, a.window, out, tally)
    except BaseException:
        # Batches already created run (and bill) whatever happens next: never lose their ids.
        if out.batch_ids:
            _write_ids("text", out)  # as text whatever --format: the one thing to keep
            ctx.diag.warn(
                f"{len(out.batch_ids)} batch(es) were created before the failure (ids on stdout); "
                "a rerun would submit their inputs again"
            )
        raise
    _write_ids(s.format, out)
    if not out.batch_ids:
        ctx.diag.warn("nothing was submitted: every input failed")
        tally.fold(ExitCode.BAD_INPUT)
    else:
        ctx.diag.note(
            f"{_count(out.requests, 'request')} in {_count(len(out.batch_ids), 'batch')}; "
            f"check with `kimi-vision batch status ID`, fetch with `kimi-vision batch results ID`"
        )
    return int(tally.exit_code)


def _write_ids(fmt: str, out: Submitted) -> None:
    writer = ListingWriter(SUBMITTED, fmt, STATE.term)
    for batch_id in out.batch_ids:
        writer.row(batch_id)
    writer.close(document=lambda _ids: out.to_dict())


def _each_batch(s: Settings, batch_ids: list[str], action: Callable[[str, Any], dict[str, Any]]) -> int:
    """Run `action` on each id and show the batch; an unknown id is reported and the
    rest still go (exit code: the most serious met). Auth and quota errors stop at once."""
    ctx = context_for(s, model=False)
    writer = ListingWriter(BATCHES, s.format, STATE.term, ctx.diag)
    tally = Tally(report=ctx.diag.error)
    for batch_id in batch_ids:
        try:
            writer.row(action(batch_id, ctx))
        except InputError as err:  # an unknown id; auth and quota errors end the run at the boundary
            tally.error(err)
    writer.close()
    return int(tally.exit_code)


@dataclass(frozen=True)
class BatchIds:
    batch_ids: list[str]


@command(batch_app, "batch status", BatchIds)
def status(s: Settings, a: BatchIds) -> int:
    """Print each batch's state and request counts (tab-separated; --format json for objects)."""
    from kimi_vision_cli.flows import batch as batch_api

    return _each_batch(s, a.batch_ids, batch_api.status)


@command(batch_app, "batch cancel", BatchIds)
def cancel(s: Settings, a: BatchIds) -> int:
    """Ask Moonshot to cancel batches; prints their new state."""
    from kimi_vision_cli.flows import batch as batch_api

    return _each_batch(s, a.batch_ids, batch_api.cancel)


@dataclass(frozen=True)
class ResultsArgs:
    batch_ids: list[str]
    wait: bool
    sidecar: str | None
    output_dir: Path | None
    manifest: Path | None
    on_exists: str
    embed: bool
    touch: bool


@command(batch_app, "batch results", ResultsArgs)
def results(s: Settings, a: ResultsArgs) -> int:
    """Print finished batches' answers like describe does, and write the same sidecars and
    manifest rows (exit 75 while one still runs; --wait polls until each ends)."""
    from kimi_vision_cli.cli.commands.describe import make_writers
    from kimi_vision_cli.flows.waiting import finished
    from kimi_vision_cli.output.render import make_renderer

    if a.sidecar in ("vtt", "srt"):
        raise UsageError(f"--sidecar {a.sidecar} is for describe --segment", hint="use txt, json or xmp")
    ctx = context_for(s, model=False)
    writers = make_writers(a.sidecar, a.output_dir, a.manifest, a.on_exists, [], embed=a.embed, touch=a.touch)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=False)
    renderer.multi = True
    tally = Tally(report=ctx.diag.error)
    pending = list(dict.fromkeys(a.batch_ids))
    try:
        for batch_id, batch in finished(pending, ctx, wait=a.wait):
            pending.remove(batch_id)
            if _one_batch(batch_id, batch, ctx, writers, renderer, tally):
                break
    except KeyboardInterrupt:
        ids = " ".join(pending)
        ctx.diag.warn(
            f"stopped waiting; the batches keep running: fetch later with `kimi-vision batch results {ids}`"
        )
        tally.fold(ExitCode.INTERRUPTED)
    finally:
        renderer.close()
        writers.close()
    return int(tally.exit_code)


def _one_batch(batch_id: str, batch: Any, ctx: Any, writers: Any, renderer: Any, tally: Tally) -> bool:
    """One batch's records printed and written; True when the run must stop (auth)."""
    from kimi_vision_cli.flows import batch as batch_api

    try:
        if isinstance(batch, KimiVisionError):
            raise batch
        records = batch_api.results(batch_id, ctx, batch)
    except KimiVisionError as err:  # still running (75), failed without output, unknown id
        return tally.error(err)
    writers.provenance = batch_api.made_by(ctx, batch_id, batch)  # each batch its own (None: unknown)
    for source, rec in records:
        _write_outputs(writers, source, rec)
        renderer.result(rec)
        # The batch has run: every record is shown, none stops the others.
        if rec.error is not None:
            tally.error(rec.error)
        else:
            tally.ok()
    return False


def _write_outputs(writers: Any, source: Any, rec: Any) -> None:
    """The sidecar and manifest row of one answer, as describe writes them; a write that
    fails (or an input this machine did not submit) is that answer's error."""
    if rec.error is not None or not writers:
        return
    if source is None:
        rec.error = OutputError(
            "no local record of this input (the batch was submitted on another machine)",
            input=rec.input, hint="fetch the results where `batch submit` ran to write sidecars",
        )  # fmt: skip
        return
    err = writers.rejects(source)
    try:
        if err is not None:
            raise err
        writers.write(source, rec)
    except KimiVisionError as failed:
        rec.error = failed.with_input(rec.input)


def _count(n: int, noun: str) -> str:
    """`1 request`, `2 requests`, `1 batch`, `3 batches`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('ch') else 's'}"
