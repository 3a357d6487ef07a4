"""`estimate`: the input-token count (and cost) of what describe/ask would send."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command, context_for, sources_for, walk_of
from kimi_vision_cli.errors import Tally, UsageError
from kimi_vision_cli.moonshot import ESTIMATE_PATH
from kimi_vision_cli.output.listing import ESTIMATES, ListingWriter, budget_note, estimate_footer, worst_line
from kimi_vision_cli.output.records import Estimate, estimate_document
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import EstimateArgs
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import counted


@command(app, "estimate", EstimateArgs)
def estimate(term: Terminal, s: Settings, a: EstimateArgs) -> int:
    """Count the input tokens (and cost) of what describe, or ask with --ask, would send."""
    from kimi_vision_cli.flows import estimate as flow

    if a.ask is not None and "prompt" in s.flags_given:  # a config prompt is simply not used
        raise UsageError(
            "--ask and -p/--prompt cannot be used together", hint="--ask is the prompt of an ask request"
        )
    if a.ask is not None and s.media.segment is not None:
        raise UsageError("--ask and --segment cannot be used together", hint="ask sends each video whole")
    if s.media.segment == "scenes":
        from kimi_vision_cli.media.scenes import check

        check(s.media.min_segment, s.media.max_segment)  # before any input is read
    ctx = context_for(s, term)
    s = ctx.settings  # with what GET /v1/models said of a model the table does not know
    sources = sources_for(
        term, a.inputs, a.recursive, a.files_from, a.files_from0, walk_of(a.hidden, a.exclude)
    )
    resumed = _Resumed(a, s)
    sources = resumed.unsent(sources)
    if s.run.dry_run:
        ctx.diag.note(f"dry run: would POST {s.connection.base_url}{ESTIMATE_PATH} for each request below")
        multi = a.ask is None and (
            len(a.inputs) > 1 or a.recursive or a.files_from is not None or a.files_from0 is not None
        )
        return _dry_run(
            flow.plan_each(sources, ctx) if a.ask is None else [flow.plan_ask(a.ask, sources, ctx)],
            s,
            ctx,
            multi=multi,
            after=resumed.say,
        )
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    writer = ListingWriter(ESTIMATES, s.run.format, term, ctx.diag)
    ran = flow.run(sources, ctx, writer.row, ask=a.ask, batch=a.batch)
    s = ctx.settings  # --batch: with batch submit's max_tokens
    footer = [
        *estimate_footer(ran.rows, ran.total, ran.cost, s.request.model, s.connection.base_url),
        *worst_line(ran.worst, ran.budget, a.batch),
    ]
    writer.close(
        document=lambda inputs: estimate_document(s.request.model, inputs, ran.total, ran.cost, ran.worst),
        footer=footer if ran.requests else (),
    )
    if ran.requests:
        ctx.diag.note(budget_note(ran.budget, ran.cost))
    resumed.say(ctx)
    return int(ran.exit_code)


class _Resumed:
    """--sidecar/--output-dir (and --on-exists): count what `describe` with the same
    options would send, not the inputs whose captions a rerun skips (issue 19, item 25).
    Without them every input is counted, as describe without them sends every input."""

    def __init__(self, a: EstimateArgs, s: Settings):
        self.skipped = 0
        self.writers: Any = None
        if a.sidecar is None and a.output_dir is None:
            return
        if a.ask is not None:
            raise UsageError(
                "--sidecar and --output-dir do not go with --ask", hint="an ask request writes no sidecars"
            )
        from kimi_vision_cli.output.sidecar import SidecarSpec
        from kimi_vision_cli.output.writers import Writers, made_by

        # --on-exists stale: the captions made otherwise are counted, as describe redoes them
        self.writers = Writers(
            overwrite=a.on_exists == "overwrite", redo_stale=a.on_exists == "stale", provenance=made_by(s)
        )
        from kimi_vision_cli.stores import unfold

        if (remote := unfold(a.output_dir)) is not None:  # s3://... (issue 24)
            from kimi_vision_cli.output.objects import ObjectDir

            self.writers.sidecar = SidecarSpec(a.sidecar or "txt", None, ObjectDir(remote))
        else:
            self.writers.sidecar = SidecarSpec(a.sidecar or "txt", a.output_dir)

    def unsent(self, sources: Any) -> Any:
        if self.writers is None:
            return sources
        from kimi_vision_cli.flows.describe import BatchOptions, selected

        def sent() -> Iterator[Any]:
            for source, skipped in selected(sources, BatchOptions(writers=self.writers)):
                if skipped:
                    self.skipped += 1
                else:
                    yield source

        return sent()

    def say(self, ctx: Any) -> None:
        if self.skipped:
            ctx.diag.note(
                f"{counted(self.skipped, 'input')} not counted: captioned already, describe would skip (--on-exists skip)"
            )


def _dry_run(
    planned: Iterable[Estimate], s: Settings, ctx: Any, *, multi: bool, after: Callable[[Any], None]
) -> int:
    """--dry-run: the tokenizer requests, written instead of sent."""
    from kimi_vision_cli.output.dryrun import DryRunWriter

    tally = Tally(report=ctx.diag.error)
    # json: one object, as `estimate --format json` writes, its inputs the request bodies
    writer = DryRunWriter(
        s.run.format,
        ctx.term.stdout,
        multi=multi,
        document=lambda items: {"model": s.request.model, "inputs": items},
    )
    try:
        for est in planned:
            if est.error is not None:
                if tally.error(est.error):
                    break
                continue
            assert est.body is not None
            tally.ok()
            writer.add(est.input, est.body)
    finally:
        writer.close()
    after(ctx)
    return int(tally.exit_code)
