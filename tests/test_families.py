"""Kimi as it is today (issue 20): kimi-k3, the retired kimi-k2.5, models the table does
not know (GET /v1/models), json_schema, and the Batch API on kimi-k2.6 — against the
loopback server, which lists kimi-k3 and kimi-lens-preview (images only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import timed_video, write_image
from tests.test_money import _expected

K3 = (3.00, 0.30, 15.00)  # kimi-k3, USD per 1M tokens: miss, hit, output
FIXED = ("temperature", "top_p", "n", "presence_penalty", "frequency_penalty")


def _config(env: dict[str, str], text: str) -> None:
    path = Path(env["XDG_CONFIG_HOME"]) / "kimi-vision" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_k3_request_carries_effort_and_its_limit_and_no_fixed_parameter(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv(
        "describe", "a.png", "-m", "kimi-k3", "--effort", "low", "--max-tokens", "500", "--format", "jsonl"
    )
    assert r.returncode == 0, r.stderr
    (req,) = fake.chat_requests
    body = req.body
    assert body["reasoning_effort"] == "low" and body["max_completion_tokens"] == 500
    assert not {*FIXED, "thinking", "max_tokens"} & set(body)
    rec = json.loads(r.stdout)
    assert rec["model"] == "kimi-k3" and rec["reasoning"].startswith("Looking at the media (low)")
    # Priced at kimi-k3's published price, not null.
    assert rec["cost"] == {"currency": "USD", "amount": _expected(rec["usage"], K3)}
    assert not fake.requests_to("/v1/models", "GET")  # a known model costs no lookup
    assert kv("describe", "a.png", "-m", "kimi-k3").returncode == 0
    assert "reasoning_effort" not in fake.chat_requests[-1].body  # Moonshot's default (max) applies


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-m", "kimi-k3", "--temperature", "0.5"], "--temperature (temperature) cannot be set for kimi-k3"),
        (["-m", "kimi-k3", "--no-thinking"], "--no-thinking (thinking) cannot be set for kimi-k3"),
        (["--effort", "high"], "--effort (reasoning_effort) cannot be set for kimi-k2.6"),
        (["-m", "kimi-k2.5"], "kimi-k2.5 was shut down by Moonshot on 2026-08-31 — use -m kimi-k2.6"),
    ],
)
def test_refused_before_any_input_is_read_or_anything_sent(kv, fake, tmp_path: Path, args, said) -> None:  # type: ignore[no-untyped-def]
    write_image(tmp_path / "a.png")
    for command in (["describe", "missing.png", "a.png"], ["ask", "What?", "a.png"], ["estimate", "a.png"]):
        r = kv(*command, *args)
        assert r.returncode == 2, r.all
        assert said in r.stderr and "missing.png" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert fake.state.requests == []


def test_a_retired_model_from_config_is_refused_too(kv, fake, env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_image(tmp_path / "a.png")
    _config(env, 'model = "kimi-k2.5"\n')
    r = kv("describe", "a.png")
    assert r.returncode == 2 and "use -m kimi-k2.6" in r.stderr and fake.state.requests == []
    assert kv("models").returncode == 0  # commands that send no chat request are not stopped
    _config(env, "thinking = false\n")
    r = kv("describe", "a.png", "-m", "kimi-k3")
    assert r.returncode == 2 and "thinking = false (config file) cannot be set for kimi-k3" in r.stderr
    assert kv("describe", "a.png").returncode == 0  # kimi-k2.6 takes it


def test_an_unknown_model_is_looked_up_once_a_day_and_refused_a_video_before_upload(
    kv, fake, tmp_path: Path
) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "clip.mp4").write_bytes(timed_video(2))
    r = kv("describe", "clip.mp4", "-m", "kimi-lens-preview", "--upload", "always")
    assert r.returncode == 2
    assert "model kimi-lens-preview cannot take video input" in r.stderr
    assert fake.requests_to("/v1/files") == [] and fake.chat_requests == []
    assert len(fake.requests_to("/v1/models", "GET")) == 1
    # An image is sent, and priced as unknown (cost null); the lookup is cached.
    r = kv("describe", "a.png", "-m", "kimi-lens-preview", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert fake.chat_requests[-1].body["model"] == "kimi-lens-preview"
    assert json.loads(r.stdout)["cost"] is None
    assert len(fake.requests_to("/v1/models", "GET")) == 1
    # --max-cost cannot count without a price; a [prices] entry in config supplies one.
    r = kv("describe", "a.png", "-m", "kimi-lens-preview", "--max-cost", "1")
    assert r.returncode == 2 and '[prices."kimi-lens-preview"]' in r.stderr


def test_the_models_cache_expires_after_a_day(kv, fake, tmp_path: Path, env) -> None:  # type: ignore[no-untyped-def]
    write_image(tmp_path / "a.png")
    assert kv("describe", "a.png", "-m", "kimi-lens-preview").returncode == 0
    (cached,) = (Path(env["XDG_CACHE_HOME"]) / "kimi-vision" / "models").iterdir()
    kept = json.loads(cached.read_text())
    cached.write_text(json.dumps({**kept, "at": kept["at"] - 25 * 3600}))
    assert kv("describe", "a.png", "-m", "kimi-lens-preview").returncode == 0
    assert len(fake.requests_to("/v1/models", "GET")) == 2


def test_the_default_model_gone_names_the_accounts_vision_models(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.inject(Fault(404, "resource_not_found_error", "Not found the model kimi-k2.6 or Permission denied"))
    r = kv("describe", "a.png")
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert "the default model kimi-k2.6 no longer exists" in line
    assert "pick one with -m: kimi-k3, kimi-lens-preview, moonshot-v1-128k-vision-preview" in line


def test_json_schema_falls_back_once_to_json_mode_for_the_run(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 32, 32)
    fake.state.refuse_json_schema = True
    r = kv("describe", "a.png", "b.png", "-j", "1", "--schema", "alt_text, people: int", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert all(json.loads(line)["data"]["people"] == 1 for line in r.stdout.splitlines())
    kinds = [req.body["response_format"]["type"] for req in fake.chat_requests]
    assert kinds == ["json_schema", "json_object", "json_object"]  # remembered for the run
    assert "JSON Schema:" in fake.chat_requests[-1].body["messages"][-1]["content"][-1]["text"]
    assert r.stderr.count("refused json_schema") == 1


def test_a_v1_model_gets_json_mode_with_the_schema_in_the_prompt(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "-m", "moonshot-v1-8k-vision-preview", "--schema", "alt_text")
    assert r.returncode == 0, r.stderr
    body = fake.chat_requests[-1].body
    assert body["response_format"] == {"type": "json_object"} and "max_completion_tokens" not in body
    assert "JSON Schema:" in body["messages"][-1]["content"][-1]["text"]


def test_batch_submit_with_the_config_model_and_results_on_another_machine(
    kv, fake, env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ds = tmp_path / "ds"
    ds.mkdir()
    write_image(ds / "a.png")
    write_image(ds / "b.png", 32, 32)
    _config(env, 'model = "kimi-k2.6"\n')  # the docs' own sample: no "drop -m" any more
    r = kv("batch", "submit", "ds/a.png", "ds/b.png", "--completion-window", "3d")
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    (create,) = fake.requests_to("/v1/batches")
    assert create.body["completion_window"] == "3d"
    meta = create.body["metadata"]
    assert meta["tool"] == "kimi-vision" and meta["model"] == "kimi-k2.6" and meta["prompt_hash"]
    kv("batch", "status", batch_id)
    # Another machine (a fresh cache directory): the same records, sidecars and manifest rows.
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}
    r = kv(
        "batch", "results", batch_id, "--sidecar", "txt", "--manifest", "ds/metadata.jsonl",
        "--format", "jsonl", extra_env=other,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["input"] for rec in recs] == ["ds/a.png", "ds/b.png"]
    assert (ds / "a.png.txt").read_text().strip() == recs[0]["text"].strip()
    assert (ds / "b.png.txt").exists()
    rows = [json.loads(line) for line in (ds / "metadata.jsonl").read_text().splitlines()]
    assert [row["file_name"] for row in rows] == ["a.png", "b.png"]
    # Priced at the Batch API's 60% of kimi-k2.6's price.
    batch_price = tuple(p * 0.6 for p in (0.95, 0.16, 4.00))
    assert recs[0]["cost"] == {"currency": "USD", "amount": _expected(recs[0]["usage"], batch_price)}  # type: ignore[arg-type]


LONG_FIELDS = ", ".join(f"field_{i:02d}" for i in range(30))  # a schema over metadata's 512 characters


@pytest.mark.parametrize("fields", ["alt_text, tags: list", LONG_FIELDS], ids=["in-metadata", "in-requests"])
def test_batch_results_elsewhere_keeps_what_made_the_answers(kv, fake, tmp_path: Path, fields: str) -> None:  # type: ignore[no-untyped-def]
    """Audit of issues 19.5 and 20.6: `batch results` on another machine (a fresh cache)
    wrote JSON sidecars and manifest rows without provenance and answers without their
    schema's `data`, so a rerun with another prompt skipped them in silence and the
    sidecars differed from the submitting machine's. The batch's metadata carries both."""
    ds = tmp_path / "ds"
    ds.mkdir()
    write_image(ds / "a.png")
    asked = ("-p", "Alt text, please.", "--schema", fields)
    r = kv("batch", "submit", "ds/a.png", *asked)
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    kv("batch", "status", batch_id)
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}
    r = kv(
        "batch", "results", batch_id, "--sidecar", "json", "--manifest", "ds/m.jsonl",
        "--format", "jsonl", extra_env=other,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert ", ".join(rec["data"]) == fields.replace(": list", "")  # the schema travelled with the batch
    sidecar = json.loads((ds / "a.png.json").read_text())
    (row,) = [json.loads(line) for line in (ds / "m.jsonl").read_text().splitlines()]
    assert sidecar["provenance"] == row["provenance"] and sidecar["provenance"]["model"] == "kimi-k2.6"
    chats = len(fake.chat_requests)
    # The same question asked live finds these answers current; another prompt finds them stale.
    same = kv("describe", "ds/a.png", "--sidecar", "json", "--manifest", "ds/m.jsonl", *asked)
    assert same.returncode == 0 and "another model, prompt" not in same.stderr, same.stderr
    changed = kv("describe", "ds/a.png", "--sidecar", "json", "--manifest", "ds/m.jsonl", "-p", "Other.")
    assert changed.returncode == 0 and "1 caption kept was made with another" in changed.stderr
    assert len(fake.chat_requests) == chats  # both skipped: nothing asked


def test_batch_submit_refuses_the_window_outside_12h_to_7d(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("batch", "submit", "a.png", "--completion-window", "8d")
    assert r.returncode == 2 and "--completion-window '8d' must be between 12h and 7d" in r.stderr
    assert fake.state.requests == []


def test_estimate_warns_past_the_context_the_api_lists(kv, fake, tmp_path: Path) -> None:
    listed = fake._server.models()
    small = [{**m, "context_length": 100} if m["id"] == "kimi-lens-preview" else m for m in listed]
    fake._server.models = lambda: small  # type: ignore[method-assign]
    write_image(tmp_path / "a.png", 280, 280)  # 100 patches of 28x28, and the prompt
    r = kv("estimate", "a.png", "-m", "kimi-lens-preview")
    assert r.returncode == 0, r.stderr
    assert "a.png: " in r.stderr and "is over kimi-lens-preview's context of 100" in r.stderr
    assert "is over" not in kv("estimate", "a.png", "-m", "kimi-k3").stderr
