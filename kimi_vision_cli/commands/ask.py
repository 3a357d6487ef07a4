"""`ask`: one request holding every input."""

from __future__ import annotations

from typing import Annotated

import typer

from kimi_vision_cli.app import STATE, app
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
    settings_from,
)  # fmt: skip


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question about the inputs.")],
    inputs: Inputs,
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
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Partial Mode: the answer starts with this text.")
    ] = None,
) -> None:
    """One request holding every input: ask a question about them together."""
    from kimi_vision_cli import pipeline
    from kimi_vision_cli.discover import iter_sources
    from kimi_vision_cli.render import make_renderer

    s = settings_from(**{k: v for k, v in locals().items() if k not in ("inputs", "question", "prefix")})
    ctx = context_for(s)
    sources = list(iter_sources(inputs))
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking, single=True)
    try:
        summary = pipeline.ask(question, sources, ctx, renderer, prefix=prefix)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code
