"""Answer renderers: rich Markdown on a terminal, plain text when piped, JSON and JSONL.

Chosen from the Terminal (STYLE rule 2). Answers go to stdout; everything else to
stderr (rule 3). Model text and file names are never parsed as rich markup (rule 4).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.output.controls import show_controls, strip_controls
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.subtitles import labelled_text, subtitle_file
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Format


class Renderer:
    """Base: receives one input's stream live (`begin`/`content`/`end`) or whole (`result`)."""

    def __init__(self, term: Terminal, diag: Diagnostics, *, show_thinking: bool = False):
        self.term = term
        self.diag = diag
        self.show_thinking = show_thinking
        self.multi = False  # several inputs: text output gets ==> INPUT <== headers
        self._in_reasoning = False
        self._label = ""  # the input whose answer or reasoning comes now

    # live streaming (one input at a time)
    def begin(self, input: str) -> None: ...
    def content(self, text: str) -> None: ...

    def reasoning(self, text: str) -> None:
        if self.show_thinking:
            # Several inputs: each piece of reasoning under its input's name on stderr, as
            # answers are under theirs on stdout. With -j > 1 an input's reasoning is shown
            # whole once it has answered, so pieces never interleave (issue 19.23).
            if not self._in_reasoning and self.multi:
                self.diag.reasoning_header(self._label)
            self._in_reasoning = True
            self.diag.reasoning(text)

    def _reasoning_of(self, result: Result) -> None:
        """A whole result's reasoning (not streamed), under its input's name."""
        self._label = result.input
        if result.reasoning:
            self.reasoning(result.reasoning)

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
        self._reasoning_of(result)
        if result.segments:
            self.content(self.segmented_text(result))  # describe --segment: under [00:00:00–00:00:30]
        elif result.text:
            self.content(result.text)
        self.end(result)

    def segmented_text(self, result: Result) -> str:
        return labelled_text(result)

    def close(self) -> None: ...


class PlainRenderer(Renderer):
    """Piped stdout: plain text, flushed as it arrives."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self._first = True
        self._wrote = False
        self._ends_newline = True

    def result(self, result: Result) -> None:
        """Text shows whole answers only: a failed one (cut, stopped at max_tokens,
        filtered) is its error line on stderr, never half a caption under a header on
        stdout (issue 11). JSON and JSONL keep its text next to its error."""
        if result.error is None:
            super().result(result)

    def begin(self, input: str) -> None:
        self._label = input
        self._wrote = False
        self._ends_newline = True
        if self.multi:
            sep = "" if self._first else "\n"
            self.term.stdout.write(f"{sep}==> {input} <==\n")
            self.term.stdout.flush()
        self._first = False

    def content(self, text: str) -> None:
        self._end_reasoning()
        text = strip_controls(text)  # piped: the text, never a control (issue 19, item 12)
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

    def segmented_text(self, result: Result) -> str:
        return labelled_text(result, gap="\n\n")  # Markdown: the label its own paragraph

    def begin(self, input: str) -> None:
        self._label = input
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
        self._buffer += show_controls(text)  # a terminal: shown as \x1b, never obeyed
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
        self._reasoning_of(result)
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
        self._reasoning_of(result)
        self.end(result)

    def close(self) -> None:
        doc: Any = (self.items[0] if self.items else None) if self.single else self.items
        self.term.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        self.term.stdout.flush()


class SubtitleRenderer(Renderer):
    """`--format vtt|srt` (describe --segment): the one input's cues as a subtitle file,
    written once every segment has answered; a failed input writes nothing to stdout."""

    def __init__(self, *a: Any, kind: str, **kw: Any):
        super().__init__(*a, **kw)
        self.kind = kind

    def content(self, text: str) -> None: ...  # never streamed: the cues need every segment

    def end(self, result: Result) -> None:
        super().end(result)
        if result.error is None and result.segments:
            self.term.stdout.write(subtitle_file(self.kind, result.cleaned()))
            self.term.stdout.flush()

    def result(self, result: Result) -> None:
        self._reasoning_of(result)
        self.end(result)


def make_renderer(
    fmt: Format, term: Terminal, diag: Diagnostics, *, show_thinking: bool, single: bool = False
) -> Renderer:
    if fmt == "jsonl":
        return JsonlRenderer(term, diag, show_thinking=show_thinking)
    if fmt == "json":
        return JsonRenderer(term, diag, show_thinking=show_thinking, single=single)
    if fmt in ("vtt", "srt"):
        return SubtitleRenderer(term, diag, show_thinking=show_thinking, kind=fmt)
    if term.stdout_isatty:
        return RichRenderer(term, diag, show_thinking=show_thinking)
    return PlainRenderer(term, diag, show_thinking=show_thinking)
