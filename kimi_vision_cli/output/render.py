"""Renderers: rich Markdown on a terminal, plain text when piped, JSON and JSONL.

Chosen from the Terminal (STYLE rule 2). Answers go to stdout; everything else to
stderr (rule 3). Model text and file names are never parsed as rich markup (rule 4).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.terminal import Terminal

# The JSON/JSONL record: keys and order are a contract (SPEC.md "Output"), pinned by
# tests/test_contract.py.
RESULT_KEYS = ("input", "model", "text", "reasoning", "finish_reason", "usage", "media", "error")
MEDIA_KEYS = (
    "mime", "width", "height", "original_width", "original_height", "transport", "file_id",
    "bytes", "original_bytes", "original_mime", "resized", "rotated", "converted", "stripped",
)  # fmt: skip


@dataclass
class Result:
    input: str
    model: str
    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    error: KimiVisionError | None = None
    skipped: bool = False  # resumed run: output already there

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("skipped")
        d["error"] = (
            None if self.error is None else {"code": self.error.code, "message": self.error.one_line()}
        )
        d["reasoning"] = self.reasoning or None
        d["media"] = [{k: m.get(k) for k in MEDIA_KEYS} for m in self.media]
        return {k: d[k] for k in RESULT_KEYS}


class Diagnostics:
    """stderr: errors, warnings, notes, reasoning. Thread-safe, one line per call."""

    def __init__(self, term: Terminal):
        self.term = term
        self._lock = threading.Lock()
        self._console: Any = None
        # The batch bar's rich Progress while it is shown: other bars join it as rows,
        # since two rich Live displays on one console corrupt its live stack.
        self.live_progress: Any = None

    @property
    def console(self):  # type: ignore[no-untyped-def]
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.term.stderr,
                force_terminal=self.term.stderr_isatty,
                no_color=not self.term.color,
                highlight=False,
                soft_wrap=True,
                width=self.term.width,
            )
        return self._console

    def _line(self, prefix: str, text: str, style: str) -> None:
        with self._lock:
            # On a terminal, through the console even without colour: a live progress
            # bar (scheduler.py) shares it, so the line prints above the bar.
            if self.term.stderr_isatty:
                from rich.text import Text

                t = Text(prefix, style=style if self.term.color else "")
                t.append(text)  # plain append: never markup
                self.console.print(t)
            else:
                self.term.stderr.write(f"{prefix}{text}\n")
                self.term.stderr.flush()

    def error(self, err: KimiVisionError) -> None:
        self._line("kimi-vision: error: ", err.one_line(), "bold red")

    def warn(self, text: str) -> None:
        self._line("kimi-vision: warning: ", " ".join(text.split()), "yellow")

    def note(self, text: str) -> None:
        self._line("kimi-vision: ", text, "dim")

    def reasoning(self, text: str) -> None:
        with self._lock:
            if self.term.stderr_isatty and self.term.color:
                from rich.text import Text

                self.console.print(Text(text, style="dim italic"), end="")
            else:
                self.term.stderr.write(text)
                self.term.stderr.flush()

    def reasoning_end(self) -> None:
        with self._lock:
            self.term.stderr.write("\n")
            self.term.stderr.flush()


class Renderer:
    """Base: receives one input's stream live (`begin`/`content`/`end`) or whole (`result`)."""

    def __init__(self, term: Terminal, diag: Diagnostics, *, show_thinking: bool = False):
        self.term = term
        self.diag = diag
        self.show_thinking = show_thinking
        self.multi = False  # several inputs: text output gets ==> INPUT <== headers
        self._in_reasoning = False

    # live streaming (one input at a time)
    def begin(self, input: str) -> None: ...
    def content(self, text: str) -> None: ...

    def reasoning(self, text: str) -> None:
        if self.show_thinking:
            self._in_reasoning = True
            self.diag.reasoning(text)

    def _end_reasoning(self) -> None:
        if self._in_reasoning:
            self._in_reasoning = False
            self.diag.reasoning_end()

    def end(self, result: Result) -> None:
        """The streamed input has finished (text already shown)."""
        self._end_reasoning()

    def result(self, result: Result) -> None:
        """A whole result that was not streamed (concurrent runs, errors)."""
        self.begin(result.input)
        if result.reasoning:
            self.reasoning(result.reasoning)
        if result.text:
            self.content(result.text)
        self.end(result)

    def close(self) -> None: ...


class PlainRenderer(Renderer):
    """Piped stdout: plain text, flushed as it arrives."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self._first = True
        self._wrote = False
        self._ends_newline = True

    def begin(self, input: str) -> None:
        self._wrote = False
        self._ends_newline = True
        if self.multi:
            sep = "" if self._first else "\n"
            self.term.stdout.write(f"{sep}==> {input} <==\n")
            self.term.stdout.flush()
        self._first = False

    def content(self, text: str) -> None:
        self._end_reasoning()
        self.term.stdout.write(text)
        self.term.stdout.flush()
        self._wrote = True
        self._ends_newline = text.endswith("\n")

    def end(self, result: Result) -> None:
        super().end(result)
        if self._wrote and not self._ends_newline:
            self.term.stdout.write("\n")
            self.term.stdout.flush()


class RichRenderer(PlainRenderer):
    """Terminal stdout: the answer re-rendered as Markdown while it streams."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        from rich.console import Console

        self.console = Console(
            file=self.term.stdout,
            force_terminal=True,
            no_color=not self.term.color,
            width=self.term.width,
            highlight=False,
        )
        self._live: Any = None
        self._buffer = ""

    def begin(self, input: str) -> None:
        if self.multi:
            from rich.text import Text

            if not self._first:
                self.console.print()
            self.console.print(Text(f"==> {input} <==", style="bold"))
        self._first = False
        self._buffer = ""

    def content(self, text: str) -> None:
        from rich.live import Live
        from rich.markdown import Markdown

        self._end_reasoning()
        self._buffer += text
        if self._live is None:
            self._live = Live(console=self.console, refresh_per_second=8, vertical_overflow="visible")
            self._live.start()
        self._live.update(Markdown(self._buffer))

    def end(self, result: Result) -> None:
        Renderer.end(self, result)
        if self._live is not None:
            from rich.markdown import Markdown

            self._live.update(Markdown(self._buffer))
            self._live.stop()
            self._live = None

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class JsonlRenderer(Renderer):
    """One object per input, written whole as each finishes."""

    def content(self, text: str) -> None: ...

    def end(self, result: Result) -> None:
        super().end(result)
        line = json.dumps(result.to_dict(), ensure_ascii=False)
        self.term.stdout.write(line + "\n")
        self.term.stdout.flush()

    def result(self, result: Result) -> None:
        if result.reasoning:
            self.reasoning(result.reasoning)
        self.end(result)


class JsonRenderer(Renderer):
    """All objects as one array (describe) or one object (ask), written at the end."""

    def __init__(self, *a: Any, single: bool = False, **kw: Any):
        super().__init__(*a, **kw)
        self.single = single
        self.items: list[dict[str, Any]] = []

    def end(self, result: Result) -> None:
        super().end(result)
        self.items.append(result.to_dict())

    def result(self, result: Result) -> None:
        if result.reasoning:
            self.reasoning(result.reasoning)
        self.end(result)

    def close(self) -> None:
        doc: Any = (self.items[0] if self.items else None) if self.single else self.items
        self.term.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        self.term.stdout.flush()


def make_renderer(
    fmt: str, term: Terminal, diag: Diagnostics, *, show_thinking: bool, single: bool = False
) -> Renderer:
    if fmt == "jsonl":
        return JsonlRenderer(term, diag, show_thinking=show_thinking)
    if fmt == "json":
        return JsonRenderer(term, diag, show_thinking=show_thinking, single=single)
    if term.stdout_isatty:
        return RichRenderer(term, diag, show_thinking=show_thinking)
    return PlainRenderer(term, diag, show_thinking=show_thinking)
