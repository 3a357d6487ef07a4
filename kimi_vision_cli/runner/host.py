"""The machine a run is on, as one value (STYLE rule 13, issue 21 item 3: inject, don't
patch): the clock pacing keeps, how the run sleeps, how `batch results --wait` polls, and
how many cores prepare inputs. The runner Context holds one (runner/context.py); the CLI
(`cli.main.run(argv, term, host=...)`) and the Python API (`kv.describe(..., host=...)`)
take one, and a test passes fakes (a clock it moves, a sleep that returns at once,
cores=2) instead of replacing module globals. `Host()` is the real machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic."""
        ...

    def wait(self, cond: threading.Condition, seconds: float | None) -> None:
        """Wait on `cond` (held) until notified or `seconds` of this clock have passed."""
        ...


class SystemClock:
    """Real time; `scale` > 1 makes every second shorter (tests of a shortened minute)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def now(self) -> float:
        return time.monotonic() * self.scale

    def wait(self, cond: threading.Condition, seconds: float | None) -> None:
        cond.wait(None if seconds is None else max(0.0, seconds) / self.scale)


@dataclass(frozen=True)
class Backoff:
    """Delays between two looks at a running batch: from seconds to a minute (Moonshot's
    batches end within their completion window, 12h..7d: no need to hammer the API)."""

    first: float = 5.0
    factor: float = 1.5
    cap: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


def affinity_cores() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Host:
    clock: Clock = field(default_factory=SystemClock)
    # Every sleep of a run: `batch results --wait` between looks, the chat transport
    # between retries. Ctrl-C comes out of it (KeyboardInterrupt) to the caller.
    sleep: Callable[[float], None] = time.sleep
    poll: Backoff = Backoff()
    cores: int = field(default_factory=affinity_cores)
