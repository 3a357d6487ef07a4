"""`batch submit | status | results | cancel`: Moonshot's Batch API for very large jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from kimi_vision_cli.cli.app import HelpGroup, app
from kimi_vision_cli.cli.params import command, context_for, sources_for, walk_of
from kimi_vision_cli.output.listing import BATCHES, SUBMITTED, ListingWriter
from kimi_vision_cli.output.records import Submitted
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import (
    BatchCancelArgs,
    BatchResultsArgs,
    BatchStatusArgs,
    BatchSubmitArgs,
    Format,
)
from kimi_vision_cli.terminal import Terminal

batch_app = typer.Typer(
    cls=HelpGroup,
    help="Moonshot's Batch API: submit a large captioning job, poll it, fetch the results.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")


@command(batch_app, "batch submit", BatchSubmitArgs)
def submit(term: Terminal, s: Settings, a: BatchSubmitArgs) -> int:
    """Build one request per input (like describe), upload them as a batch, print the batch id(s)."""
    from kimi_vision_cli.flows import batch as batch_api
    from kimi_vision_cli.flows import batches

    batch_api.check_window(a.window)
    if s.media.segment == "scenes":
        from kimi_vision_cli.media.scenes import check

        check(s.media.min_segment, s.media.max_segment)  # before any input is read
    ctx = context_for(s, term)
    sources = sources_for(
        term, a.inputs, a.recursive, a.files_from, a.files_from0, walk_of(a.hidden, a.exclude)
    )
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    return int(
        batches.submit(
            sources,
            ctx,
            a.window,
            show=lambda out: _write_ids(term, s.run.format, out),
            keep=lambda out: _write_ids(term, "text", out),  # as text whatever --format
        )
    )


def _write_ids(term: Terminal, fmt: Format, out: Submitted) -> None:
    writer = ListingWriter(SUBMITTED, fmt, term)
    for batch_id in out.batch_ids:
        writer.row(batch_id)
    writer.close(document=lambda _ids: out.to_dict())


def _each_batch(
    term: Terminal, s: Settings, batch_ids: list[str], action: Callable[[str, Any], dict[str, Any]]
) -> int:
    """Each batch shown as `action` leaves it, in one listing (one JSON document)."""
    from kimi_vision_cli.flows import batches

    ctx = context_for(s, term, model=False)
    writer = ListingWriter(BATCHES, s.run.format, term, ctx.diag)
    try:
        return int(batches.each(ctx, batch_ids, action, writer.row))
    finally:  # an auth error half-way: what was shown still closes as a whole document
        writer.close()


@command(batch_app, "batch status", BatchStatusArgs)
def status(term: Terminal, s: Settings, a: BatchStatusArgs) -> int:
    """Print each batch's state and request counts (tab-separated; --format json: an array of objects)."""
    from kimi_vision_cli.flows import batch as batch_api

    return _each_batch(term, s, a.batch_ids, batch_api.status)


@command(batch_app, "batch cancel", BatchCancelArgs)
def cancel(term: Terminal, s: Settings, a: BatchCancelArgs) -> int:
    """Ask Moonshot to cancel batches; prints their new state."""
    from kimi_vision_cli.flows import batch as batch_api

    return _each_batch(term, s, a.batch_ids, batch_api.cancel)


@command(batch_app, "batch results", BatchResultsArgs)
def results(term: Terminal, s: Settings, a: BatchResultsArgs) -> int:
    """Print finished batches' answers like describe does, and write the same sidecars and
    manifest rows (exit 75 while one still runs; --wait polls until each ends)."""
    from kimi_vision_cli.errors import worst
    from kimi_vision_cli.flows import batches
    from kimi_vision_cli.output.render import make_renderer
    from kimi_vision_cli.output.writers import Writers

    ctx = context_for(s, term, model=False)
    writers = Writers.from_options(
        a.sidecar, a.output_dir, a.manifest, a.on_exists, [], embed=a.embed, touch=a.touch, warn=ctx.diag.warn
    )
    renderer = make_renderer(s.run.format, term, ctx.diag, show_thinking=False)
    renderer.multi = True
    try:
        code = batches.results(ctx, a.batch_ids, writers, renderer.result, wait=a.wait)
    finally:
        renderer.close()
        closed = writers.finish(ctx.diag.error)  # an object manifest's last rows: kept, or named
    return int(worst(code, closed))
