"""`ask`: one request holding every input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DownscaleVideo,
    DryRun,
    Format,
    Inputs,
    JsonMode,
    KeepMetadata,
    MaxSize,
    MaxTokens,
    Model,
    NoResize,
    Recursive,
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
from kimi_vision_cli.errors import UsageError


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
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Partial Mode: the answer starts with this text.")
    ] = None,
    interactive: Annotated[
        bool,
        typer.Option(
            "-i", "--interactive", help="Then read follow-up questions from stdin (EOF, exit or quit ends)."
        ),
    ] = False,
) -> None:
    """One request holding every input: ask a question about them together."""
    from kimi_vision_cli.flows import pipeline
    from kimi_vision_cli.inputs.discover import iter_sources
    from kimi_vision_cli.output.render import make_renderer

    s = settings_from(
        **{k: v for k, v in locals().items() if k not in ("inputs", "question", "prefix", "interactive", "recursive")}
    )
    followups = _interactive_checks(inputs, s) if interactive else None
    ctx = context_for(s)
    sources = list(iter_sources(inputs, recursive=recursive))
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking, single=True)
    try:
        summary = pipeline.ask(question, sources, ctx, renderer, prefix=prefix, followups=followups)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code


def _interactive_checks(inputs: list[str], s: Any) -> Callable[[], str | None]:
    """`-i` reads the follow-up questions from stdin, so stdin cannot also be an input."""
    if "-" in inputs:
        raise UsageError(
            "cannot be an input with -i/--interactive: standard input carries the follow-up questions",
            input="-",
            hint="save the bytes to a file and pass its path",
        )
    if s.dry_run:
        raise UsageError("--dry-run cannot be combined with -i/--interactive", hint="drop one of them")
    if s.format == "json":
        raise UsageError(
            "--format json cannot be combined with -i/--interactive (one object per turn)",
            hint="use --format jsonl or text",
        )
    return _question_reader()


def _question_reader() -> Callable[[], str | None]:
    term = STATE.term

    def read() -> str | None:
        while True:
            term.stderr.write("> ")  # the prompt goes to stderr: stdout carries answers only
            term.stderr.flush()
            line = term.stdin.readline()
            if isinstance(line, bytes):
                line = line.decode("utf-8", "replace")
            if not line:  # EOF
                term.stderr.write("\n")
                return None
            question = line.strip()
            if question in ("exit", "quit"):
                return None
            if question:
                return question

    return read
