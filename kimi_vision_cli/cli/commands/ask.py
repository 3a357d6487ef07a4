"""`ask`: one request holding every input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for, walk_of
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.settings import Settings


@dataclass(frozen=True)
class AskArgs:
    question: str
    inputs: list[str]
    prefix: str | None
    interactive: bool
    recursive: bool
    hidden: bool
    exclude: list[str] | None


@command(app, "ask", AskArgs)
def ask(s: Settings, a: AskArgs) -> int:
    """One request holding every input: ask a question about them together."""
    from kimi_vision_cli.flows import ask as flow
    from kimi_vision_cli.inputs.discover import iter_sources
    from kimi_vision_cli.output.render import make_renderer

    if not a.inputs:
        raise UsageError("no input given", hint="pass the files to ask about after the question")
    _check_prefix(s, a)
    followups = _interactive_checks(a.inputs, s) if a.interactive else None
    ctx = context_for(s)
    sources = list(iter_sources(a.inputs, recursive=a.recursive, walk=walk_of(a.hidden, a.exclude)))
    if s.dry_run:
        from kimi_vision_cli.output.dryrun import write_plans

        write_plans(
            [flow.plan_ask(a.question, sources, ctx, prefix=a.prefix)],
            s.format,
            STATE.term.stdout,
            single=True,
        )
        return 0
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking, single=True)
    try:
        tally = flow.ask(a.question, sources, ctx, renderer, prefix=a.prefix, followups=followups)
    finally:
        renderer.close()
    return int(tally.exit_code)


def _check_prefix(s: Settings, a: AskArgs) -> None:
    """--prefix is Partial Mode, which Moonshot says not to mix with a response_format
    (moonshot.PARTIAL_MODE_EXCLUDES): refused before anything is read or sent."""
    if not a.prefix:
        return
    from kimi_vision_cli.moonshot import PARTIAL_MODE_EXCLUDES

    given = (s.json_mode, s.schema is not None)
    for other, on in zip(PARTIAL_MODE_EXCLUDES, given, strict=True):
        if on:
            raise UsageError(
                f"--prefix (Partial Mode) cannot be combined with {other}",
                hint="drop one of them: Moonshot says Partial Mode with a response_format gives unexpected answers",
            )


def _interactive_checks(inputs: list[str], s: Settings) -> Callable[[], str | None]:
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
