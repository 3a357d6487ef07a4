"""`estimate`: the input-token count (and cost) of what describe/ask would send."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DownscaleVideo,
    DryRun,
    FilesFrom,
    Format,
    Inputs,
    JsonMode,
    KeepMetadata,
    MaxSize,
    MaxTokens,
    Model,
    NoResize,
    Prompt,
    Recursive,
    Region,
    Retries,
    System,
    Temperature,
    Thinking,
    Timeout,
    Upload,
    Verbose,
    context_for,
    open_files_from,
    settings_from,
)  # fmt: skip
from kimi_vision_cli.errors import ExitCode, UsageError, stops_run, worst


@app.command()
def estimate(
    inputs: Inputs = None,  # type: ignore[assignment]
    prompt: Prompt = None,
    ask: Annotated[
        str | None,
        typer.Option("--ask", help="Estimate one `ask` request holding every input, with this question."),
    ] = None,
    model: Model = None,
    system: System = None,
    thinking: Thinking = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    json_mode: JsonMode = False,
    max_size: MaxSize = None,
    no_resize: NoResize = False,
    convert: Convert = False,
    keep_metadata: KeepMetadata = False,
    downscale_video: DownscaleVideo = False,
    upload: Upload = None,
    format: Format = None,
    dry_run: DryRun = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    recursive: Recursive = False,
    files_from: FilesFrom = None,
) -> None:
    """Count the input tokens (and cost) of what describe, or ask with --ask, would send."""
    from kimi_vision_cli.flows import estimate as flow
    from kimi_vision_cli.inputs.discover import iter_sources

    if ask is not None and prompt is not None:
        raise UsageError(
            "--ask and -p/--prompt cannot be used together", hint="--ask is the prompt of an ask request"
        )
    flags = {
        k: v for k, v in locals().items() if k not in ("inputs", "ask", "recursive", "files_from", "flow")
    }
    s = settings_from(**flags)
    ctx = context_for(s)
    fh = open_files_from(files_from)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    sources = iter_sources(inputs or [], recursive=recursive, files_from=fh)
    if not s.dry_run:
        ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    else:
        ctx.diag.note(f"dry run: would POST {s.base_url}{flow.ESTIMATE_PATH} for each request below")

    results = (
        [flow.estimate_ask(ask, list(sources), ctx)] if ask is not None else flow.estimate_each(sources, ctx)
    )
    out = STATE.term.stdout
    done: list[flow.Estimate] = []
    code = ExitCode.OK
    for est in results:
        done.append(est)
        if est.error is not None:
            code = worst(code, est.error.exit_code)
            ctx.diag.error(est.error)
            if s.format == "jsonl":
                out.write(json.dumps(est.to_dict(), ensure_ascii=False) + "\n")
            if stops_run(est.error):
                break
            continue
        if s.dry_run and est.body is not None:
            from kimi_vision_cli.request import shorten_for_display

            out.write(json.dumps(shorten_for_display(est.body), ensure_ascii=False, indent=2) + "\n")
        elif s.format == "jsonl":
            out.write(json.dumps(est.to_dict(), ensure_ascii=False) + "\n")
        elif s.format == "text":
            out.write(f"{est.tokens:>10}  {est.input}\n")
        out.flush()

    if not s.dry_run:
        counted = [e for e in done if e.error is None and e.tokens is not None]
        total = sum(e.tokens or 0 for e in counted)
        cost = flow.cost_of(total, ctx)
        if s.format == "json":
            doc: dict[str, Any] = {
                "model": s.model,
                "inputs": [e.to_dict() for e in done],
                "total_tokens": total,
                "cost": cost.to_dict(),
            }
            out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        elif s.format == "text" and counted:
            if len(done) > 1:
                out.write(f"{total:>10}  total\n")
            out.write(_cost_line(cost, s.model, s.base_url) + "\n")
        out.flush()
        if counted:
            ctx.diag.note(_budget_note(flow.completion_budget(ctx), cost, s.model))
    STATE.exit_code = code


def _cost_line(cost: Any, model: str, base_url: str) -> str:
    if cost.price is None:
        from kimi_vision_cli.moonshot import bills_in_cny

        why = "the China platform bills in CNY" if bills_in_cny(base_url) else f"no price for {model}"
        return f'cost: unknown ({why}; set [prices."{model}"] input/output in config.toml)'
    origin = "config.toml price" if cost.price.source == "config" else "published price"
    return (
        f"cost: {cost.amount:.6f} {cost.currency} "
        f"({model} input at {cost.price.input:g} {cost.currency} per 1M tokens, {origin})"
    )


def _budget_note(budget: int | None, cost: Any, model: str) -> str:
    what = f"max_tokens ({budget} per request)" if budget else "each request's max_tokens (--max-tokens)"
    text = f"note: input tokens only; rate limits (TPM) also count {what}, and output is billed on top"
    if cost.price is not None:
        text += f" at {cost.price.output:g} {cost.currency} per 1M tokens"
    return text
