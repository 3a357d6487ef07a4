"""`models`: the vision-capable models the key can use, from GET /v1/models."""

from __future__ import annotations

import json


def test_lists_only_vision_models_piped(kv, fake) -> None:
    r = kv("models")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert rows == [
        ["kimi-k2.6", "262144", "image,video"],
        ["kimi-k3", "1048576", "image,video"],
        ["kimi-lens-preview", "65536", "image"],
        ["moonshot-v1-128k-vision-preview", "131072", "image"],
        ["moonshot-v1-32k-vision-preview", "32768", "image"],
        ["moonshot-v1-8k-vision-preview", "8192", "image"],
    ]
    assert "moonshot-v1-8k\t" not in r.stdout  # text-only models are left out
    assert len(fake.requests_to("/v1/models", "GET")) == 1


def test_all_and_json(kv, fake) -> None:
    r = kv("models", "--all", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert all(list(m) == ["id", "context_length", "image", "video"] for m in doc)
    by_id = {m["id"]: m for m in doc}
    assert by_id["moonshot-v1-8k"] == {
        "id": "moonshot-v1-8k",
        "context_length": 8192,
        "image": False,
        "video": False,
    }
    assert by_id["kimi-k3"]["video"] is True and by_id["kimi-lens-preview"]["video"] is False


def test_fallback_to_known_ids_when_flags_are_missing(kv, fake) -> None:
    # An answer without supports_image_in/supports_video_in (older API versions).
    fake._server.models = lambda: [  # type: ignore[method-assign]
        {"id": "moonshot-v1-8k", "object": "model", "owned_by": "moonshot"},
        {
            "id": "moonshot-v1-32k-vision-preview",
            "object": "model",
            "owned_by": "moonshot",
            "context_length": 32768,
        },
        {"id": "kimi-k2.5", "object": "model", "owned_by": "moonshot"},
    ]
    r = kv("models", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert got == [
        {"id": "kimi-k2.5", "context_length": None, "image": True, "video": True},
        {"id": "moonshot-v1-32k-vision-preview", "context_length": 32768, "image": True, "video": False},
    ]


def test_terminal_gets_a_table(invoke, fake) -> None:
    code, out, err = invoke("models", tty=True)
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ["model", "context", "image", "video"]
    assert "262,144" in out


def test_wrong_key_is_exit_3_with_region_hint(kv, fake) -> None:
    r = kv("models", extra_env={"MOONSHOT_API_KEY": "sk-wrong-region-key"})
    assert r.returncode == 3
    assert "authentication failed" in r.stderr and "--region cn" in r.stderr
    assert "sk-wrong-region-key" not in r.stderr
