"""`estimate`: the token count of what describe/ask would send, through the installed
command against the loopback tokenizer (which counts 28x28 patches of the pixels it gets)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from tests.media import write_image

EST = "/v1/tokenizers/estimate-token-count"


def _tokens_line(stdout: str, name: str) -> int:
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == name:
            return int(parts[0])
    raise AssertionError(f"no line for {name} in {stdout!r}")


def _sent_image_size(req) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    part = next(p for p in req.body["messages"][-1]["content"] if p["type"] == "image_url")
    data = base64.b64decode(part["image_url"]["url"].split(";base64,", 1)[1])
    return Image.open(io.BytesIO(data)).size


def test_resized_image_estimates_fewer_tokens_than_original(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "huge.png", 5000, 3000)
    small = kv("estimate", "huge.png")
    big = kv("estimate", "huge.png", "--no-resize")
    assert small.returncode == 0 and big.returncode == 0, small.stderr + big.stderr
    resized, original = _tokens_line(small.stdout, "huge.png"), _tokens_line(big.stdout, "huge.png")
    assert resized < original
    first, second = fake.requests_to(EST)
    assert _sent_image_size(first) == (3600, 2160)  # fitted inside 4096x2160
    assert _sent_image_size(second) == (5000, 3000)
    assert fake.chat_requests == []  # estimating never asks the model
    assert fake.requests_to("/v1/files") == []  # nor uploads anything


def test_estimate_body_is_what_describe_would_send(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("estimate", "a.png", "-p", "Count the dots.", "--system", "Be terse.")
    assert r.returncode == 0, r.stderr
    d = kv("describe", "a.png", "-p", "Count the dots.", "--system", "Be terse.")
    assert d.returncode == 0, d.stderr
    (est,) = fake.requests_to(EST)
    (chat,) = fake.chat_requests
    assert set(est.body) == {"model", "messages"}
    assert est.body["model"] == chat.body["model"] == "kimi-k2.6"
    assert est.body["messages"] == chat.body["messages"]


def test_text_output_total_cost_and_stderr_note(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 280, 280)  # 10x10 patches
    write_image(tmp_path / "b.png", 56, 28)
    r = kv("estimate", "a.png", "b.png")
    assert r.returncode == 0, r.stderr
    a, b = _tokens_line(r.stdout, "a.png"), _tokens_line(r.stdout, "b.png")
    assert a > b
    assert _tokens_line(r.stdout, "total") == a + b
    cost_line, worst_line = r.stdout.strip().splitlines()[-2:]
    assert cost_line.startswith(f"cost: {(a + b) * 0.95 / 1e6:.6f} USD")
    assert "max_tokens" in r.stderr and "rate limits" in r.stderr  # the note is on stderr...
    assert "max_tokens" not in r.stdout  # ...not mixed into the data
    # The worst case: every request's whole default completion limit (32768) at the output price.
    worst = ((a + b) * 0.95 + 2 * 32768 * 4.00) / 1e6
    assert (
        worst_line
        == f"worst case: {worst:.6f} USD (input plus 32768 output tokens per request at 4 USD per 1M)"
    )


def test_worst_case_per_input_and_at_the_batch_price(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 280, 280)
    doc = json.loads(kv("estimate", "a.png", "--max-tokens", "1000", "--format", "json").stdout)
    (rec,) = doc["inputs"]
    assert rec["worst_case"] == {
        "currency": "USD",
        "amount": round((rec["tokens"] * 0.95 + 1000 * 4.00) / 1e6, 6),
    }
    assert doc["worst_case"] == rec["worst_case"]
    # --batch: what batch submit would send (4096 max_tokens) at the Batch API's 60%.
    doc = json.loads(kv("estimate", "a.png", "--batch", "--format", "json").stdout)
    tokens = doc["inputs"][0]["tokens"]
    assert doc["cost"]["amount"] == round(tokens * 0.95 * 0.6 / 1e6, 6)
    assert doc["worst_case"]["amount"] == round((tokens * 0.95 + 4096 * 4.00) * 0.6 / 1e6, 6)
    # kimi-k3: its own price, and its default completion limit (131,072 max_completion_tokens).
    doc = json.loads(kv("estimate", "a.png", "-m", "kimi-k3", "--format", "json").stdout)
    tokens = doc["inputs"][0]["tokens"]
    assert doc["cost"]["amount"] == round(tokens * 3.00 / 1e6, 6)
    assert doc["worst_case"]["amount"] == round((tokens * 3.00 + 131_072 * 15.00) / 1e6, 6)
    r = kv("estimate", "a.png", "--batch", "-m", "kimi-k3")
    assert r.returncode == 2 and "not available on Moonshot's Batch API" in r.stderr


def test_json_shape(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 100, 60)
    (tmp_path / "bad.png").write_text("not an image")
    r = kv("estimate", "a.png", "bad.png", "--format", "json")
    assert r.returncode == 2  # a bad input: the run goes on, exit 2
    doc = json.loads(r.stdout)
    assert list(doc) == ["model", "inputs", "total_tokens", "cost", "worst_case"]
    good, bad = doc["inputs"]
    assert list(good) == ["input", "tokens", "media", "error", "worst_case"]
    assert good["input"] == "a.png" and good["tokens"] > 0 and good["error"] is None
    assert good["media"][0]["width"] == 100 and good["media"][0]["transport"] == "inline"
    assert bad["tokens"] is None and bad["error"]["code"] == "bad_input"
    assert doc["total_tokens"] == good["tokens"]
    assert doc["cost"] == {"currency": "USD", "amount": round(good["tokens"] * 0.95 / 1e6, 6)}
    assert "bad.png" in r.stderr


def test_config_prices_override_the_table(kv, fake, tmp_path: Path, env: dict[str, str]) -> None:
    cfg = Path(env["XDG_CONFIG_HOME"]) / "kimi-vision" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[prices."kimi-k2.6"]\ninput = 1000.0\noutput = 2000.0\ncurrency = "CNY"\n')
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("estimate", "a.png", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["cost"] == {"currency": "CNY", "amount": round(doc["total_tokens"] * 1000.0 / 1e6, 6)}
    text = kv("estimate", "a.png")
    assert "CNY" in text.stdout and "config.toml price" in text.stdout


def test_unknown_price_is_null_not_invented(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    # A vision model the API lists but our table does not know, so does not price.
    r = kv("estimate", "a.png", "-m", "kimi-lens-preview", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cost"] == {"currency": None, "amount": None}
    text = kv("estimate", "a.png", "-m", "kimi-lens-preview")
    assert 'cost: unknown (no price for kimi-lens-preview; set [prices."kimi-lens-preview"]' in text.stdout


def test_ask_mode_is_one_request_with_every_input(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    write_image(tmp_path / "b.png", 32, 32)
    r = kv("estimate", "--ask", "Which is larger?", "a.png", "b.png", "--format", "json")
    assert r.returncode == 0, r.stderr
    (req,) = fake.requests_to(EST)
    parts = req.body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[-1]["text"] == "Which is larger?"
    doc = json.loads(r.stdout)
    assert [i["input"] for i in doc["inputs"]] == ["a.png, b.png"]


def test_dry_run_shows_the_estimate_request_without_network(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("estimate", "a.png", "--dry-run", extra_env={"MOONSHOT_API_KEY": ""})
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert set(body) == {"model", "messages"}
    assert "tokenizers/estimate-token-count" in r.stderr
    assert fake.state.requests == []


def test_missing_key_is_exit_3(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("estimate", "a.png", extra_env={"MOONSHOT_API_KEY": ""})
    assert r.returncode == 3
    assert r.stderr.startswith("kimi-vision: error: no API key")
    assert fake.state.requests == []


def test_media_upload_would_choose_are_counted_inline_without_uploading(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("estimate", "a.png", "--upload", "always", "--format", "json")
    assert r.returncode == 0, r.stderr
    (item,) = json.loads(r.stdout)["inputs"]
    assert item["media"][0]["transport"] == "upload" and item["media"][0]["file_id"] is None
    assert fake.requests_to("/v1/files") == []
    (req,) = fake.requests_to(EST)
    url = req.body["messages"][-1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")  # the pixels are what get counted


def test_output_doc_documents_the_json_keys() -> None:
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "output.md").read_text()
    section = text[text.index("### estimate") :]
    assert all(f"`{k}`" in section for k in ("model", "inputs", "total_tokens", "cost", "tokens"))


def test_uploaded_file_is_estimated_by_reference(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 280, 280)
    up = kv("upload", "a.png")
    assert up.returncode == 0, up.stderr
    ref = up.stdout.strip()
    inline = kv("estimate", "a.png")
    by_ref = kv("estimate", ref)
    assert by_ref.returncode == 0, by_ref.stderr
    assert _tokens_line(by_ref.stdout, ref) == _tokens_line(inline.stdout, "a.png")
    url = fake.requests_to(EST)[-1].body["messages"][-1]["content"][0]["image_url"]["url"]
    assert url == ref
    assert len(fake.requests_to("/v1/files", "POST")) == 1  # only the explicit upload


def test_estimate_takes_every_option_describe_and_ask_share() -> None:
    # STYLE rule 7: an estimate must be able to describe the same request describe/ask send.
    import typer

    from kimi_vision_cli.cli.main import all_commands

    group = typer.main.get_command(all_commands())

    def longs(name: str) -> set[str]:
        cmd = group.commands[name]  # type: ignore[attr-defined]
        return {o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--")}

    shared = longs("describe") & longs("ask")
    # nothing streams in an estimate, and --max-cost is a run's budget, not part of a request
    missing = shared - longs("estimate") - {"--show-thinking", "--max-cost"}
    assert missing == set()


def test_china_platform_gets_no_usd_price_unless_config_sets_one() -> None:
    """api.moonshot.cn bills in CNY at its own rates: the published USD table must not be
    quoted for it; a config price still applies."""
    from kimi_vision_cli.moonshot import price_for
    from kimi_vision_cli.output.listing import cost_line
    from kimi_vision_cli.output.records import Cost

    assert price_for("kimi-k2.5", None, "https://api.moonshot.ai/v1").currency == "USD"  # type: ignore[union-attr]
    assert price_for("kimi-k2.5", None, "https://api.moonshot.cn/v1") is None
    assert price_for("kimi-k2.5", None, "https://evilmoonshot.cn/v1") is not None  # host, not suffix text
    own = {"kimi-k2.5": {"input": 4, "output": 21, "currency": "CNY"}}
    assert price_for("kimi-k2.5", own, "https://api.moonshot.cn/v1").currency == "CNY"  # type: ignore[union-attr]
    line = cost_line(Cost(None, None, None), "kimi-k2.5", "https://api.moonshot.cn/v1")
    assert "China platform bills in CNY" in line and '[prices."kimi-k2.5"]' in line
