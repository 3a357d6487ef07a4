"""Pacing chat requests to what the account's rate limits allow (issue 13).

A 429 names the limit it hit (api/errors.py parse_rate_limit). The Gate learns from it
and holds every later chat request (each attempt, the SDK's own retries included: the
client calls it around each HTTP send) until it may go:

- concurrency N: at most N chat requests in flight, and nothing else: no RPM or TPM is
  assumed from it (a server may cap concurrency alone; issue 19, item 25).
- RPM N: request starts at least 60/N s apart, and never more than N in any minute
  (every attempt counts, the refused ones too: the starts made before the limit was
  known are not let through twice), for the rest of the run.
- TPM N: starts spaced so each request's tokens (its max_tokens, which TPM counts, plus
  the input tokens seen so far) fit N per minute.
- "try again after N seconds": nothing starts before then.

Learned limits only tighten during a run (growing back stays cautious: the scheduler adds
in-flight slots one by one, never past a named concurrency). Time comes from a Clock,
injectable: tests run Moonshot's minute faster, unit tests on a clock they move.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from kimi_vision_cli.api.errors import RateLimit

# Starts are spaced this much wider than the limit allows: Moonshot's window and ours do
# not start at the same instant, and a request arrives a little after it leaves.
MARGIN = 1.1
MINUTE = 60.0


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


# What a run uses unless given a clock. Tests replace it to shorten Moonshot's minute.
default_clock: SystemClock = SystemClock()


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


class Gate:
    """Holds chat requests until the learned limits allow them (thread-safe)."""

    def __init__(self, clock: Clock | None = None, *, budget: int | None = None):
        self.clock: Clock = clock or default_clock
        self.budget = budget or 0  # max_tokens each request reserves (TPM counts it)
        self.concurrency: int | None = None
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.rate_limits = 0  # rate-limit 429s seen
        self._cond = threading.Condition()
        self._in_flight = 0
        self._last_start: float | None = None
        self._last_weight = 0
        self._starts: deque[float] = deque()  # the starts of the last minute
        self._resume_at = float("-inf")
        self._input_seen = (0, 0)  # (input tokens, answers): a request's likely input

    # -- learning ----------------------------------------------------------------------
    def learn(self, limit: RateLimit) -> str | None:
        """Take in one rate-limit 429; what was learned, for -v (None: nothing new)."""
        with self._cond:
            self.rate_limits += 1
            if limit.wait is not None:
                self._resume_at = max(self._resume_at, self.clock.now() + limit.wait)
            note = self._tighten(limit)
            self._cond.notify_all()
        return note

    def _tighten(self, limit: RateLimit) -> str | None:
        value = limit.limit
        if value is None or value < 1:
            return None
        if limit.kind == "concurrency" and (self.concurrency is None or value < self.concurrency):
            self.concurrency = value
            return f"rate limit: {_plural(value, 'request')} at a time" + self._pacing()
        if limit.kind == "rpm" and (self.rpm is None or value < self.rpm):
            self.rpm = value
            return f"rate limit: {value:,} requests/min" + self._pacing()
        if limit.kind == "tpm" and (self.tpm is None or value < self.tpm):
            self.tpm = value
            weight = self._weight()
            return (
                f"rate limit: {value:,} tokens/min, {weight:,} a request (max_tokens counts)" + self._pacing()
            )
        return None

    def _pacing(self) -> str:
        gap = self._gap(self._weight())
        return f" — pacing starts {gap:.3g} s apart" if gap else ""

    def note_usage(self, input_tokens: int) -> None:
        """An answer's input tokens: what the next requests likely send (TPM pacing)."""
        with self._cond:
            total, count = self._input_seen
            self._input_seen = (total + max(0, input_tokens), count + 1)

    def _weight(self) -> int:
        total, count = self._input_seen
        return self.budget + (total // count if count else 0)

    def _gap(self, weight: int) -> float:
        """Seconds between two starts, from the learned RPM and TPM."""
        gaps = [0.0]
        if self.rpm:
            gaps.append(MINUTE / self.rpm)
        if self.tpm and weight:
            # A request heavier than the whole TPM still fits once the minute has passed.
            gaps.append(MINUTE * min(1.0, weight / self.tpm))
        return max(gaps) * MARGIN if max(gaps) else 0.0

    # -- holding requests ----------------------------------------------------------------
    def acquire(self) -> None:
        """Block until one more chat request may start; then it counts as in flight."""
        with self._cond:
            while True:
                now = self.clock.now()
                start = self._next_start(now)
                free = self.concurrency is None or self._in_flight < self.concurrency
                if free and now >= start:
                    self._in_flight += 1
                    self._last_start, self._last_weight = now, self._weight()
                    self._starts.append(now)
                    return
                self.clock.wait(self._cond, start - now if free else None)

    def _next_start(self, now: float) -> float:
        """The earliest time the next request may start."""
        start = self._resume_at
        if self._last_start is not None:
            start = max(start, self._last_start + self._gap(self._last_weight))
        while self._starts and self._starts[0] <= now - MINUTE * MARGIN:
            self._starts.popleft()
        if self.rpm and len(self._starts) >= self.rpm:
            start = max(start, self._starts[-self.rpm] + MINUTE * MARGIN)
        return start

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def releaser(self) -> Callable[[], None]:
        """release(), at most once (a response can be closed twice)."""
        once = threading.Lock()

        def release() -> None:
            if once.acquire(blocking=False):
                self.release()

        return release
