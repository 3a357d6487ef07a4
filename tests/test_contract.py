"""Machine output is a contract (STYLE rule 8; SPEC "Output"): the JSON/JSONL keys are
pinned here, and the README documents each of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_video_record_carries_duration_and_codec(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 24: output.md and large-media.md promise them for videos; images do not
    get the keys."""
    from tests.media import timed_video

    (tmp_path / "clip.mp4").write_bytes(timed_video(4))
    write_image(tmp_path / "a.png")
    r = kv("describe", "clip.mp4", "a.png", "--format", "jsonl", "-j", "1")
    assert r.returncode == 0, r.stderr
    video, image = (json.loads(line)["media"][0] for line in r.stdout.splitlines())
    assert list(video) == [*MEDIA_KEYS, "duration", "codec"]
    assert video["duration"] == pytest.approx(4, abs=0.2) and video["codec"] == "h264"
    assert list(image) == MEDIA_KEYS


def test_batch_status_json_is_the_object_moonshot_returns(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 24: no null keys of the SDK's Batch type that the server never sent."""
    write_image(tmp_path / "a.png")
    r = kv("batch", "submit", "a.png")
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.split()[0]
    r = kv("batch", "status", batch_id, "--format", "json")
    assert r.returncode == 0, r.stderr
    (shown,) = json.loads(r.stdout)  # one document: an array, here of one batch
    assert set(shown) == set(fake.state.batches[batch_id]["object"])


def test_format_json_is_one_document_per_run_in_every_command(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 21 item 7 (docs/output.md): `--format json` is one JSON document whatever the
    command and however many rows: an array for the commands that list (several batch
    ids were one object per line), an object for those that answer once."""
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png")
    submitted = kv("batch", "submit", "a.png", "--format", "json")
    assert submitted.returncode == 0, submitted.stderr
    (batch_id,) = json.loads(submitted.stdout)["batch_ids"]
    runs: list[tuple[tuple[str, ...], type]] = [
        (("batch", "status", batch_id, batch_id), list),
        (("batch", "cancel", batch_id), list),
        (("files", "list"), list),
        (("models",), list),
        (("upload", "a.png", "b.png"), list),
        (("describe", "a.png", "b.png"), list),
        (("estimate", "a.png", "b.png"), dict),
        (("ask", "Same?", "a.png", "b.png"), dict),
    ]
    for argv, kind in runs:
        r = kv(*argv, "--format", "json")
        assert r.returncode == 0, (argv, r.stderr)
        doc = json.loads(r.stdout)  # "Extra data" when a run writes two documents
        assert isinstance(doc, kind), argv
        assert not isinstance(doc, list) or len(doc) >= 1, argv


def test_batch_results_records_have_the_describe_keys_and_no_media(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """output.md: `media` is [] in batch results (sent by batch submit, not in the output)."""
    write_image(tmp_path / "a.png")
    batch_id = kv("batch", "submit", "a.png").stdout.split()[0]
    for _ in range(4):  # the loopback batch moves one step per look
        r = kv("batch", "results", batch_id, "--format", "jsonl")
        if r.returncode != 75:
            break
    assert r.returncode == 0, r.stderr
    (record,) = (json.loads(line) for line in r.stdout.splitlines())
    assert list(record) == RESULT_KEYS and record["media"] == [] and record["input"] == "a.png"
    # output.md: priced at the Batch API's 60% of the live price (issue 20)
    from kimi_vision_cli.moonshot import BATCH_DISCOUNT, price_for

    live = price_for("kimi-k2.6")
    assert live is not None
    assert record["cost"] == {
        "currency": "USD",
        "amount": round(live.usage_cost(record["usage"]) * BATCH_DISCOUNT, 6),
    }


def _asdict_record(result: Any) -> dict[str, Any]:
    """Result.to_dict as it was written with dataclasses.asdict (before issue 24 made it
    by hand, for CPU): the reference the record must still equal."""
    from dataclasses import asdict

    from kimi_vision_cli.output.records import RESULT_KEYS, SEGMENT_KEYS, error_record, media_record

    d = asdict(result.cleaned())
    d["error"] = error_record(result.error)
    d["reasoning"] = d["reasoning"] or None
    d["media"] = [media_record(m) for m in result.media]
    d["cost"] = None if result.cost is None else result.cost.to_dict()
    out = {k: d[k] for k in RESULT_KEYS}
    if d["segments"] is not None:
        keys = (*SEGMENT_KEYS, "data") if result.structured else SEGMENT_KEYS
        out["segments"] = [{k: s.get(k) for k in keys} for s in d["segments"]]
    if result.structured and d["segments"] is None:
        out["data"] = d["data"]
    return out


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # control characters included


@settings(max_examples=40)
@given(
    text=_texts,
    reasoning=_texts,
    usage=st.none() | st.dictionaries(st.sampled_from(["prompt_tokens", "total_tokens"]), st.integers()),
    media=st.lists(
        st.dictionaries(st.sampled_from(["mime", "width", "bytes", "duration"]), _json), max_size=2
    ),
    segments=st.none()
    | st.lists(
        st.fixed_dictionaries(
            {"start": st.floats(0, 9), "text": _texts | st.none()}, optional={"data": _json}
        ),
        max_size=2,
    ),
    data=st.none() | st.dictionaries(_texts, _json, max_size=3),
    structured=st.booleans(),
    failed=st.booleans(),
)
def test_a_record_is_what_asdict_made(
    text: str,
    reasoning: str,
    usage: dict[str, Any] | None,
    media: list[dict[str, Any]],
    segments: list[dict[str, Any]] | None,
    data: dict[str, Any] | None,
    structured: bool,
    failed: bool,
) -> None:
    """Result.to_dict, written by hand, gives the record asdict gave, its text cleaned the
    same way, and shares no dict or list with the Result it came from."""
    from kimi_vision_cli.errors import APIError
    from kimi_vision_cli.output.records import Cost, Result

    result = Result(
        "a.png", "kimi-k2.6", text=text, reasoning=reasoning, finish_reason="stop", usage=usage,
        cost=Cost("USD", 0.5, None), media=media, segments=segments, data=data, structured=structured,
        error=APIError("boom", hint="rerun", input="a.png") if failed else None,
    )  # fmt: skip
    before = copy.deepcopy((usage, segments, data))
    record = result.to_dict()
    assert json.dumps(record) == json.dumps(_asdict_record(result))  # the same keys, order and values
    for value in (
        record["usage"],
        record.get("data"),
        *(s.get("data") for s in record.get("segments") or []),
    ):
        if isinstance(value, dict | list):
            value.clear()
    assert (result.usage, result.segments, result.data) == before  # nothing shared, nothing changed
