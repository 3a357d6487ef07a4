"""Issue 13, items 1-3: kimi-k2.6 as the loopback server answers it, the cost of every
answer (cached input at the cache-hit price), the money line of a run, --max-cost on
describe, ask and batch submit, and batch submit's model check."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.media import write_image
from tests.test_fake_server import PNG, image_msg, post

# kimi-k2.6, USD per 1M tokens: cache miss, cache hit, output (moonshot.py, from the pricing page).
K26 = (0.95, 0.16, 4.00)
SUMMARY_MONEY = re.compile(r"in [\d.]+s; ([\d,]+) tokens in, ([\d,]+) out, ([\d.]+) USD$", re.M)


def _expected(usage: dict[str, Any], price: tuple[float, float, float] = K26) -> float:
    miss, hit, out = price
    cached = usage.get("cached_tokens", 0)
    return round(
        ((usage["prompt_tokens"] - cached) * miss + cached * hit + usage["completion_tokens"] * out) / 1e6, 6
    )


def _images(root: Path, n: int) -> list[str]:
    for i in range(n):
        write_image(root / f"m{i}.png", 10 + i, 8)
    return [f"m{i}.png" for i in range(n)]


def _records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- kimi-k2.6 on the loopback server -----------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "status", "needle"),
    [
        ({"temperature": 0.3}, 400, "temperature"),  # fixed sampling refused when set otherwise
        ({"top_p": 0.95}, 200, ""),  # the fixed value itself is accepted
        ({"thinking": {"type": "disabled"}, "temperature": 0.6}, 200, ""),  # 0.6 without thinking
    ],
)
def test_k26_is_answered_like_k25(fake, extra: dict[str, Any], status: int, needle: str) -> None:
    got, out = post(
        fake, {"model": "kimi-k2.6", "messages": image_msg(f"data:image/png;base64,{PNG}"), **extra}
    )
    assert got == status
    assert needle in (out.get("error") or {}).get("message", "")


def test_k26_takes_video_and_thinks(kv, fake, tmp_path: Path) -> None:
    from tests.media import video_bytes

    (tmp_path / "v.mp4").write_bytes(video_bytes())
    r = kv("describe", "v.mp4", "--format", "json")
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["model"] == "kimi-k2.6" and "video/mp4 video" in rec["text"] and rec["reasoning"]


# -- the cost of each answer ----------------------------------------------------------------


def test_every_record_carries_its_cost_and_the_summary_adds_them_up(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 3)
    r = kv("describe", "--format", "jsonl", *names)
    assert r.returncode == 0, r.stderr
    recs = _records(r.stdout)
    for rec in recs:
        assert list(rec)[5:7] == ["usage", "cost"]
        assert rec["cost"] == {"currency": "USD", "amount": _expected(rec["usage"])}
    tokens_in, tokens_out, amount = SUMMARY_MONEY.search(r.stderr).groups()  # type: ignore[union-attr]
    assert int(tokens_in.replace(",", "")) == sum(rec["usage"]["prompt_tokens"] for rec in recs)
    assert int(tokens_out.replace(",", "")) == sum(rec["usage"]["completion_tokens"] for rec in recs)
    assert float(amount) == round(sum(rec["cost"]["amount"] for rec in recs), 4)


def test_cached_input_is_billed_at_the_cache_hit_price(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 40, 30)
    first = _records(kv("describe", "a.png", "--format", "jsonl").stdout)[0]
    again = _records(kv("describe", "a.png", "--format", "jsonl").stdout)[0]  # same request: a cache hit
    assert "cached_tokens" not in first["usage"]
    assert again["usage"]["cached_tokens"] == again["usage"]["prompt_tokens"] > 0
    assert again["cost"]["amount"] == _expected(again["usage"]) < first["cost"]["amount"]


def test_a_config_price_with_its_cache_price_and_currency(kv, fake, tmp_path: Path) -> None:
    cfg = tmp_path / "xdg-config" / "kimi-vision" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[prices."kimi-k2.6"]\ninput = 4.0\noutput = 16.0\ncached_input = 1.0\ncurrency = "CNY"\n')
    write_image(tmp_path / "a.png")
    kv("describe", "a.png")
    r = kv("describe", "a.png", "--format", "json", "-v")
    (rec,) = json.loads(r.stdout)
    assert rec["cost"] == {"currency": "CNY", "amount": _expected(rec["usage"], (4.0, 1.0, 16.0))}
    # one input: the money shows with -v only
    assert re.search(r"^kimi-vision: usage: [\d,]+ tokens in, [\d,]+ out, [\d.]+ CNY$", r.stderr, re.M)


def test_cost_is_null_when_the_price_is_unknown() -> None:
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.budget import Spend

    rec = Result("a.png", "kimi-k2.6", usage={"prompt_tokens": 10, "completion_tokens": 2})
    spend = Spend(None)  # the China platform without a price in config.toml
    spend.price_result(rec)
    spend.add(rec)
    assert rec.to_dict()["cost"] is None
    assert spend.line() == "10 tokens in, 2 out, cost unknown (no price for the model on this platform)"


def test_an_unpriced_run_says_cost_unknown_once_without_v(kv, fake, tmp_path: Path) -> None:
    """A model with no price (here: one the table does not know) makes cost null; the run
    says so once on stderr, -v or not: one input, several (in the summary), and ask."""
    names = _images(tmp_path, 3)
    note = (
        'kimi-vision: cost unknown (no price for kimi-lens-preview) — set [prices."kimi-lens-preview"] '
        "input and output in config.toml to count it\n"
    )
    r = kv("describe", names[0], "-m", "kimi-lens-preview")
    assert r.returncode == 0 and r.stderr == note
    r = kv("ask", "Which?", *names[:2], "-m", "kimi-lens-preview")
    assert r.returncode == 0 and r.stderr == note
    r = kv("describe", *names, "-m", "kimi-lens-preview")
    assert r.returncode == 0 and r.stderr.count("cost unknown") == 1  # the summary's, not one per input
    assert kv("describe", names[0]).stderr == ""  # a priced model: nothing without -v


def test_an_answer_is_priced_once_when_it_is_priced_then_counted() -> None:
    from dataclasses import dataclass, field

    from kimi_vision_cli.moonshot import Price
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.budget import Spend

    @dataclass(frozen=True)
    class Counting(Price):
        calls: list[object] = field(default_factory=list)

        def usage_cost(self, usage: Any) -> float:
            self.calls.append(usage)
            return super().usage_cost(usage)

    price = Counting(1.0, 4.0)
    spend = Spend(price)
    rec = Result("a.png", "kimi-k2.6", usage={"prompt_tokens": 1000, "completion_tokens": 500})
    spend.price_result(rec)  # the scheduler prices it before its JSON sidecar is written...
    spend.add(rec)  # ...and counts it once it is shown
    assert len(price.calls) == 1
    assert rec.cost is not None and rec.cost.amount == spend.amount == 0.003
    unpriced = Result("b.png", "kimi-k2.6", usage={"prompt_tokens": 1000, "completion_tokens": 0})
    spend.add(unpriced)  # counted without a price_result first: priced here
    assert len(price.calls) == 2 and unpriced.cost is not None and spend.amount == 0.004


# -- --max-cost ------------------------------------------------------------------------------


def test_max_cost_stops_new_requests_and_names_the_inputs_not_started(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 6)
    r = kv("describe", "--max-cost", "0.000001", "--format", "jsonl", "--sidecar", "txt", *names)
    assert r.returncode == 75, r.stderr
    recs = {rec["input"]: rec for rec in _records(r.stdout)}
    assert sorted(recs) == names  # every input has its record
    done = [n for n, rec in recs.items() if rec["error"] is None]
    not_started = [n for n, rec in recs.items() if rec["error"] and rec["error"]["code"] == "not_started"]
    # the first answer spends the budget: the requests then in flight finish (at most -j)
    assert 1 <= len(done) <= 4 and len(done) + len(not_started) == 6
    assert len(fake.chat_requests) == len(done)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("kimi-vision: error:")]
    assert len(errors) == 1
    assert re.search(
        rf"{len(not_started)} inputs not started \(m\d.png, .*\): --max-cost 0.000001 USD reached", errors[0]
    )
    assert f"stopped: {len(done)} done, 0 failed, 0 skipped, {len(not_started)} not started" in r.stderr

    # a rerun with a larger budget finishes the rest, sending only what is missing
    r = kv("describe", "--max-cost", "1", "--sidecar", "txt", *names)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 6
    assert len(list(tmp_path.glob("*.png.txt"))) == 6


def test_the_max_cost_line_and_the_summary_give_the_same_money(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.11: the error said the money spent when the budget was reached (0.0019
    USD), the summary what the requests then in flight added (0.0049 USD)."""
    names = _images(tmp_path, 8)
    fake.state.latency = 0.3  # -j 4 chosen: four requests in flight when the first answers
    r = kv("describe", "-j", "4", "--max-cost", "0.000001", *names)
    assert r.returncode == 75, r.stderr
    assert len(fake.chat_requests) > 1  # more than the request that reached the budget
    spent = re.search(r"reached \((\S+) USD spent\)", r.stderr)
    summary = re.search(r"^kimi-vision: stopped: .*, (\S+) USD — the rest was not sent$", r.stderr, re.M)
    assert spent and summary, r.stderr
    assert spent.group(1) == summary.group(1)


def test_inputs_already_done_are_counted_when_nothing_may_start(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.11: with 6 of 7 inputs done, `--max-cost 0` summarised "0 done, 0 failed,
    0 skipped, 1 not started"."""
    names = _images(tmp_path, 7)
    assert kv("describe", "--sidecar", "txt", *names[:6]).returncode == 0
    r = kv("describe", "--sidecar", "txt", "--max-cost", "0", *names)
    assert r.returncode == 75, r.stderr
    assert "stopped: 0 done, 0 failed, 6 skipped, 1 not started in " in r.stderr


def test_max_cost_from_env_and_an_unpriced_platform_is_refused(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", extra_env={"KIMI_VISION_MAX_COST": "-1"})
    assert r.returncode == 2 and "KIMI_VISION_MAX_COST must be at least 0" in r.stderr
    r = kv("describe", "a.png", "--max-cost", "1", "--base-url", "https://api.moonshot.cn/v1")
    assert r.returncode == 2, r.stderr
    assert "--max-cost needs a price for kimi-k2.6" in r.stderr and 'prices."kimi-k2.6"' in r.stderr
    assert fake.state.requests == []


def test_ask_max_cost_zero_sends_nothing_and_a_spent_budget_ends_the_talk(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("ask", "What is it?", "a.png", "--max-cost", "0")
    assert r.returncode == 75 and fake.chat_requests == []
    assert "not sent: --max-cost 0.0000 USD reached (0.0000 USD spent)" in r.stderr
    r = kv("ask", "What is it?", "a.png", "-i", "--max-cost", "0.000001", "--format", "jsonl",
           input=b"And the colour?\n")  # fmt: skip
    assert r.returncode == 75, r.stderr
    first, second = _records(r.stdout)
    assert first["error"] is None and first["cost"]["amount"] > 0
    assert second["error"]["code"] == "not_started"
    assert len(fake.chat_requests) == 1


# -- batch submit -----------------------------------------------------------------------------


def test_batch_submit_takes_kimi_k26_and_refuses_another_model_before_uploading(
    kv, fake, tmp_path: Path
) -> None:
    write_image(tmp_path / "a.png")
    r = kv("batch", "submit", "a.png", "-m", "kimi-k3")
    assert r.returncode == 2
    assert "kimi-k3 is not available on Moonshot's Batch API, which takes kimi-k2.6" in r.stderr
    assert fake.state.requests == []  # nothing read, nothing uploaded
    r = kv("batch", "submit", "a.png")
    assert r.returncode == 0, r.stderr
    (line,) = fake.state.file_data[next(iter(fake.state.files))].decode().splitlines()
    assert json.loads(line)["body"]["model"] == "kimi-k2.6"


def test_batch_submit_max_cost_submits_what_fits_at_its_worst_case(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 4)
    est = json.loads(kv("estimate", *names, "--format", "json").stdout)
    tokens = [i["tokens"] for i in est["inputs"]]
    # kimi-k2.6 at the Batch API's 60%: 0.57 in, 2.40 out per 1M; batch submit asks for 4096 tokens at most
    worst = [(t * 0.95 * 0.6 + 4096 * 4.00 * 0.6) / 1e6 for t in tokens]
    budget = sum(worst[:2]) + worst[2] / 2  # two fit, the third does not
    r = kv("batch", "submit", *names, "--max-cost", f"{budget:.8f}", "--format", "json")
    assert r.returncode == 75, r.stderr
    doc = json.loads(r.stdout)
    assert doc["requests"] == 2 and len(doc["batch_ids"]) == 1
    assert [f["input"] for f in doc["failed"]] == names[2:]
    assert {f["error"]["code"] for f in doc["failed"]} == {"not_started"}
    assert "2 inputs (m2.png, m3.png): not submitted: --max-cost" in r.stderr
    assert "lower --max-tokens (max_tokens): each request counts its whole limit" in r.stderr
    files = len(fake.state.files)
    r = kv("batch", "submit", *names, "--max-cost", "0")
    assert r.returncode == 75 and len(fake.state.files) == files  # nothing uploaded


def test_a_segmented_video_costs_its_segments_counted_once(kv, fake, tmp_path: Path) -> None:
    from tests.media import timed_video

    (tmp_path / "clip.mp4").write_bytes(timed_video(8, keyframe_every=2))
    (tmp_path / "short.mp4").write_bytes(timed_video(3, keyframe_every=1))
    r = kv("describe", "--segment", "4s", "--format", "jsonl", "clip.mp4", "short.mp4")
    assert r.returncode == 0, r.stderr
    recs = _records(r.stdout)
    video = next(rec for rec in recs if rec["input"] == "clip.mp4")
    assert len(video["segments"]) == 2 and video["cost"]["amount"] == _expected(video["usage"])
    tokens_in, _, amount = SUMMARY_MONEY.search(r.stderr).groups()  # type: ignore[union-attr]
    assert int(tokens_in.replace(",", "")) == sum(rec["usage"]["prompt_tokens"] for rec in recs)
    assert float(amount) == round(sum(rec["cost"]["amount"] for rec in recs), 4)


def test_usage_of_several_requests_keeps_nested_cached_tokens() -> None:
    from kimi_vision_cli.moonshot import sum_usage, usage_tokens

    a = {"prompt_tokens": 100, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 80}}
    b = {"prompt_tokens": 50, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 40}}
    total = sum_usage([a, None, b])
    assert total == {
        "prompt_tokens": 150,
        "completion_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 120},
    }
    assert usage_tokens(total) == (150, 15, 120)  # cached input still billed at the hit price
    assert sum_usage([None]) is None
