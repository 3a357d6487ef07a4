"""`estimate`: the input-token count (and cost) of what describe/ask would send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for, sources_for
from kimi_vision_cli.errors import Tally, UsageError
from kimi_vision_cli.moonshot import ESTIMATE_PATH, completion_budget
from kimi_vision_cli.output.listing import ESTIMATES, ListingWriter, budget_note, estimate_footer
from kimi_vision_cli.output.records import Estimate, estimate_document
from kimi_vision_cli.settings import Settings


@dataclass(frozen=True)
class EstimateArgs:
    inputs: list[str]
    ask: str | None
    recursive: bool
    files_from: Path | None


@command(app, "estimate", EstimateArgs)
def estimate(s: Settings, a: EstimateArgs) -> int:
    """Count the input tokens (and cost) of what describe, or ask with --ask, would send."""
    from kimi_vision_cli.flows import estimate as flow

    if a.ask is not None and "prompt" in s.flags_given:  # a config prompt is simply not used
        raise UsageError(
            "--ask and -p/--prompt cannot be used together", hint="--ask is the prompt of an ask request"
        )
    if a.ask is not None and s.segment is not None:
        raise UsageError("--ask and --segment cannot be used together", hint="ask sends each video whole")
    if s.segment == "scenes":
        from kimi_vision_cli.media.scenes import check

        check(s.min_segment, s.max_segment)  # before any input is read
    ctx = context_for(s)
    sources = sources_for(a.inputs, a.recursive, a.files_from)
    if s.dry_run:
        ctx.diag.note(f"dry run: would POST {s.base_url}{ESTIMATE_PATH} for each request below")
        return _dry_run(
            flow.plan_each(sources, ctx) if a.ask is None else [flow.plan_ask(a.ask, sources, ctx)], s, ctx
        )
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    results = (
        [flow.estimate_ask(a.ask, list(sources), ctx)]
        if a.ask is not None
        else flow.estimate_each(sources, ctx)
    )
    writer = ListingWriter(ESTIMATES, s.format, STATE.term, ctx.diag)
    done: list[Estimate] = []
    tally = Tally(report=ctx.diag.error)
    for est in results:
        done.append(est)
        stop = tally.error(est.error) if est.error is not None else False
        writer.row(est)
        if stop:
            break
    counted = [e for e in done if e.error is None and e.tokens is not None]
    total = sum(e.tokens or 0 for e in counted)
    cost = flow.cost_of(total, ctx)
    writer.close(
        document=lambda inputs: estimate_document(s.model, inputs, total, cost),
        footer=estimate_footer(len(done), total, cost, s.model, s.base_url) if counted else (),
    )
    if counted:
        ctx.diag.note(budget_note(completion_budget(s.model, s.max_tokens), cost))
    return int(tally.exit_code)


def _dry_run(planned: Iterable[Estimate], s: Settings, ctx: Any) -> int:
    """--dry-run: the tokenizer requests, written instead of sent."""
    from kimi_vision_cli.output.dryrun import DryRunWriter

    tally = Tally(report=ctx.diag.error)
    writer = DryRunWriter(s.format, STATE.term.stdout)
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
    return int(tally.exit_code)
