"""`estimate`: the input-token count (and cost) of what describe/ask would send."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for, open_files_from
from kimi_vision_cli.errors import ExitCode, UsageError, stops_run, worst
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
def estimate(s: Settings, a: EstimateArgs) -> None:
    """Count the input tokens (and cost) of what describe, or ask with --ask, would send."""
    from kimi_vision_cli.flows import estimate as flow
    from kimi_vision_cli.inputs.discover import iter_sources

    if a.ask is not None and s.prompt is not None:
        raise UsageError(
            "--ask and -p/--prompt cannot be used together", hint="--ask is the prompt of an ask request"
        )
    ctx = context_for(s)
    fh = open_files_from(a.files_from)
    if not a.inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    sources = iter_sources(a.inputs, recursive=a.recursive, files_from=fh)
    if not s.dry_run:
        ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    else:
        ctx.diag.note(f"dry run: would POST {s.base_url}{flow.ESTIMATE_PATH} for each request below")

    results = (
        [flow.estimate_ask(a.ask, list(sources), ctx)] if a.ask is not None else flow.estimate_each(sources, ctx)
    )
    writer = ListingWriter(ESTIMATES, s.format, STATE.term, ctx.diag)
    done: list[Estimate] = []
    code = ExitCode.OK
    for est in results:
        done.append(est)
        if est.error is not None:
            code = worst(code, est.error.exit_code)
            ctx.diag.error(est.error)
        if s.dry_run and est.error is None and est.body is not None:
            from kimi_vision_cli.request import shorten_for_display

            out = STATE.term.stdout
            out.write(json.dumps(shorten_for_display(est.body), ensure_ascii=False, indent=2) + "\n")
            out.flush()
        else:
            writer.row(est)
        if est.error is not None and stops_run(est.error):
            break

    if not s.dry_run:
        counted = [e for e in done if e.error is None and e.tokens is not None]
        total = sum(e.tokens or 0 for e in counted)
        cost = flow.cost_of(total, ctx)
        writer.close(
            document=lambda inputs: estimate_document(s.model, inputs, total, cost),
            footer=estimate_footer(len(done), total, cost, s.model, s.base_url) if counted else (),
        )
        if counted:
            ctx.diag.note(budget_note(flow.completion_budget(ctx), cost))
    STATE.exit_code = code
