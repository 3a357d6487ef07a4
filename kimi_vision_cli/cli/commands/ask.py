"""`ask`: one request holding every input."""

from __future__ import annotations

from collections.abc import Callable

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command, context_for, walk_of
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import AskArgs
from kimi_vision_cli.terminal import Terminal


@command(app, "ask", AskArgs)
def ask(term: Terminal, s: Settings, a: AskArgs) -> int:
    """One request holding every input: ask a question about them together."""
    from kimi_vision_cli.flows import ask as flow
    from kimi_vision_cli.inputs.discover import iter_sources
    from kimi_vision_cli.output.render import make_renderer
    from kimi_vision_cli.output.sinks import RenderSink

    if not a.question.strip():  # issue 19.23: an empty question was sent (and paid for)
        raise UsageError(
            "QUESTION is empty", hint="ask something, e.g. kimi-vision ask 'What is in this image?' photo.png"
        )
    if not a.inputs:
        raise UsageError("no input given", hint="pass the files to ask about after the question")
    _check_prefix(s, a)
    followups = _interactive_checks(term, a.inputs, s) if a.interactive else None
    ctx = context_for(s, term)
    sources = list(iter_sources(a.inputs, recursive=a.recursive, walk=walk_of(a.hidden, a.exclude)))
    if s.run.dry_run:
        from kimi_vision_cli.output.dryrun import write_plans

        write_plans(
            [flow.plan_ask(a.question, sources, ctx, prefix=a.prefix)],
            s.run.format,
            term.stdout,
            single=True,
        )
        return 0
    renderer = make_renderer(s.run.format, term, ctx.diag, show_thinking=s.run.show_thinking, single=True)
    try:
        sink = RenderSink(renderer, s.run.format, term, ctx.diag, verbose=s.run.verbose)
        tally = flow.ask(a.question, sources, ctx, sink, prefix=a.prefix, followups=followups)
    finally:
        renderer.close()
    return int(tally.exit_code)


def _check_prefix(s: Settings, a: AskArgs) -> None:
    """--prefix is Partial Mode, which Moonshot says not to mix with a response_format
    (moonshot.PARTIAL_MODE_EXCLUDES): refused before anything is read or sent."""
    if not a.prefix:
        return
    from kimi_vision_cli.moonshot import PARTIAL_MODE_EXCLUDES

    given = (s.request.json_mode, s.request.schema is not None)
    for other, on in zip(PARTIAL_MODE_EXCLUDES, given, strict=True):
        if on:
            raise UsageError(
                f"--prefix (Partial Mode) cannot be combined with {other}",
                hint="drop one of them: Moonshot says Partial Mode with a response_format gives unexpected answers",
            )


def _interactive_checks(term: Terminal, inputs: list[str], s: Settings) -> Callable[[], str | None]:
    """`-i` reads the follow-up questions from stdin, so stdin cannot also be an input."""
    if "-" in inputs:
        raise UsageError(
            "cannot be an input with -i/--interactive: standard input carries the follow-up questions",
            input="-",
            hint="save the bytes to a file and pass its path",
        )
    if s.run.dry_run:
        raise UsageError("--dry-run cannot be combined with -i/--interactive", hint="drop one of them")
    if s.run.format == "json":
        raise UsageError(
            "--format json cannot be combined with -i/--interactive (one object per turn)",
            hint="use --format jsonl or text",
        )
    return _question_reader(term)


def _question_reader(term: Terminal) -> Callable[[], str | None]:
    """The follow-up questions, one a line. The `> ` prompt only for a person at a
    terminal: a script piping questions in gets none on its stderr (issue 19.23)."""
    stream = getattr(term.stdin, "buffer", term.stdin)  # bytes: decoded strictly below

    def prompt(text: str) -> None:
        if term.stdin_isatty:  # the prompt goes to stderr: stdout carries answers only
            term.stderr.write(text)
            term.stderr.flush()

    def read() -> str | None:
        while True:
            prompt("> ")
            line = stream.readline()
            if not line:  # EOF
                prompt("\n")
                return None
            question = _utf8(line).strip()
            if question in ("exit", "quit"):
                return None
            if question:
                return question

    return read


def _utf8(line: bytes | str) -> str:
    """A follow-up is sent as it is, so it must be UTF-8 (issue 19.7: a Latin-1 terminal's
    `café` was a UnicodeEncodeError traceback): one line, exit 2."""
    try:
        return line.decode("utf-8") if isinstance(line, bytes) else line.encode("utf-8").decode("utf-8")
    except UnicodeError:
        raise UsageError(
            "a follow-up question on standard input is not valid UTF-8 text",
            hint="type or pipe the questions in UTF-8 (check the terminal's or the file's encoding)",
        ) from None
