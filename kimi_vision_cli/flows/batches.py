"""What the `batch` commands do beyond one Batch API call (flows/batch.py submits,
flows/batch_results.py reads results): submit without losing a batch id, go through
several ids, and turn finished batches into records, sidecars and manifest rows as
describe would. Output is the caller's: each batch object goes to `show`, each record
to `shown` (a renderer), writes go through the Writers given."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import (
    ExitCode,
    InputError,
    KimiVisionError,
    OutputError,
    Tally,
    Terminated,
)
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.types import counted

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kimi_vision_cli.output.records import Result, Submitted
    from kimi_vision_cli.output.writers import Writers
    from kimi_vision_cli.types import Source


def submit(
    sources: Iterable[Source],
    ctx: Context,
    window: str,
    *,
    show: Callable[[Submitted], None],
    keep: Callable[[Submitted], None],
) -> ExitCode:
    """Submit the inputs as batches; `show` the ids made. Batches already created run
    (and bill) whatever happens next, so when the run fails half-way their ids still go
    to `keep` before the error does: a rerun must not submit them again unknowingly.
    Nothing submitted at all (every input failed) is exit 2."""
    from kimi_vision_cli.flows import batch as batch_api
    from kimi_vision_cli.output.records import Submitted

    out = Submitted()
    tally = Tally(report=ctx.diag.error)
    try:
        batch_api.submit(sources, ctx, window, out, tally)
    except BaseException:
        if out.batch_ids:
            keep(out)
            ctx.diag.warn(
                f"{counted(len(out.batch_ids), 'batch')} created before the failure (ids on stdout); "
                "a rerun would submit their inputs again"
            )
        raise
    show(out)
    if not out.batch_ids:
        ctx.diag.warn("nothing was submitted: every input failed")
        tally.fold(ExitCode.BAD_INPUT)
    else:
        ctx.diag.note(
            f"{counted(out.requests, 'request')} in {counted(len(out.batch_ids), 'batch')}; "
            f"check with `kimi-vision batch status ID`, fetch with `kimi-vision batch results ID`"
        )
    return tally.exit_code


def each(
    ctx: Context,
    batch_ids: list[str],
    action: Callable[[str, Context], dict[str, Any]],
    show: Callable[[dict[str, Any]], None],
) -> ExitCode:
    """Run `action` on each id and show the batch; an unknown id is reported and the
    rest still go (exit code: the most serious met). Auth and quota errors stop at once."""
    tally = Tally(report=ctx.diag.error)
    for batch_id in batch_ids:
        try:
            show(action(batch_id, ctx))
        except InputError as err:  # an unknown id; auth and quota errors end the run at the boundary
            tally.error(err)
    return tally.exit_code


def results(
    ctx: Context, batch_ids: list[str], writers: Writers, shown: Callable[[Result], None], *, wait: bool
) -> ExitCode:
    """Each finished batch's records shown and written (exit 75 while one still runs;
    `wait` polls until each ends). Ctrl-C while waiting stops waiting, saying how to
    fetch later: the batches keep running."""
    from kimi_vision_cli.flows.waiting import finished

    tally = Tally(report=ctx.diag.error)
    pending = list(dict.fromkeys(batch_ids))
    records = _local_records(ctx, pending, writers, tally)
    try:
        for batch_id, batch in finished(pending, ctx, wait=wait):
            pending.remove(batch_id)
            if _one_batch(batch_id, batch, records.get(batch_id), ctx, writers, shown, tally):
                break
    except (KeyboardInterrupt, Terminated) as stop:
        ids = " ".join(pending)
        ctx.diag.warn(
            f"stopped waiting; the batches keep running: fetch later with `kimi-vision batch results {ids}`"
        )
        if isinstance(stop, Terminated):
            raise  # the boundary exits 143, the ids said first
        tally.fold(ExitCode.INTERRUPTED)
    return tally.exit_code


def _local_records(
    ctx: Context, pending: list[str], writers: Writers, tally: Tally
) -> dict[str, dict[str, Any]]:
    """Each batch's local record, read once, before any batch is looked up: a batch the
    writers cannot serve (--sidecar vtt|srt without timed parts) is reported now, once,
    and dropped from `pending`: nothing of it is waited for, downloaded or paid."""
    from kimi_vision_cli.flows.batch_results import local_record

    kind = writers.sidecar.kind if writers.sidecar is not None else None
    records: dict[str, dict[str, Any]] = {}
    for batch_id in list(pending):
        try:
            records[batch_id] = local_record(ctx, batch_id, kind)
        except KimiVisionError as err:  # not an id, or no timed parts
            pending.remove(batch_id)
            tally.error(err)
    return records


def _one_batch(
    batch_id: str,
    batch: dict[str, Any] | KimiVisionError,
    record: dict[str, Any] | None,
    ctx: Context,
    writers: Writers,
    shown: Callable[[Result], None],
    tally: Tally,
) -> bool:
    """One batch's records shown and written; True when the run must stop (auth)."""
    from kimi_vision_cli.flows.batch_results import results

    try:
        if isinstance(batch, KimiVisionError):
            raise batch
        fetched = results(batch_id, ctx, batch, record)
    except KimiVisionError as err:  # still running (75), failed without output, unknown id
        return tally.error(err)
    writers.provenance = fetched.made  # each batch its own (None: unknown)
    for source, rec in fetched.records:
        _write_outputs(writers, source, rec)
        shown(rec)
        # The batch has run: every record is shown, none stops the others.
        if rec.error is not None:
            tally.error(rec.error)
        else:
            tally.ok()
    return False


def _write_outputs(writers: Writers, source: Source | None, rec: Result) -> None:
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
