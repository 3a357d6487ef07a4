"""`describe`: one request per input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kimi_vision_cli.app import STATE, app
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DryRun,
    Format,
    Inputs,
    JsonMode,
    KeepMetadata,
    MaxSize,
    MaxTokens,
    Model,
    NoResize,
    Prompt,
    Region,
    Retries,
    ShowThinking,
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


@app.command()
def describe(
    inputs: Inputs,
    prompt: Prompt = None,
    model: Model = None,
    system: System = None,
    thinking: Thinking = None,
    show_thinking: ShowThinking = False,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    json_mode: JsonMode = False,
    max_size: MaxSize = None,
    no_resize: NoResize = False,
    convert: Convert = False,
    keep_metadata: KeepMetadata = False,
    upload: Upload = None,
    format: Format = None,
    dry_run: DryRun = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    concurrency: Annotated[
        int | None, typer.Option("-j", "--concurrency", help="Requests in flight [default 4].", min=1)
    ] = None,
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Walk directories for media files.")
    ] = False,
    files_from: Annotated[
        Path | None,
        typer.Option(
            "--files-from", help="Read inputs, one per line, from FILE (- for stdin).", allow_dash=True
        ),
    ] = None,
) -> None:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli import pipeline
    from kimi_vision_cli.discover import iter_sources
    from kimi_vision_cli.render import make_renderer

    s = settings_from(**{k: v for k, v in locals().items() if k not in ("inputs", "files_from", "recursive")})
    ctx = context_for(s)
    fh = open_files_from(files_from)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    sources = iter_sources(inputs, recursive=recursive, files_from=fh)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking)
    multi = len(inputs) > 1 or recursive or fh is not None
    try:
        summary = pipeline.describe(sources, ctx, renderer, multi=multi)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code
