"""Issue 13, item 4: a new account just works. Moonshot's 429s name the limit hit; the
tool reads it (api/errors.py) and one Pacing (runner/pacing.py) paces chat requests to it
and caps the scheduler's slots. Against the loopback server with tier-0 limits and a
shortened minute (a Host whose clock runs faster, given to the run: runner/host.py), a
default run finishes with at most one 429 per input, and one per limit it meets: only
the limit a 429 names is paced (issue 19, item 25)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from kimi_vision_cli.api.errors import RateLimit, parse_rate_limit
from kimi_vision_cli.runner.host import Host, SystemClock
from kimi_vision_cli.runner.pacing import Pacing
from tests.clock import FakeClock
from tests.fake_moonshot import Fault, Limits
from tests.media import write_image

ORG = "Your account org-9f8e7d6c5b4a<ak-3a2b1c0d9e8f>"
# The loopback server's minute, in real seconds; the tool's clock runs as much faster.
WINDOW = 1.0
# The tool's clock as fast as the loopback server's minute (one real second is 60 of the tool's).
FAST = Host(clock=SystemClock(scale=60 / WINDOW))


@pytest.fixture
def tier0(fake):  # type: ignore[no-untyped-def]
    """The loopback account at tier 0 (1 at a time, 3 a minute), its minute WINDOW s long
    (runs given FAST keep the same minute)."""
    fake.state.limits = Limits(concurrency=1, rpm=3, window=WINDOW)
    fake.state.latency = 0.2 * WINDOW  # an answer takes 12 s of the minute, as a short caption does
    return fake


def _attempts(fake) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Chat requests per input (refused ones included), keyed by the image sent."""
    counts: dict[str, int] = {}
    for req in fake.chat_requests:
        url = req.body["messages"][-1]["content"][0]["image_url"]["url"]
        counts[url] = counts.get(url, 0) + 1
    return counts


def _images(root: Path, n: int) -> list[str]:
    names = []
    for i in range(n):
        write_image(root / f"p{i}.png", 8 + i, 6)
        names.append(f"p{i}.png")
    return names


# -- reading the 429 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"{ORG} request reached max organization concurrency: 1, please try again after 1 seconds",
         RateLimit("concurrency", 1, 1.0)),
        (f"{ORG} request reached organization max RPM: 3, please try again after 1 seconds",
         RateLimit("rpm", 3, 1.0)),
        (f"{ORG} request reached organization max TPM: 500000, please try again after 2 seconds",
         RateLimit("tpm", 500_000, 2.0)),
        (f"{ORG} request reached organization TPD rate limit, current: 1526210, limit: 1500000",
         RateLimit("tpd", 1_500_000, None, 1_526_210)),
        ("slow down", RateLimit()),
    ],
)  # fmt: skip
def test_a_429_message_says_which_limit_and_when(message: str, expected: RateLimit) -> None:
    assert parse_rate_limit(message) == expected


# -- the pacing of request starts, on a clock the test moves ---------------------------------


def test_pacing_spaces_starts_to_a_learned_rpm() -> None:
    clock = FakeClock()
    pacing = Pacing(1, clock=clock, verbose=True)
    pacing.acquire()
    pacing.release()
    said = pacing.rate_limited(RateLimit("rpm", 3, 1.0))
    assert said == [("rate limit: 3 requests/min — pacing starts 22 s apart", True)]
    starts = []
    for _ in range(4):
        pacing.acquire()
        starts.append(clock.t)
        pacing.release()
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [22.0, 22.0, 22.0]
    # never more than 3 starts in any minute (with the margin), the first one included
    assert starts[2] - 1000.0 >= 66.0


def test_pacing_waits_for_try_again_after() -> None:
    clock = FakeClock()
    pacing = Pacing(1, clock=clock)
    pacing.rate_limited(RateLimit(None, None, 5.0))
    assert pacing.paused_for() == 5.0  # no new input either
    pacing.acquire()
    assert clock.t == 1005.0 and pacing.paused_for() == 0


def test_a_concurrency_429_caps_concurrency_only() -> None:
    """Not tier 0's 3 a minute as well: 20 inputs took 440 s against a server that capped
    concurrency alone (issue 19, item 25)."""
    clock = FakeClock()
    pacing = Pacing(1, clock=clock, verbose=True)
    said = pacing.rate_limited(RateLimit("concurrency", 1, 1.0))
    assert pacing.concurrency == 1 and pacing.rpm is None and pacing.tpm is None
    assert said == [("rate limit: 1 request at a time", True)]
    assert pacing.rate_limited(RateLimit("concurrency", 1, 1.0)) == []  # nothing new: said once
    starts = []
    for _ in range(4):
        pacing.acquire()
        starts.append(clock.t)
        pacing.release()
    assert starts == [1001.0] * 4  # after the asked-for second, no spacing at all


def test_one_429_is_said_once_then_the_slots_it_changed() -> None:
    """Without -v: the short notice; with -v: what was learned. Either way, then the
    change in inputs in flight (shown with -v only), from the same object."""
    quiet = Pacing(4, clock=FakeClock(), slow_start=False)
    assert quiet.rate_limited(RateLimit("concurrency", 1, 1.0)) == [
        ("rate limited: Moonshot's 429 named max concurrency: 1 — from now on 1 request at a time"
         " (-v shows more)", False),
        ("rate limited (max concurrency: 1, wait 1s): concurrency 4 -> 1", True),
    ]  # fmt: skip
    assert quiet.slots == 1 and quiet.paused_for() == 1.0
    loud = Pacing(4, clock=FakeClock(), slow_start=False, verbose=True)
    assert [text for text, _ in loud.rate_limited(RateLimit("concurrency", 1, 1.0))] == [
        "rate limit: 1 request at a time",
        "rate limited (max concurrency: 1, wait 1s): concurrency 4 -> 1",
    ]
    unnamed = Pacing(4, clock=FakeClock(), slow_start=False)
    first = unnamed.rate_limited(RateLimit(None, None, 2.0))
    assert first[0] == (
        "rate limited: Moonshot's 429 named no limit — waiting 2 s as it asked, with fewer requests at a time"
        " (-v shows more)",
        False,
    )
    assert unnamed.rate_limited(RateLimit(None, None, 2.0)) == []  # said the first time; same window


def test_tpm_paces_by_max_tokens_and_the_input_seen() -> None:
    clock = FakeClock()
    pacing = Pacing(1, clock=clock, verbose=True)
    pacing.note_usage(904)
    said = pacing.rate_limited(RateLimit("tpm", 50_000, None), 4096)  # a request of max_tokens 4,096
    # 5,000 tokens a request at 50,000 a minute: 6 s apart, 6.6 with the margin
    learned = "rate limit: 50,000 tokens/min, 5,000 a request (max_tokens counts) — pacing starts 6.6 s apart"
    assert said == [(learned, True)]
    pacing.acquire(4096)
    pacing.release()
    t0 = clock.t
    pacing.acquire(4096)
    assert round(clock.t - t0, 6) == 6.6


# -- end to end against a tier-0 account ---------------------------------------------------


def test_tier_0_account_default_run_finishes_with_at_most_one_429_per_input(
    kv, tier0, tmp_path: Path
) -> None:
    names = _images(tmp_path, 7)
    r = kv("describe", "--format", "jsonl", "-v", *names, host=FAST)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(rec["input"] for rec in recs) == sorted(names)
    assert all(rec["error"] is None for rec in recs)
    assert tier0.state.max_in_flight == 1
    assert max(_attempts(tier0).values()) <= 2  # at most one 429 per input
    # Slow start meets the concurrency with one request (the second in flight is refused),
    # then the 4th start of the minute meets the RPM; each limit is paced once named.
    print(f"rate-limit 429s for 7 inputs at tier 0: {tier0.state.rate_limited}")
    assert tier0.state.rate_limited <= 2
    assert "rate limit: 1 request at a time" in r.stderr
    assert "rate limit: 3 requests/min — pacing starts 22 s apart" in r.stderr


def test_a_server_capping_concurrency_only_is_not_paced_per_minute(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake.state.limits = Limits(concurrency=1, rpm=None, window=WINDOW)
    fake.state.latency = 0.05 * WINDOW
    names = _images(tmp_path, 6)
    r = kv("describe", "--format", "jsonl", "-j", "3", *names, host=FAST)
    assert r.returncode == 0, r.stderr
    assert fake.state.max_in_flight == 1
    # Said once, without -v: what the 429 named and what the tool does about it.
    notes = [ln for ln in r.stderr.splitlines() if "rate limited" in ln]
    assert notes == [
        "kimi-vision: rate limited: Moonshot's 429 named max concurrency: 1 — from now on 1 request at a time"
        " (-v shows more)"
    ], r.stderr
    assert "requests/min" not in r.stderr and "pacing starts" not in r.stderr


def test_an_rpm_429_paces_the_rest_of_the_run(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake.state.limits = Limits(concurrency=None, rpm=3, window=WINDOW)
    fake.state.latency = 0.2 * WINDOW
    names = _images(tmp_path, 6)
    r = kv("describe", "-v", "--sidecar", "txt", *names, host=FAST)
    assert r.returncode == 0, r.stderr
    assert "rate limit: 3 requests/min — pacing starts 22 s apart" in r.stderr
    # The 429 that taught the limit, and those of requests already on their way then: one
    # per input at most, never a second.
    assert max(_attempts(fake).values()) <= 2
    print(f"rate-limit 429s for 6 inputs at 3 requests/min: {fake.state.rate_limited}")
    assert len(list(tmp_path.glob("*.png.txt"))) == 6


def test_a_fake_clock_given_to_the_run_drives_its_pacing(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 21, item 3: the run paces on the clock of the Host it is given. One 429 names
    3 requests a minute; the next four starts are each 22 s apart on the test's clock,
    which moves only when the pacing waits on it: 88 s pass there, none for real."""
    fake.inject(Fault(
        status=429, type="rate_limit_reached_error",
        message=f"{ORG} request reached organization max RPM: 3, please try again after 1 seconds",
    ))  # fmt: skip
    names = _images(tmp_path, 4)
    clock = FakeClock()
    r = kv("describe", "-j", "1", "--format", "jsonl", *names, host=Host(clock=clock))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["error"] for line in r.stdout.splitlines()] == [None] * 4
    assert len(fake.chat_requests) == 5  # the refused attempt, then each input once
    assert clock.waits and all(round(w, 6) == 22.0 for w in clock.waits), clock.waits
    assert round(clock.t - 1000.0, 6) == 88.0  # the retry and three more starts, 22 s apart
    assert "from now on 3 requests/min, starts 22 s apart" in r.stderr


def test_daily_token_limit_stops_the_run_and_names_what_was_not_started(kv, fake, tmp_path: Path) -> None:
    fake.state.limits = Limits(concurrency=None, rpm=None, tpd=70_000)  # two k2 requests a day
    names = _images(tmp_path, 5)
    r = kv("describe", "-j", "1", "--format", "jsonl", *names)
    assert r.returncode == 75, r.stderr
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    assert sum(rec["error"] is None for rec in recs.values()) == 2
    assert recs["p2.png"]["error"]["code"] == "temporary"  # the refused one, not retried
    assert "daily token limit reached" in recs["p2.png"]["error"]["message"]
    assert [recs[n]["error"]["code"] for n in ("p3.png", "p4.png")] == ["not_started", "not_started"]
    assert fake.state.rate_limited == 1  # a daily limit is not retried
    assert (
        "2 inputs not started (p3.png, p4.png): the account's daily token limit (TPD) was reached" in r.stderr
    )
