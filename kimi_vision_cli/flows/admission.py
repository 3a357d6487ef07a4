"""What a describe run lets start beside -j (issue 12). -j bounds the requests in flight;
two more bounds keep a batch within the machine:

- Preparation (read, sniff, decode and resize, plan) is CPU work: at most `cores()`
  inputs (and at most -j) are prepared at once, whatever -j is, so eight 8K images do
  not decode at once on two cores. The pool that prepares them works a few inputs
  ahead of the requests (flows/ahead.py).
- Memory: a request holds its prepared media until it has been sent. One is admitted
  only while the bytes held by the requests in flight stay within --max-memory; one
  bigger than the budget still goes, alone. An input waiting for room keeps its
  preparation slot, so nothing more is prepared meanwhile.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kimi_vision_cli.plan import Planned

MB = 1024 * 1024


def cores() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def body_bytes(planned: Planned) -> int:
    """What one request holds until it is sent: the bytes of its prepared media."""
    return sum(len(m.ref.data) for m in planned.media if m.ref.data is not None)


class ByteBudget:
    """Bytes held by the requests in flight, admitted while they stay within `budget`."""

    def __init__(self, budget: int):
        self.budget = budget
        self.held = 0
        self._cond = threading.Condition()

    def acquire(self, size: int) -> None:
        """Wait until `size` more bytes fit (or nothing is held: a big one goes alone)."""
        with self._cond:
            while self.held and self.held + size > self.budget:
                self._cond.wait()
            self.held += size

    def release(self, size: int) -> None:
        with self._cond:
            self.held -= size
            self._cond.notify_all()


class Admission:
    """One run's preparation pool and byte budget, shared by its workers."""

    def __init__(self, concurrency: int, max_memory_mb: int):
        self.preparers = max(1, min(cores(), concurrency))
        self._preparing = threading.BoundedSemaphore(self.preparers)
        self.memory = ByteBudget(max_memory_mb * MB)

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """One of the few preparation slots, for as long as the block runs."""
        with self._preparing:
            yield
