"""describe / ask through the installed command against the loopback server."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.media import write_image


def _data_url(req) -> str:  # type: ignore[no-untyped-def]
    parts = req.body["messages"][-1]["content"]
    return next(p for p in parts if p["type"] in ("image_url", "video_url"))


def test_describe_png_streams_plain_text(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "photo.png", 64, 48)
    r = kv("describe", "photo.png")
    assert r.returncode == 0, r.stderr
    assert "a 64x48 image/png image" in r.stdout
    assert r.stdout.startswith("**Answer 1**")
    assert r.stderr == ""
    (req,) = fake.chat_requests
    body = req.body
    assert body["model"] == "kimi-k2.5"
    assert body["stream"] is True
    assert body["thinking"] == {"type": "enabled"}
    for fixed in ("temperature", "top_p", "n", "presence_penalty", "frequency_penalty"):
        assert fixed not in body
    content = body["messages"][-1]["content"]
    assert isinstance(content, list)
    assert content[0]["type"] == "image_url"
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[-1] == {"type": "text", "text": "Describe the content of the image."}
    # sent byte for byte: no needless re-encode
    sent = base64.b64decode(content[0]["image_url"]["url"].split(",", 1)[1])
    assert sent == (tmp_path / "photo.png").read_bytes()
