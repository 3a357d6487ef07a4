"""--dry-run renders plans: the requests describe/ask/estimate would send, nothing sent
(no request reaches the server, not even an upload), the key nowhere, and each format
one well-formed output: text the bodies, jsonl one {input, body} per line, json ONE
document (before, `describe a b --dry-run --format json` printed two documents)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.media import write_image


@pytest.fixture
def two(tmp_path: Path) -> list[str]:
    write_image(tmp_path / "a.png", 64, 48)
    write_image(tmp_path / "b.png", 48, 64)
    return ["a.png", "b.png"]


def _no_trace(r, fake) -> None:  # type: ignore[no-untyped-def]
    assert fake.state.requests == []
    assert fake.api_key not in r.stdout + r.stderr
    assert "Authorization" not in r.stdout and "Bearer" not in r.stdout


def test_describe_json_is_one_document(kv, fake, two: list[str]) -> None:
    r = kv("describe", *two, "--dry-run", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # one document, or this raises "Extra data"
    assert [d["input"] for d in doc] == two
    for d in doc:
        assert set(d) == {"input", "body"}
        assert d["body"]["stream"] is True
        assert "base64 chars>" in d["body"]["messages"][-1]["content"][0]["image_url"]["url"]
    _no_trace(r, fake)


def test_describe_jsonl_is_one_object_per_line_naming_its_input(kv, fake, two: list[str]) -> None:
    r = kv("describe", *two, "--dry-run", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["input"] for line in lines] == two
    assert all(line["body"]["model"] for line in lines)
    _no_trace(r, fake)


def test_describe_text_keeps_the_pretty_printed_bodies(kv, fake, two: list[str]) -> None:
    r = kv("describe", two[0], "--dry-run")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["messages"][-1]["role"] == "user" and r.stdout.startswith("{\n  ")
    _no_trace(r, fake)


def test_describe_failed_input_keeps_the_document_whole(kv, fake, two: list[str]) -> None:
    r = kv("describe", "missing.png", *two, "--dry-run", "--format", "json")
    assert r.returncode == 2
    assert [d["input"] for d in json.loads(r.stdout)] == two
    assert "missing.png" in r.stderr
    _no_trace(r, fake)


def test_ask_json_is_one_object(kv, fake, two: list[str]) -> None:
    r = kv("ask", "Which is taller?", *two, "--prefix", "The", "--dry-run", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["input"] == "a.png, b.png"
    messages = doc["body"]["messages"]
    assert [p["type"] for p in messages[0]["content"]] == ["image_url", "image_url", "text"]
    assert messages[-1] == {"role": "assistant", "content": "The", "partial": True}
    _no_trace(r, fake)


def test_ask_jsonl_is_one_line(kv, fake, two: list[str]) -> None:
    r = kv("ask", "Same?", *two, "--dry-run", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert json.loads(line)["input"] == "a.png, b.png"


def test_estimate_json_is_one_document(kv, fake, two: list[str]) -> None:
    """One object, as `estimate --format json` writes (issue 21 item 7), not an array."""
    r = kv("estimate", *two, "--dry-run", "--format", "json", extra_env={"MOONSHOT_API_KEY": ""})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"model", "inputs"} and doc["model"] == "kimi-k2.6"
    assert [d["input"] for d in doc["inputs"]] == two
    assert all(set(d["body"]) == {"model", "messages"} for d in doc["inputs"])
    asked = kv("estimate", "--ask", "Q?", *two, "--dry-run", "--format", "json")
    (one,) = json.loads(asked.stdout)["inputs"]
    assert one["input"] == "a.png, b.png"
    assert "tokenizers/estimate-token-count" in r.stderr
    _no_trace(r, fake)


def test_estimate_ask_jsonl(kv, fake, two: list[str]) -> None:
    r = kv("estimate", "--ask", "Q?", *two, "--dry-run", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert json.loads(line)["input"] == "a.png, b.png"


def test_media_to_upload_show_as_placeholders_and_nothing_is_uploaded(kv, fake, two: list[str]) -> None:
    r = kv("describe", two[0], "--upload", "always", "--dry-run", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    url = json.loads(line)["body"]["messages"][-1]["content"][0]["image_url"]["url"]
    assert url == "ms://<upload: a.png>"
    _no_trace(r, fake)
    # estimate counts what describe would send, inline: the placeholder is never counted
    r = kv("estimate", two[0], "--upload", "always", "--dry-run", "--format", "json")
    url = json.loads(r.stdout)["inputs"][0]["body"]["messages"][-1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    _no_trace(r, fake)


def test_dry_run_with_the_sidecar_skip_and_shards(kv, fake, two: list[str], tmp_path: Path) -> None:
    (tmp_path / "a.png.txt").write_text("done before\n")
    r = kv("describe", *two, "--sidecar", "txt", "--dry-run", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert [d["input"] for d in json.loads(r.stdout)] == ["b.png"]  # a.png is resumed, not planned
    assert not (tmp_path / "b.png.txt").exists()  # a dry run writes no sidecar
    _no_trace(r, fake)


def test_dry_run_does_not_download_urls(kv, fake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    url = "http://127.0.0.1:9/image.png"  # nothing listens there: a download would fail (exit 75)
    r = kv("describe", "--dry-run", "--format", "jsonl", url)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    part = json.loads(line)["body"]["messages"][-1]["content"][0]
    assert part["image_url"]["url"] == f"data:<downloaded from {url}>"
    assert "does not download" in r.stderr
