"""A clock for the Host a test gives a run (kimi_vision_cli/runner/host.py): it moves only
when a wait asks it to, so pacing's minutes pass at once, without real sleeps."""

from __future__ import annotations

import threading


class FakeClock:
    """A wait of N seconds moves the clock N seconds at once and returns (`waits` records
    them). A wait for a notification (no seconds: every request slot taken) waits on the
    condition for real, briefly: another thread's release notifies it."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def wait(self, cond: threading.Condition, seconds: float | None) -> None:
        if seconds is None:
            cond.wait(0.05)
            return
        with self._lock:
            self.waits.append(seconds)
            self.t += max(0.0, seconds)
