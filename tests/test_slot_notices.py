"""The "concurrency X -> Y" line of -v is about describe's inputs in flight (-j). Only
describe takes -j: another command sends one request at a time, so a rate limit has no
inputs in flight of its to lower, whatever KIMI_VISION_CONCURRENCY (or config) says for
describe."""

from __future__ import annotations

from pathlib import Path

from tests.fake_moonshot import Fault
from tests.media import write_image

UNNAMED = Fault(
    status=429, type="rate_limit_reached_error", message="too many requests, please try again after 1 seconds"
)


def test_a_429_in_ask_says_no_concurrency_change_that_is_describes(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    eight = {"KIMI_VISION_CONCURRENCY": "8"}
    fake.state.faults.append(UNNAMED)
    r = kv("ask", "-v", "What is it?", "a.png", extra_env=eight)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 2  # the 429, then the answer
    assert "rate limited: Moonshot's 429 named no limit" in r.stderr
    assert "concurrency 8 ->" not in r.stderr
    fake.state.faults.append(UNNAMED)
    r = kv("describe", "-v", "a.png", extra_env=eight)  # describe's -j: its slots are halved, and said
    assert r.returncode == 0, r.stderr
    assert "rate limited (rate limit, wait 1s): concurrency 8 -> 4" in r.stderr
