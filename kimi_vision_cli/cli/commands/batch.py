"""`batch submit | status | results | cancel`: Moonshot's Batch API for very large jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DownscaleVideo,
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
    Verbose,
    context_for,
    open_files_from,
    settings_from,
)
from kimi_vision_cli.errors import ExitCode, InputError, UsageError, worst

batch_app = typer.Typer(
    help="Moonshot's Batch API: submit a large captioning job, poll it, fetch the results.",
    no_args_is_help=True,
)
app.add_typer(batch_app, name="batch")

# TPM limits count max_tokens whether used or not, so a batch asks for a modest budget
# unless told otherwise (SPEC: "batch defaults should be modest").
BATCH_MAX_TOKENS = 4096

BatchId = Annotated[str, typer.Argument(help="The batch id printed by `batch submit`.")]



@batch_app.command("submit")
def submit(
    inputs: Inputs = None,  # type: ignore[assignment]
    prompt: Prompt = None,
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
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    recursive: Recursive = False,
    files_from: FilesFrom = None,
    window: Annotated[str, typer.Option("--window", help="Completion window, 12h to 7d.")] = "24h",
) -> None:
    """Build one request per input (like describe), upload them as a batch, print the batch id(s)."""
    from kimi_vision_cli.flows import batch as batch_api
    from kimi_vision_cli.inputs.discover import iter_sources

    flags = {k: v for k, v in locals().items() if k not in ("inputs", "files_from", "recursive", "window")}
    s = settings_from(**flags)
    if s.max_tokens is None:
        s = s.with_(max_tokens=BATCH_MAX_TOKENS)
    batch_api.check_window(window)
    ctx = context_for(s)
    fh = open_files_from(files_from)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass files, a directory with -r, or --files-from")
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    out = batch_api.Submitted()
    try:
        batch_api.submit(iter_sources(inputs or [], recursive=recursive, files_from=fh), ctx, window, out)
    except BaseException:
        # Batches already created run (and bill) whatever happens next: never lose their ids.
        if out.batch_ids:
            for batch_id in out.batch_ids:
                STATE.term.stdout.write(batch_id + "\n")
            STATE.term.stdout.flush()
            ctx.diag.warn(
                f"{len(out.batch_ids)} batch(es) were created before the failure (ids on stdout); "
                "a rerun would submit their inputs again"
            )
        raise
    code = ExitCode.OK
    for failure in out.failed:
        code = worst(code, failure.error.exit_code)  # type: ignore[union-attr]
    if s.format == "text":
        for batch_id in out.batch_ids:
            STATE.term.stdout.write(batch_id + "\n")
    else:
        doc = {"batch_ids": out.batch_ids, "requests": out.requests, "failed": [f.to_dict() for f in out.failed]}
        STATE.term.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    STATE.term.stdout.flush()
    if not out.batch_ids:
        ctx.diag.warn("nothing was submitted: every input failed")
        code = worst(code, ExitCode.BAD_INPUT)
    else:
        ctx.diag.note(
            f"{out.requests} requests in {len(out.batch_ids)} batch(es); "
            f"check with `kimi-vision batch status ID`, fetch with `kimi-vision batch results ID`"
        )
    STATE.exit_code = code


def _show_batch(batch: dict[str, Any], fmt: str) -> None:
    if fmt != "text":
        STATE.term.stdout.write(json.dumps(batch, ensure_ascii=False, default=str) + "\n")
        return
    counts = batch.get("request_counts") or {}
    STATE.term.stdout.write(
        f"{batch.get('id')}\t{batch.get('status')}\t"
        f"{counts.get('completed', 0)}/{counts.get('total', 0)} done\t{counts.get('failed', 0)} failed\n"
    )


def _each_batch(batch_ids: list[str], action: Callable[[str, Any], dict[str, Any]], **flags: Any) -> None:
    """Run `action` on each id and show the batch; an unknown id is reported and the
    rest still go (exit code: the most serious met). Auth and quota errors stop at once."""
    s = settings_from(**flags)
    ctx = context_for(s)
    code = ExitCode.OK
    for batch_id in batch_ids:
        try:
            _show_batch(action(batch_id, ctx), s.format)
        except InputError as err:
            ctx.diag.error(err)
            code = worst(code, err.exit_code)
    STATE.exit_code = code


@batch_app.command("status")
def status(
    batch_ids: Annotated[list[str], typer.Argument(help="Batch ids.")],
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
) -> None:
    """Print each batch's state and request counts (tab-separated; --format json for objects)."""
    from kimi_vision_cli.flows import batch as batch_api

    _each_batch(batch_ids, batch_api.status, **{k: v for k, v in locals().items() if k != "batch_ids"})


@batch_app.command("cancel")
def cancel(
    batch_ids: Annotated[list[str], typer.Argument(help="Batch ids.")],
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
) -> None:
    """Ask Moonshot to cancel batches; prints their new state."""
    from kimi_vision_cli.flows import batch as batch_api

    _each_batch(batch_ids, batch_api.cancel, **{k: v for k, v in locals().items() if k != "batch_ids"})


@batch_app.command("results")
def results(
    batch_id: BatchId,
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
) -> None:
    """Print a finished batch's answers like describe does (exit 75 while it is still running)."""
    from kimi_vision_cli.flows import batch as batch_api
    from kimi_vision_cli.output.render import make_renderer

    s = settings_from(**{k: v for k, v in locals().items() if k != "batch_id"})
    ctx = context_for(s)
    records = batch_api.results(batch_id, ctx)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=False)
    renderer.multi = True
    code = ExitCode.OK
    try:
        for rec in records:
            renderer.result(rec)
            if rec.error is not None:
                ctx.diag.error(rec.error)
                code = worst(code, rec.error.exit_code)
    finally:
        renderer.close()
    STATE.exit_code = code
