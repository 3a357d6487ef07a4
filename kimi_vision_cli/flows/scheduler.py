"""Batch scheduling for `describe`: many inputs, a few requests in flight.

Inputs stream from discovery; each is read and prepared by a worker just before it
is sent, so memory stays flat however many inputs there are (issue 5). The main
thread owns everything that prints and every counter; workers do
prepare -> request -> sidecar write and hand back a finished Result.

- Concurrency adapts: a rate-limit 429 (seen through the client's RateLimitObserver,
  even when the SDK then retries it) halves the limit and pauses new requests for the
  wait Moonshot asked for; every RAISE_AFTER successes in a row add one back.
- An auth or quota error (exit 3) stops submitting at once; requests in flight finish.
- Ctrl-C stops submitting, lets the sidecar writes under way finish (no temp files,
  no half files), drops the requests still in flight, and exits 130.
"""

from __future__ import annotations

import hashlib
import queue
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from kimi_vision_cli.errors import ExitCode, KimiVisionError, UsageError, stops_run, worst
from kimi_vision_cli.flows.pipeline import Context, Summary, describe_one
from kimi_vision_cli.inputs.discover import Source
from kimi_vision_cli.output.progress import BatchProgress
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.render import Renderer
from kimi_vision_cli.output.sidecar import SidecarSpec, write_sidecar

# Additive increase after a halving: one more slot per this many successes in a row.
RAISE_AFTER = 5
# A burst of 429s from requests already in flight counts as one signal, not several:
# the limit is halved at most once per back-off window (this long when no wait is given).
DEFAULT_WINDOW = 1.0
_POLL = 0.1


# -- sharding -------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """`--shard K/N`, K 1-based: this machine takes the inputs whose path hashes to K."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise UsageError(f"--shard {text!r} is not K/N", hint="e.g. --shard 1/3 (K counts from 1)")
        k, n = int(m.group(1)), int(m.group(2))
        if n < 1 or not 1 <= k <= n:
            raise UsageError(
                f"--shard {text!r}: K must be between 1 and N", hint="e.g. --shard 1/3 ... --shard 3/3"
            )
        return cls(k, n)

    def owns(self, source: Source) -> bool:
        # sha1 of the input as given: the same on every machine and every Python
        # (hash() is salted per process).
        digest = hashlib.sha1(source.value.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


@dataclass(frozen=True)
class BatchOptions:
    sidecar: SidecarSpec | None = None
    on_exists: str = "skip"  # "skip" | "overwrite"
    shard: Shard | None = None


# -- adaptive concurrency -----------------------------------------------------------


class AdaptiveLimit:
    """How many requests may be in flight: halved on a rate limit, +1 per run of successes."""

    def __init__(self, maximum: int, on_change: Any = None):
        self.maximum = maximum
        self.current = maximum
        self._ok = 0
        self._resume_at = 0.0
        self._lock = threading.Lock()
        self._on_change = on_change
        self.rate_limits = 0

    def on_rate_limit(self, wait: float | None) -> None:
        """Called from worker threads by the client's response hook."""
        now = time.monotonic()
        with self._lock:
            self.rate_limits += 1
            self._ok = 0
            in_window = now < self._resume_at
            self._resume_at = max(self._resume_at, now + (wait if wait is not None else DEFAULT_WINDOW))
            if in_window:
                return
            old, self.current = self.current, max(1, self.current // 2)
        if old != self.current and self._on_change:
            self._on_change(old, self.current, wait)

    def on_success(self) -> None:
        with self._lock:
            self._ok += 1
            if self._ok < RAISE_AFTER or self.current >= self.maximum:
                return
            self._ok = 0
            old, self.current = self.current, self.current + 1
        if self._on_change:
            self._on_change(old, self.current, None)

    def paused_for(self) -> float:
        """Seconds left before new requests may start (Moonshot's "try again after N")."""
        return max(0.0, self._resume_at - time.monotonic())


# -- sidecar writes that an interrupt waits for ---------------------------------------


class _Writes:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    def begin(self) -> bool:
        with self._cond:
            if self._closed:
                return False
            self._active += 1
            return True

    def end(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """No new writes; wait for those under way."""
        with self._cond:
            self._closed = True
            while self._active:
                self._cond.wait()


class _Live(Renderer):
    """Passes the live stream through and notes whether the answer began printing."""

    def __init__(self, inner: Renderer):  # no super().__init__: a thin proxy
        self.inner = inner
        self.began = False

    def begin(self, input: str) -> None:
        self.began = True
        self.inner.begin(input)

    def content(self, text: str) -> None:
        self.inner.content(text)

    def reasoning(self, text: str) -> None:
        self.inner.reasoning(text)


@dataclass
class _Done:
    result: Result | None = None
    body: dict[str, Any] | None = None
    streamed: bool = False
    dropped: bool = False  # finished after Ctrl-C: no sidecar written, not reported
    exc: BaseException | None = None


# -- the run --------------------------------------------------------------------------


class Scheduler:
    def __init__(self, ctx: Context, renderer: Renderer, *, multi: bool, options: BatchOptions):
        self.ctx = ctx
        self.renderer = renderer
        self.multi = multi
        self.options = options
        s = ctx.settings
        self.maximum = 1 if s.dry_run else s.concurrency
        # Text streams live when answers cannot interleave: one input, or -j 1.
        self.streaming = s.format == "text" and (self.maximum == 1 or not multi)
        self.limit = AdaptiveLimit(self.maximum, self._limit_changed)
        self.summary = Summary()
        self.work: queue.Queue[Source | None] = queue.Queue()
        self.done: queue.Queue[_Done] = queue.Queue()
        self.writes = _Writes()
        self.interrupted = False
        self.stopped = False
        term = ctx.term
        live = term.stderr_isatty and multi and not (self.streaming and term.stdout_isatty)
        self.progress = BatchProgress(ctx.diag, live=live, pause_for_stdout=term.stdout_isatty)
        self._workers: list[threading.Thread] = []

    # worker side ------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            source = self.work.get()
            if source is None:
                return
            try:
                self.done.put(self._one(source))
            except BaseException as exc:  # a bug: re-raised in the main thread
                self.done.put(_Done(exc=exc))

    def _one(self, source: Source) -> _Done:
        live = _Live(self.renderer) if self.streaming else None
        result, body = describe_one(source, self.ctx, live)
        spec = self.options.sidecar
        if result.error is None and spec is not None and not self.ctx.settings.dry_run:
            if not self.writes.begin():
                return _Done(result, body, dropped=True)
            try:
                write_sidecar(spec, source, result)
            except KimiVisionError as err:
                result.error = err.with_input(result.input)
            finally:
                self.writes.end()
        return _Done(result, body, streamed=live is not None and live.began)

    # main side --------------------------------------------------------------------
    def run(self, sources: Iterable[Source]) -> Summary:
        self.renderer.multi = self.multi
        if not self.ctx.settings.dry_run:
            # A missing key stops the run before any input is read.
            self.ctx.client.observer.callbacks.append(self.limit.on_rate_limit)
        for _ in range(self.maximum):
            t = threading.Thread(target=self._work, name="kimi-vision-worker", daemon=True)
            t.start()
            self._workers.append(t)
        previous = self._trap_sigint()
        self.progress.start()
        try:
            self._loop(iter(sources))
        finally:
            self.progress.stop()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            for _ in self._workers:
                self.work.put(None)
        if not self.interrupted:
            for t in self._workers:
                t.join()
        if self.multi:
            self.ctx.diag.note(self.progress.summary_line(interrupted=self.interrupted, stopped=self.stopped))
        return self.summary

    def _trap_sigint(self) -> Any:
        """First Ctrl-C: finish the writes under way and stop. Second: quit at once."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True

        return signal.signal(signal.SIGINT, handler)

    def _loop(self, it: Iterator[Source]) -> None:
        in_flight = 0
        exhausted = False
        mine = 0
        opts = self.options
        while not self.interrupted:
            while (
                not (self.stopped or exhausted or self.interrupted)
                and in_flight < self.limit.current
                and not self.limit.paused_for()
            ):
                source = next(it, None)
                if source is None:
                    exhausted = True
                    self._progress(total=mine)
                    break
                if opts.shard is not None and not opts.shard.owns(source):
                    continue
                mine += 1
                if self._skip(source):
                    self.summary.skipped += 1
                    self._progress()
                    continue
                self.work.put(source)
                in_flight += 1
            if in_flight == 0 and (exhausted or self.stopped):
                return
            try:
                item = self.done.get(timeout=_POLL)
            except queue.Empty:
                continue
            in_flight -= 1
            self._finish(item)
        # Ctrl-C: no new writes, wait for those under way, report what is whole.
        self.writes.close()
        self.summary.exit_code = worst(self.summary.exit_code, ExitCode.INTERRUPTED)
        while True:
            try:
                item = self.done.get_nowait()
            except queue.Empty:
                break
            if not item.dropped:
                self._finish(item)

    def _skip(self, source: Source) -> bool:
        spec = self.options.sidecar
        if spec is None or self.options.on_exists != "skip" or source.error is not None:
            return False
        try:
            return spec.path_for(source).exists()
        except (OSError, ValueError):  # name too long, no permission: the write will say so
            return False

    def _progress(self, total: int | None = None) -> None:
        s = self.summary
        self.progress.update(done=s.done, failed=s.failed, skipped=s.skipped, total=total)

    def _limit_changed(self, old: int, new: int, wait: float | None) -> None:
        if self.ctx.settings.verbose:
            why = f"rate limited (wait {wait:g}s)" if wait is not None else "steady"
            self.ctx.diag.note(f"{why}: concurrency {old} -> {new}")

    def _finish(self, item: _Done) -> None:
        if item.exc is not None:
            raise item.exc
        result = item.result
        assert result is not None
        ctx, renderer = self.ctx, self.renderer
        if ctx.settings.dry_run and item.body is not None:
            from kimi_vision_cli.flows.pipeline import _print_dry_run

            _print_dry_run(ctx, item.body)
        elif item.streamed:
            renderer.end(result)
        elif result.error is None or result.text or ctx.settings.format != "text":
            # Not streamed: printed whole (under its ==> header) now that it is finished.
            with self.progress.lifted():
                renderer.result(result)
        err = result.error
        if err is None:
            self.summary.done += 1
            self.limit.on_success()
        else:
            self.summary.failed += 1
            self.summary.exit_code = worst(self.summary.exit_code, err.exit_code)
            # After a stop, the requests that were in flight fail the same way: one line is enough.
            if not (self.stopped and stops_run(err)):
                ctx.diag.error(err)
            if stops_run(err):
                self.stopped = True
        self._progress()


def run(
    sources: Iterable[Source],
    ctx: Context,
    renderer: Renderer,
    *,
    multi: bool,
    options: BatchOptions | None = None,
) -> Summary:
    return Scheduler(ctx, renderer, multi=multi, options=options or BatchOptions()).run(sources)
