"""Batch progress on stderr: a live bar when stderr is a terminal, else one summary line,
and, with `every` (CI: stderr not a terminal, several inputs), a progress line every
`every` seconds of the injected clock, so a long quiet run (pacing at a rate limit) still
says how far it is (issue 19, item 22).

The bar shares the Diagnostics console, so error lines print above it instead of
through it. Driven from the scheduler's main thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kimi_vision_cli.output.diagnostics import Diagnostics


class BatchProgress:
    def __init__(
        self,
        diag: Diagnostics,
        *,
        live: bool,
        pause_for_stdout: bool = False,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.diag = diag
        self.live = live
        self.every = None if live else every  # seconds between progress lines; None: none
        self.clock = clock
        self._next_line: float | None = None
        self._began = 0.0
        # stdout on the same terminal: the bar is lifted while an answer prints.
        self.pause_for_stdout = pause_for_stdout
        self.started = time.monotonic()
        self.done = self.failed = self.skipped = 0
        self.total: int | None = None
        self._progress: Any = None
        self._task: Any = None

    def start(self) -> None:
        self.started = time.monotonic()
        if self.every:
            self._began = self.clock()
            self._next_line = self._began + self.every
        if not self.live:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[stats]}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[rate]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.diag.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task("describe", total=None, stats="", rate="")
        self._refresh()
        self._progress.start()
        self.diag.live_progress = self._progress

    def update(self, *, done: int, failed: int, skipped: int, total: int | None = None) -> None:
        self.done, self.failed, self.skipped = done, failed, skipped
        if total is not None:
            self.total = total
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        finished = self.done + self.failed
        self._progress.update(
            self._task,
            stats=f"{self.done} done, {self.failed} failed, {self.skipped} skipped",
            rate=f"{finished / elapsed:.1f}/s",
            # Unknown while discovery streams: the bar pulses and ETA shows -:--:--.
            total=self.total,
            completed=finished + self.skipped,
        )

    def tick(self, usage: Callable[[], str | None]) -> None:
        """Called often from the run's loop: a progress line once `every` seconds have
        passed since the last (`usage`: the spend so far, asked for only then)."""
        if self._next_line is None:
            return
        now = self.clock()
        if now < self._next_line:
            return
        assert self.every is not None
        self._next_line = now + self.every
        self.diag.note(self.progress_line(now - self._began, usage()))

    def progress_line(self, elapsed: float, usage: str | None) -> str:
        """`progress: 12/40 done, 1 failed, 3 skipped after 1m30s; 31,204 tokens in, ... USD`
        (`12 done` while the inputs are still being listed)."""
        done = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        minutes, seconds = divmod(int(elapsed), 60)
        took = f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
        text = f"progress: {done} done, {self.failed} failed, {self.skipped} skipped after {took}"
        return text + (f"; {usage}" if usage else "")

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """Hide the bar while an answer goes to a stdout that is the same terminal."""
        if self._progress is None or not self.pause_for_stdout:
            yield
            return
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()

    def stop(self) -> None:
        self._next_line = None
        leftover = self.diag.live_progress
        if leftover is not None and leftover is not self._progress:
            leftover.stop()  # a video's own parts bar, its run stopped (Ctrl-C) before it closed
        self.diag.live_progress = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary_line(
        self,
        *,
        interrupted: bool = False,
        stopped: bool = False,
        not_started: int = 0,
        cut: int = 0,
        usage: str | None = None,
    ) -> str:
        """`24 done, 1 failed, 3 skipped in 4.2s; 31,204 tokens in, 1,022 out, 0.0337 USD`
        (the usage part once anything was answered); each input counted once."""
        elapsed = time.monotonic() - self.started
        text = f"{self.done} done, {self.failed} failed, {self.skipped} skipped"
        if cut:  # Ctrl-C/SIGTERM came while their requests were under way
            text += f", {cut} cut short"
        if not_started:
            text += f", {not_started} not started"
        text += f" in {elapsed:.1f}s" + (f"; {usage}" if usage else "")
        if interrupted:
            return f"interrupted: {text} — rerun to finish the rest"
        if stopped:
            return f"stopped: {text} — the rest was not sent"
        return text


@contextmanager
def frame_bar(diag: Diagnostics, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A frame counter on the terminal stderr (video downscaling): a row of the batch bar
    when one is shown, else a transient bar of its own. Safe from worker threads: rich's
    Progress methods take its lock."""
    host = diag.live_progress
    if host is not None:
        task = host.add_task(label, total=total, stats=label, rate="")
        try:
            yield lambda n: host.update(task, completed=n, stats=f"{label}: {n} frames")
        finally:
            host.remove_task(task)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn(label, markup=False), BarColumn(), TextColumn("{task.completed} frames"),
        TimeRemainingColumn(), console=diag.console, transient=True,
    )  # fmt: skip
    task = progress.add_task(label, total=total)
    progress.start()
    try:
        yield lambda n: progress.update(task, completed=n)
    finally:
        progress.stop()


class PartsBar:
    """One segmented video's parts on a terminal stderr (issue 23): how many are cut,
    sent and answered. A row of the batch bar when one is shown, else a transient bar of
    its own, which then also hosts --downscale-video's frame rows (two rich Live displays
    on one console corrupt it). Safe from worker threads: rich's Progress takes its lock."""

    def __init__(self, diag: Diagnostics, label: str, total: int):
        import threading

        self.diag, self.label, self.total = diag, label, total
        self.counts = {"cut": 0, "sent": 0, "answered": 0}
        self._lock = threading.Lock()
        self._own: Any = None
        host = diag.live_progress
        if host is None:
            from rich.progress import BarColumn, Progress, TextColumn

            host = self._own = Progress(
                TextColumn("{task.fields[stats]}", markup=False), BarColumn(),
                console=diag.console, transient=True, redirect_stdout=False, redirect_stderr=False,
            )  # fmt: skip
            host.start()
            diag.live_progress = host
        self.host = host
        self.task = host.add_task(label, total=total, stats=self._stats(), rate="")

    def _stats(self) -> str:
        c = self.counts
        # The counts first: a narrow terminal cuts the end of the line, the name.
        return f"{c['answered']}/{self.total} parts answered, {c['cut']} cut, {c['sent']} sent: {self.label}"

    def add(self, what: str) -> None:
        """One more part cut, sent or answered."""
        with self._lock:
            self.counts[what] += 1
            self.host.update(self.task, completed=self.counts["answered"], stats=self._stats())

    def close(self) -> None:
        with self._lock:
            self.host.remove_task(self.task)
            if self._own is not None:
                self._own.stop()
                if self.diag.live_progress is self._own:
                    self.diag.live_progress = None
                self._own = None
