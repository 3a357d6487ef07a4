"""What the describe scheduler (scheduler.py) moves between its threads: the sidecar
writes an interrupt waits for, the live-stream sink, an input split into parts
(--segment), and a finished job handed back to the main thread."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kimi_vision_cli import events as ev
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.types import Source

# -- sidecar writes that an interrupt waits for ---------------------------------------


class Writes:
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


class Live:
    """A sink passing one answer's live stream through, noting whether it began showing."""

    streams = True

    def __init__(self, inner: ev.Sink):
        self.inner = inner
        self.began = False
        self.wrote = False  # some of the answer's text is on stdout (not only its reasoning)
        self.finished = False  # the request returned (whole, or failed and reported)
        self.input = ""

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Started):
            self.began, self.input = True, event.input
        elif isinstance(event, ev.TextStreamed):
            self.wrote = self.wrote or bool(event.text)
        self.inner.emit(event)


@dataclass
class Split:
    """One input that became several requests (describe --segment): the scheduler runs
    `parts` under -j like inputs, then `join` makes the input's Result from theirs, in
    order (None: not run, because an earlier part failed)."""

    parts: list[Callable[[], Result]]
    join: Callable[[list[Result | None]], Result]


# One input's whole job on a worker: source, the live sink (or None) -> its Result, or
# the Split whose parts make it.
Work = Callable[[Source, ev.Sink | None], Result | Split]


@dataclass
class Group:
    """A Split in progress: which parts were queued, which answered."""

    source: Source
    split: Split
    results: list[Result | None]
    queued: int = 0
    running: int = 0
    failed: bool = False

    @property
    def over(self) -> bool:
        return self.running == 0 and self.all_queued

    @property
    def all_queued(self) -> bool:
        """No part left to queue: all were, or one failed (the rest is not sent)."""
        return self.failed or self.queued == len(self.split.parts)

    def answered(self, index: int, result: Result) -> bool:
        """Note part `index`'s answer; whether the input is over (its parts all ended)."""
        self.results[index] = result
        self.running -= 1
        self.failed = self.failed or result.error is not None  # the rest is not sent
        return self.over


@dataclass(frozen=True)
class Part:
    group: Group
    index: int


@dataclass
class Done:
    result: Result | None = None
    streamed: bool = False
    dropped: bool = False  # finished after Ctrl-C: no sidecar written, not reported
    exc: BaseException | None = None
    split: tuple[Source, Split] | None = None  # the input became parts to queue
    part: Part | None = None  # one part's answer (result)
    joined: bool = False  # an input made of parts: its requests were counted as each answered
    writing: bool = False  # its outputs' write is still counted as under way (Writes.end after it is queued)


class Groups:
    """The inputs made of parts with parts still to queue, oldest first: their parts go
    before the next input, in order."""

    def __init__(self) -> None:
        self._queue: deque[Group] = deque()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def add(self, source: Source, split: Split) -> None:
        self._queue.append(Group(source, split, [None] * len(split.parts)))

    def next_part(self) -> Part | None:
        while self._queue:
            group = self._queue[0]
            if group.all_queued:
                self._queue.popleft()
                continue
            group.queued += 1
            group.running += 1
            return Part(group, group.queued - 1)
        return None

    def take_partly_sent(self) -> list[Group]:
        """The groups with parts never queued (the run stops); none is kept."""
        groups = [group for group in self._queue if not group.all_queued]
        self._queue.clear()
        return groups
