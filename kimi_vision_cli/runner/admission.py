"""What a describe run lets start beside -j (issue 12). -j bounds the requests in flight;
two more bounds keep a batch within the machine:

- Preparation (read, sniff, decode and resize, plan) is CPU work: at most the Host's
  `cores` (runner/host.py) inputs (and at most -j) are prepared at once, whatever -j is, so eight 8K images do
  not decode at once on two cores. The pool that prepares them works a few inputs
  ahead of the requests (runner/ahead.py).
- Memory: a request holds its prepared media until it has been sent. One is admitted
  only while the bytes held by the requests in flight stay within --max-memory; one
  bigger than the budget still goes, alone. An input waiting for room keeps its
  preparation slot, so nothing more is prepared meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kimi_vision_cli.plan import Planned

MB = 1024 * 1024


def body_bytes(planned: Planned) -> int:
    """What one request holds until it is sent: the bytes of its prepared media."""
    return sum(len(m.ref.data) for m in planned.media if m.ref.data is not None)


class ByteBudget:
    """Bytes held by the inputs prepared and not yet sent, admitted while they stay within
    `budget`. Inputs prepared ahead (runner/ahead.py) are admitted in the order they will
    be sent, by ticket: a later small input admitted before an earlier big one would hold
    the bytes the big one waits for while the one request allowed waits for the big one."""

    def __init__(self, budget: int):
        self.budget = budget
        self.held = 0
        self._cond = threading.Condition()
        self._tickets = 0  # handed out
        self._turn = 0  # the ticket admitted next
        self._passed: set[int] = set()  # tickets given up before their turn
        self._closed = False

    def ticket(self) -> int:
        with self._cond:
            self._tickets += 1
            return self._tickets - 1

    def acquire(self, size: int, ticket: int | None = None) -> None:
        """Wait until it is `ticket`'s turn (if any) and `size` more bytes fit (or nothing
        is held: a big one goes alone)."""
        with self._cond:
            while not self._closed and (
                (ticket is not None and ticket != self._turn)
                or (self.held and self.held + size > self.budget)
            ):
                self._cond.wait()
            self.held += size
            if ticket is not None:
                self._next_turn(ticket)

    def pass_turn(self, ticket: int) -> None:
        """`ticket` will not be admitted (its preparation failed or was dropped)."""
        with self._cond:
            self._next_turn(ticket)

    def _next_turn(self, ticket: int) -> None:
        self._passed.add(ticket)
        while self._turn in self._passed:
            self._passed.discard(self._turn)
            self._turn += 1
        self._cond.notify_all()

    def release(self, size: int) -> None:
        with self._cond:
            self.held -= size
            self._cond.notify_all()

    def adjust(self, admitted: int, size: int) -> None:
        """What was admitted as `admitted` bytes (a file's size, before reading it) holds
        `size` once prepared: less (a resized image) at once; more (a HEIC converted to
        PNG) once the growth fits, or when nothing but itself is held."""
        with self._cond:
            grow = size - admitted
            while grow > 0 and not self._closed and self.held > admitted and self.held + grow > self.budget:
                self._cond.wait()
            self.held += grow
            self._cond.notify_all()

    def close(self) -> None:
        """The run is over: nobody waits any more (what is admitted now is let go)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Admission:
    """One run's preparation pool and byte budget, shared by its workers."""

    def __init__(self, concurrency: int, max_memory_mb: int, cores: int):
        self.preparers = max(1, min(cores, concurrency))
        self._preparing = threading.BoundedSemaphore(self.preparers)
        self.memory = ByteBudget(max_memory_mb * MB)

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """One of the few preparation slots, for as long as the block runs."""
        with self._preparing:
            yield
