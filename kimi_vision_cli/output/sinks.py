"""The CLI's sink (events.py): a run's events shown with the renderer the command picked
(rich, plain, json, jsonl, vtt/srt: output/render.py) and, for several inputs, the
progress bar or CI progress lines on stderr (output/progress.py). Only here is the
output format or a terminal consulted for a run; the runner just emits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kimi_vision_cli import events as ev
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.progress import BatchProgress
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.render import Renderer
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Format

PROGRESS_EVERY = 30.0  # seconds between progress lines when stderr is not a terminal (CI)


class RenderSink:
    def __init__(
        self,
        renderer: Renderer,
        fmt: Format,
        term: Terminal,
        diag: Diagnostics,
        *,
        verbose: bool = False,
        observe: Callable[[Result], None] | None = None,
    ):
        self.renderer, self.fmt, self.term, self.diag = renderer, fmt, term, diag
        self.verbose = verbose
        # Every input's final record, whatever the format prints (describe --report).
        self.observe = observe
        self.multi = False
        self.progress: BatchProgress | None = None

    @property
    def streams(self) -> bool:
        return self.fmt == "text"  # JSON, JSONL and subtitles need the whole answer

    def emit(self, event: ev.Event) -> None:  # noqa: C901 - one branch per event kind
        r = self.renderer
        if isinstance(event, ev.Started):
            r.begin(event.input)
        elif isinstance(event, ev.TextStreamed):
            r.content(event.text)
        elif isinstance(event, ev.ReasoningStreamed):
            r.reasoning(event.text)
        elif isinstance(event, ev.Finished):
            self._finished(event.result, event.streamed)
        elif isinstance(event, ev.Unanswered):
            # The record of an input that never got its answer: printed in JSON/JSONL
            # (SPEC: one object per input); text says it in one line instead.
            if self.fmt != "text":
                r.result(event.result)
            if self.observe is not None:
                self.observe(event.result)
        elif isinstance(event, ev.Progress) and self.progress is not None:
            self.progress.update(
                done=event.done, failed=event.failed, skipped=event.skipped, total=event.total
            )
        elif isinstance(event, ev.Tick) and self.progress is not None:
            self.progress.tick(event.usage)
        elif isinstance(event, ev.Paced) and (self.verbose or not event.detail):
            self.diag.note(event.message)
        elif isinstance(event, ev.RunStarted):
            self._started(event)
        elif isinstance(event, ev.RunEnded) and self.progress is not None:
            self.progress.stop()
        elif isinstance(event, ev.Summary) and self.multi and self.progress is not None:
            self.diag.note(
                self.progress.summary_line(
                    interrupted=event.interrupted,
                    stopped=event.stopped,
                    not_started=event.not_started,
                    cut=event.cut,
                    usage=event.usage,
                )
            )

    def _started(self, event: ev.RunStarted) -> None:
        self.multi = self.renderer.multi = event.multi
        term = self.term
        live = term.stderr_isatty and event.multi and not (event.live and term.stdout_isatty)
        self.progress = BatchProgress(
            self.diag, live=live, pause_for_stdout=term.stdout_isatty,
            every=PROGRESS_EVERY if event.multi and not term.stderr_isatty else None,
            clock=event.clock,
        )  # fmt: skip
        self.progress.start()

    def _finished(self, result: Result, streamed: bool) -> None:
        if streamed:
            self.renderer.end(result)
        elif result.error is None or self.fmt != "text":
            # Not streamed: printed whole (under its ==> header) now that it is finished.
            # A failed answer's text (cut mid-stream, max_tokens) is never printed as
            # text: a script reading stdout would take half a caption for a whole one.
            if self.progress is not None:
                with self.progress.lifted():
                    self.renderer.result(result)
            else:
                self.renderer.result(result)
        if self.observe is not None:
            self.observe(result)
