"""Machine output is a contract (STYLE rule 8; SPEC "Output"): the JSON/JSONL keys are
pinned here, and the README documents each of them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.media import write_image

OUTPUT_DOC = Path(__file__).resolve().parent.parent / "docs" / "output.md"
RESULT_KEYS = ["input", "model", "text", "reasoning", "finish_reason", "usage", "cost", "media", "error"]
MEDIA_KEYS = [
    "mime", "width", "height", "original_width", "original_height", "transport", "file_id",
    "bytes", "original_bytes", "original_mime", "resized", "rotated", "converted", "stripped",
    "color_converted",
]  # fmt: skip


def test_jsonl_record_keys(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("not an image")
    r = kv("describe", "a.png", "bad.png", "--format", "jsonl", "-j", "1")
    assert r.returncode == 2
    good, bad = (json.loads(line) for line in r.stdout.splitlines())
    assert list(good) == RESULT_KEYS
    assert list(good["media"][0]) == MEDIA_KEYS
    assert good["error"] is None
    assert list(bad) == RESULT_KEYS
    assert bad["error"]["code"] == "bad_input" and "bad.png" in bad["error"]["message"]
    assert bad["text"] == ""


def test_record_keys_match_this_test() -> None:
    from kimi_vision_cli.output.records import MEDIA_KEYS as media
    from kimi_vision_cli.output.records import RESULT_KEYS as result

    assert list(result) == RESULT_KEYS
    assert list(media) == MEDIA_KEYS


def test_output_doc_documents_every_key() -> None:
    text = OUTPUT_DOC.read_text()
    missing = [k for k in RESULT_KEYS + MEDIA_KEYS if f"`{k}`" not in text]
    assert missing == []
