"""stderr, the diagnostics channel (STYLE rule 3): error, warning and note lines, and
the model's reasoning with --show-thinking. Everything here is untrusted text (model
output, file names, server messages): it is appended to rich Text, never parsed as
markup (rule 4).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.output.controls import show_controls, strip_controls
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from rich.console import Console


class Diagnostics:
    """stderr: errors, warnings, notes, reasoning. Thread-safe, one line per call."""

    def __init__(self, term: Terminal):
        self.term = term
        self._lock = threading.Lock()
        self._console: Console | None = None
        # The batch bar's rich Progress while it is shown: other bars join it as rows,
        # since two rich Live displays on one console corrupt its live stack.
        self.live_progress: Any = None

    @property
    def console(self) -> Console:
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
        # Line breaks folded (one line), spaces kept: a quoted name keeps its own.
        self._line("kimi-vision: warning: ", " ".join(line.strip() for line in text.splitlines()), "yellow")

    def note(self, text: str) -> None:
        self._line("kimi-vision: ", text, "dim")

    def reasoning(self, text: str) -> None:
        # Model text: on a terminal its controls are shown (\x1b), elsewhere dropped (issue 19, item 12).
        text = show_controls(text) if self.term.stderr_isatty else strip_controls(text)
        with self._lock:
            if self.term.stderr_isatty and self.term.color:
                from rich.text import Text

                self.console.print(Text(text, style="dim italic"), end="")
            else:
                self.term.stderr.write(text)
                self.term.stderr.flush()

    def reasoning_header(self, input: str) -> None:
        """Which input the reasoning below belongs to, when a run has several (19.23)."""
        line = f"==> {input} (reasoning) <=="
        with self._lock:
            if self.term.stderr_isatty and self.term.color:
                from rich.text import Text

                self.console.print(Text(line, style="dim bold"))  # Text: a name is never markup
            else:
                self.term.stderr.write(line + "\n")
                self.term.stderr.flush()

    def reasoning_end(self) -> None:
        with self._lock:
            self.term.stderr.write("\n")
            self.term.stderr.flush()
