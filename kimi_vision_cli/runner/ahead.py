"""Preparation ahead of the requests (issue 12, item 1).

-j bounds the requests in flight. Reading, sniffing, decoding and resizing are CPU and
disk work that need not wait for a free request: a small pool of daemon threads (one
per core, at most -j: runner/admission.py) prepares the next inputs while the requests
in flight wait on the network, so a request that ends is followed at once by one that
is ready. The inputs prepared ahead are few (as many as the pool) and their media are
held against --max-memory like a request's. When the run stops (Ctrl-C, --max-cost, an
error every input shares), nothing more is prepared and what was is let go.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.plan import Planned, plan
from kimi_vision_cli.runner.admission import Admission, body_bytes
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.types import Source


@dataclass
class Ready:
    """One input prepared and planned, its media's bytes held against --max-memory until
    its request is sent (`held`); or the error that stopped it, naming the input."""

    media: list[dict[str, Any]] = field(default_factory=list)  # the records, for its Result
    planned: Planned | None = None
    error: KimiVisionError | None = None
    held: int = 0


def prepare_ready(source: Source, ctx: Context, admission: Admission, ticket: int | None = None) -> Ready:
    """Read, prepare and plan one input in one of the run's preparation slots, its bytes
    admitted to the byte budget first (keeping the slot while it waits: nothing more is
    read meanwhile), and in `ticket`'s turn when prepared ahead (admitted in the order
    sent). A local file is admitted at its size before it is read, then at what its
    prepared media hold; other inputs (stdin, URLs) once read, as their size is known."""
    ready = Ready()
    memory = admission.memory
    admitted: int | None = None
    try:
        with admission.preparing():
            hint = _file_size(source)
            if hint is not None:
                memory.acquire(hint, ticket)
                admitted, ticket = hint, None  # its turn is taken
            prepared = prepare_source(source, ctx)
            ready.media = [prepared.record]
            planned = plan([prepared], None, ctx.settings, label=source.display)
            ready.media = planned.records
            size = body_bytes(planned)
            if admitted is None:
                memory.acquire(size, ticket)
            else:
                memory.adjust(admitted, size)
            admitted = None
            ready.planned, ready.held = planned, size
    except KimiVisionError as err:
        ready.error = err.with_input(source.display)
    finally:
        if admitted is not None:
            memory.release(admitted)  # read, then failed: its bytes are let go
        if ticket is not None and ready.planned is None:
            memory.pass_turn(ticket)  # failed before its turn: the next in line must not wait for it
    return ready


def _file_size(source: Source) -> int | None:
    if source.kind != "path" or source.error is not None:
        return None
    try:
        return os.stat(source.value).st_size
    except OSError:
        return None  # reading it says why


class Ahead:
    """The preparation pool of one run: `pairs` starts each input's preparation a few
    inputs before the scheduler takes it; `take` hands the worker what was prepared."""

    def __init__(self, ctx: Context, admission: Admission, stopping: Callable[[], bool]):
        self.ctx, self.admission, self.stopping = ctx, admission, stopping
        self.depth = admission.preparers
        self._todo: queue.Queue[tuple[Source, Future[Ready], int] | None] = queue.Queue()
        self._ready: dict[Source, deque[Future[Ready]]] = {}  # by value: the same input twice is alike
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def pairs(self, pairs: Iterable[tuple[Source, bool]]) -> Iterator[tuple[Source, bool]]:
        """The same (source, skipped) pairs; each unskipped input's preparation is started
        when it comes within `depth` inputs of being taken (not once the run is stopping)."""
        window: deque[tuple[Source, bool]] = deque()
        it = iter(pairs)
        while True:
            while len(window) <= self.depth and not self.stopping():
                pair = next(it, None)
                if pair is None:
                    break
                window.append(pair)
                if not pair[1]:
                    self._start(pair[0])
            if window:
                yield window.popleft()
                continue
            pair = next(it, None)  # stopping: the rest passes through unprepared
            if pair is None:
                return
            yield pair

    def _start(self, source: Source) -> None:
        if not self._threads:  # daemons: a Ctrl-C never waits for a preparation to end
            for i in range(self.admission.preparers):
                t = threading.Thread(target=self._run, name=f"kimi-vision-prepare-{i}", daemon=True)
                t.start()
                self._threads.append(t)
        future: Future[Ready] = Future()
        with self._lock:
            self._ready.setdefault(source, deque()).append(future)
        self._todo.put((source, future, self.admission.memory.ticket()))

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            self._prepare(*job)
            del job  # not kept while waiting for the next: its future holds the media's bytes

    def _prepare(self, source: Source, future: Future[Ready], ticket: int) -> None:
        if not future.set_running_or_notify_cancel():
            self.admission.memory.pass_turn(ticket)
            return
        try:
            future.set_result(prepare_ready(source, self.ctx, self.admission, ticket))
        except BaseException as exc:  # a bug: raised again in the worker that takes it
            future.set_exception(exc)

    def take(self, source: Source) -> Ready | None:
        """What was prepared for `source` (waiting for it if need be); None when its
        preparation was never started (it came through while stopping)."""
        with self._lock:
            futures = self._ready.get(source)
            future = futures.popleft() if futures else None
            if futures is not None and not futures:
                del self._ready[source]
        return future.result() if future is not None else None

    def close(self) -> None:
        """The run is over: what is still queued is dropped, what was prepared and never
        taken gives its bytes back, and the threads end."""
        with self._lock:
            left = [f for futures in self._ready.values() for f in futures]
            self._ready.clear()
        for future in left:
            if not future.cancel():
                future.add_done_callback(self._release)
        self.admission.memory.close()  # a preparation waiting for room or its turn goes on, to be let go
        for _ in self._threads:
            self._todo.put(None)

    def _release(self, future: Future[Ready]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.admission.memory.release(future.result().held)
