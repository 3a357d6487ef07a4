"""How many inputs the scheduler (runner/scheduler.py) keeps in flight, adapted to the
account's rate limits (issue 13: a new account allows one request at a time).

- Slow start: one request first, then twice as many after each success, up to -j. On a
  tier-0 account, -j requests at once would answer -j - 1 rate-limit 429s before the
  first answer; slow start meets the limit with one. Only for the default -j: a -j the
  user set (flag, env or config) starts at once, since slow start costs a few rounds of
  latency (issue 12: 64 inputs at 0.5 s latency, -j 8).
- A 429 naming a concurrency ("max organization concurrency: 1") caps the limit there for
  the rest of the run. One naming RPM or TPM changes no slot (the client's Gate paces the
  starts). One naming nothing halves the limit, at most once per wait.
- After a rate limit, one slot more per RAISE_AFTER successes in a row, never past a
  named concurrency or -j.
- No new input starts before Moonshot's "try again after N seconds" has passed.

Time comes from an injectable Clock (api/ratelimit.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kimi_vision_cli.api import ratelimit
from kimi_vision_cli.api.errors import RateLimit

# Additive increase after a rate limit: one more slot per this many successes in a row.
RAISE_AFTER = 5
# A burst of 429s from requests already in flight counts as one signal, not several:
# the limit is halved at most once per back-off window (this long when no wait is given).
DEFAULT_WINDOW = 1.0

# on_change(old, new, why): told of each change a rate limit or the growth back makes.
OnChange = Callable[[int, int, str], None]


class AdaptiveLimit:
    """How many requests may be in flight (thread-safe: 429s arrive on worker threads)."""

    def __init__(
        self,
        maximum: int,
        on_change: OnChange | None = None,
        clock: ratelimit.Clock | None = None,
        *,
        slow_start: bool = True,
    ):
        self.maximum = maximum
        self.ceiling = maximum  # a named concurrency lowers it for the run
        self.slow_start = slow_start and maximum > 1
        self.current = 1 if self.slow_start else maximum
        self.rate_limits = 0
        self._ok = 0
        self._resume_at = float("-inf")
        self._lock = threading.Lock()
        self._on_change = on_change
        self._clock = clock or ratelimit.default_clock

    def on_rate_limit(self, limit: RateLimit) -> None:
        """Called from worker threads by the client's response hook."""
        now = self._clock.now()
        wait = limit.wait
        with self._lock:
            self.rate_limits += 1
            self.slow_start = False
            self._ok = 0
            in_window = now < self._resume_at
            self._resume_at = max(self._resume_at, now + (wait if wait is not None else DEFAULT_WINDOW))
            old = self.current
            if limit.kind == "concurrency" and limit.limit:
                self.ceiling = min(self.ceiling, max(1, limit.limit))
                self.current = min(self.current, self.ceiling)
            elif limit.kind is None and not in_window:
                self.current = max(1, self.current // 2)
        if old != self.current and self._on_change:
            waited = f", wait {wait:g}s" if wait is not None else ""
            self._on_change(old, self.current, f"rate limited ({limit.describe()}{waited})")

    def on_success(self) -> None:
        with self._lock:
            old = self.current
            if self.slow_start:
                self.current = min(self.ceiling, self.current * 2)
                self.slow_start = self.current < self.ceiling
                return
            self._ok += 1
            if self._ok < RAISE_AFTER or self.current >= self.ceiling:
                return
            self._ok = 0
            self.current += 1
        if self._on_change:
            self._on_change(old, self.current, "steady")

    def paused_for(self) -> float:
        """Seconds left before new requests may start (Moonshot's "try again after N")."""
        with self._lock:
            return max(0.0, self._resume_at - self._clock.now())
