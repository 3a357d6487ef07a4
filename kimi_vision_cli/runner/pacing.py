"""Pacing: how many chat requests go, and how fast, as Moonshot's 429s teach it (issue 13).
One module and one object, `Pacing`, for what was two (the api's Gate and the runner's
AdaptiveLimit; issue 21, item 1). The scheduler (runner/scheduler.py) asks it how many
inputs may be in flight (`slots`) and whether new ones must wait (`paused_for`), and tells
it each answer (`on_success`). The client (api/client.py, through the `Pacer` protocol of
api/gated.py) holds every chat attempt on it, retries included (`acquire`/`release`
around each HTTP send), tells it each rate-limit 429 (`rate_limited`) and the input
tokens each answer used (`note_usage`). The api only reads what the server said
(api/errors.py `RateLimit`).

What a 429 teaches (the limit it names; api/errors.py parse_rate_limit):
- concurrency N: at most N chat requests in flight, and N inputs in flight, for the rest
  of the run. No RPM or TPM is assumed from it (a server may cap concurrency alone;
  issue 19, item 25).
- RPM N: request starts at least 60/N s apart, and never more than N in any minute (every
  attempt counts, the refused ones too), for the rest of the run. No slot is lost.
- TPM N: starts spaced so each request's tokens (its max_tokens, which TPM counts, plus
  the input tokens seen so far) fit N per minute. Each request is weighed by its own
  max_tokens, which it carries (api/transport.py BUDGET_EXTENSION): the calls of one
  kv.Client sharing this Pacing may ask for different ones at once.
- none named: the inputs in flight are halved, at most once per wait.
- "try again after N seconds": no request and no new input starts before then.

Inputs in flight: slow start (one first, twice as many after each success, up to -j;
only for the default -j: a -j the user set starts at once, issue 12), then after a rate
limit one more per RAISE_AFTER successes in a row, never past a named concurrency or -j.
Learned limits only tighten.

Threading discipline: one Condition guards every field. Worker threads call `acquire`,
`release`, `rate_limited` and `note_usage`; the thread that owns the run calls `slots`,
`paused_for` and `on_success`. Nothing is called out while the lock is held: what is to
be said is returned (notices as (text, detail) pairs, detail shown with -v only) and the
caller hands it to the run's sink. Waiting is the Host's clock waiting on that Condition
(runner/host.py), so a test's clock drives it without real sleeps. A Pacing belongs to one
account and one run's settings; a Context reused across runs keeps it (runner/context.py).
"""

from __future__ import annotations

import threading
from collections import deque

from kimi_vision_cli.api.errors import RateLimit, over_tpm
from kimi_vision_cli.runner.host import Clock
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.types import counted

# Starts are spaced this much wider than the limit allows: Moonshot's window and ours do
# not start at the same instant, and a request arrives a little after it leaves.
MARGIN = 1.1
MINUTE = 60.0
# Additive increase after a rate limit: one more slot per this many successes in a row.
RAISE_AFTER = 5
# A burst of 429s from requests already in flight counts as one signal, not several:
# the slots are halved at most once per back-off window (this long when no wait is given).
DEFAULT_WINDOW = 1.0

# What to say: (text, detail). detail: shown with -v only (events.Paced).
Notice = tuple[str, bool]


class Pacing:
    """One account's pacing for a run (thread-safe; see the module docstring)."""

    def __init__(
        self,
        maximum: int,
        *,
        clock: Clock,
        slow_start: bool = True,
        verbose: bool = False,
    ):
        self.clock = clock
        self.verbose = verbose  # -v: what was learned, instead of the short notice
        self._cond = threading.Condition()
        # learned limits
        self.concurrency: int | None = None
        self.rpm: int | None = None
        self.tpm: int | None = None
        self.rate_limits = 0  # rate-limit 429s seen
        # chat attempts
        self._in_flight = 0
        self._last_start: float | None = None
        self._last_weight = 0
        self._starts: deque[float] = deque()  # the starts of the last minute
        self._resume_at = float("-inf")  # Moonshot's "try again after N seconds"
        self._input_seen = (0, 0)  # (input tokens, answers): a request's likely input
        # inputs in flight (the scheduler's slots)
        self.maximum = maximum
        self.ceiling = maximum  # a named concurrency lowers it for the run
        self.slow_start = slow_start and maximum > 1
        self.current = 1 if self.slow_start else maximum
        self._ok = 0
        self._window_end = float("-inf")  # no new input before; one halving per window
        self._said_unnamed = False  # a 429 naming no limit is said the first time only

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock) -> Pacing:
        """The pacing of a run with these settings: -j, whether it was given, -v."""
        return cls(
            settings.run.concurrency,
            clock=clock,
            slow_start="concurrency" in settings.defaulted,
            verbose=settings.run.verbose,
        )

    # -- what the client tells -----------------------------------------------------------
    def rate_limited(self, limit: RateLimit, budget: int = 0) -> list[Notice]:
        """One rate-limit 429 (from the worker whose request, reserving `budget` completion
        tokens, met it): learn, adapt; what to say about it, in order."""
        with self._cond:
            self.rate_limits += 1
            now = self.clock.now()
            if limit.wait is not None:
                self._resume_at = max(self._resume_at, now + limit.wait)
            learned = self._tighten(limit, budget)
            change = self._adapt(limit, now)
            unnamed_first = limit.kind is None and not self._said_unnamed
            self._said_unnamed = self._said_unnamed or limit.kind is None
            self._cond.notify_all()
        notices: list[Notice] = []
        if learned and self.verbose:
            notices.append((learned, True))
        elif limit.kind != "tpd" and not over_tpm(limit, budget):
            notice = _notice(limit, learned, unnamed_first)
            if notice:
                notices.append((notice, False))
        if change is not None:
            waited = f", wait {limit.wait:g}s" if limit.wait is not None else ""
            why = f"rate limited ({limit.describe()}{waited})"
            notices.append((f"{why}: concurrency {change[0]} -> {change[1]}", True))
        return notices

    def note_usage(self, input_tokens: int) -> None:
        """An answer's input tokens: what the next requests likely send (TPM pacing)."""
        with self._cond:
            total, count = self._input_seen
            self._input_seen = (total + max(0, input_tokens), count + 1)

    def _tighten(self, limit: RateLimit, budget: int) -> str | None:
        """Learn a named RPM, TPM or concurrency; what was learned, for -v (None: nothing
        new), its pacing told for a request like the one that met it (`budget`)."""
        value = limit.limit
        if value is None or value < 1:
            return None
        if limit.kind == "concurrency" and (self.concurrency is None or value < self.concurrency):
            self.concurrency = value
            return f"rate limit: {counted(value, 'request')} at a time" + self._pacing(budget)
        if limit.kind == "rpm" and (self.rpm is None or value < self.rpm):
            self.rpm = value
            return f"rate limit: {value:,} requests/min" + self._pacing(budget)
        if limit.kind == "tpm" and (self.tpm is None or value < self.tpm):
            self.tpm = value
            weight = self._weight(budget)
            return (
                f"rate limit: {value:,} tokens/min, {weight:,} a request (max_tokens counts)"
                + self._pacing(budget)
            )
        return None

    def _adapt(self, limit: RateLimit, now: float) -> tuple[int, int] | None:
        """The inputs in flight after a 429: (old, new) when they changed."""
        self.slow_start = False
        self._ok = 0
        in_window = now < self._window_end
        wait = limit.wait if limit.wait is not None else DEFAULT_WINDOW
        self._window_end = max(self._window_end, now + wait)
        old = self.current
        if limit.kind == "concurrency" and limit.limit:
            self.ceiling = min(self.ceiling, max(1, limit.limit))
            self.current = min(self.current, self.ceiling)
        elif limit.kind is None and not in_window:
            self.current = max(1, self.current // 2)
        return (old, self.current) if old != self.current else None

    def _pacing(self, budget: int) -> str:
        gap = self._gap(self._weight(budget))
        return f" — pacing starts {gap:.3g} s apart" if gap else ""

    def _weight(self, budget: int) -> int:
        """A request's TPM tokens: its completion `budget` and the input likely sent."""
        total, count = self._input_seen
        return budget + (total // count if count else 0)

    def _gap(self, weight: int) -> float:
        """Seconds between two starts, from the learned RPM and TPM."""
        gaps = [0.0]
        if self.rpm:
            gaps.append(MINUTE / self.rpm)
        if self.tpm and weight:
            # A request heavier than the whole TPM still fits once the minute has passed.
            gaps.append(MINUTE * min(1.0, weight / self.tpm))
        return max(gaps) * MARGIN if max(gaps) else 0.0

    # -- holding each chat attempt (the client) --------------------------------------------
    def acquire(self, budget: int = 0) -> None:
        """Block until one more chat request, reserving `budget` completion tokens (TPM
        counts them), may start; then it counts as in flight, weighed by them."""
        with self._cond:
            while True:
                now = self.clock.now()
                start = self._next_start(now)
                free = self.concurrency is None or self._in_flight < self.concurrency
                if free and now >= start:
                    self._in_flight += 1
                    self._last_start, self._last_weight = now, self._weight(budget)
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

    # -- inputs in flight (the scheduler) --------------------------------------------------
    @property
    def slots(self) -> int:
        """How many inputs may be in flight now."""
        with self._cond:
            return self.current

    def paused_for(self) -> float:
        """Seconds left before new inputs may start (Moonshot's "try again after N")."""
        with self._cond:
            return max(0.0, self._window_end - self.clock.now())

    def on_success(self) -> str | None:
        """An input answered; what changed in the slots, for -v (slow start is not said)."""
        with self._cond:
            old = self.current
            if self.slow_start:
                self.current = min(self.ceiling, self.current * 2)
                self.slow_start = self.current < self.ceiling
                return None
            self._ok += 1
            if self._ok < RAISE_AFTER or self.current >= self.ceiling:
                return None
            self._ok = 0
            self.current += 1
            return f"steady: concurrency {old} -> {self.current}"


def _notice(limit: RateLimit, learned: str | None, unnamed_first: bool) -> str | None:
    """Without -v, pacing is not silent (issue 19.22): each limit a 429 teaches is said
    once, what the 429 named and how requests go from now on; a 429 naming no limit is
    said the first time only."""
    if learned:
        what = "from now on " + learned.removeprefix("rate limit: ").replace(" — pacing starts", ", starts")
    elif unnamed_first:
        wait = f"waiting {limit.wait:g} s as it asked, " if limit.wait is not None else ""
        what = wait + "with fewer requests at a time"
    else:
        return None
    named = f"named {limit.describe()}" if limit.kind else "named no limit"
    return f"rate limited: Moonshot's 429 {named} — {what} (-v shows more)"
