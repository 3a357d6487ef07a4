"""The listing writer (output/listing.py) on its own: each format, a terminal and a pipe,
through an injected Terminal; no server."""

from __future__ import annotations

import io
import json

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.moonshot import price_for
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.listing import (
    BATCHES,
    ESTIMATES,
    FILES,
    MODELS,
    SUBMITTED,
    UPLOADS,
    Listing,
    ListingWriter,
    estimate_footer,
)
from kimi_vision_cli.output.records import Cost, Estimate, UploadRecord
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import ModelInfo
from tests.conftest import FakeTTY

K26 = ModelInfo("kimi-k2.6", 262144, True, True, True)
V8K = ModelInfo("moonshot-v1-8k-vision-preview", None, True, False, True)


def term(*, tty: bool, color: bool = False) -> Terminal:
    stream = FakeTTY if tty else io.StringIO
    return Terminal(
        stdout=stream(), stderr=stream(), stdin=io.BytesIO(), stdout_isatty=tty, stderr_isatty=tty,
        stdin_isatty=False, color=color, width=100,
    )  # fmt: skip


def out(t: Terminal) -> str:
    return t.stdout.getvalue()  # type: ignore[attr-defined]


def err(t: Terminal) -> str:
    return t.stderr.getvalue()  # type: ignore[attr-defined]


def write(listing: Listing, fmt: str, rows: list, *, tty: bool = False, **close) -> Terminal:  # type: ignore[type-arg]
    t = term(tty=tty)
    w = ListingWriter(listing, fmt, t, Diagnostics(t))
    for row in rows:
        w.row(row)
    w.close(**close)
    return t


def test_text_piped_is_tab_separated_without_header() -> None:
    t = write(MODELS, "text", [K26, V8K])
    assert out(t) == "kimi-k2.6\t262144\timage,video\nmoonshot-v1-8k-vision-preview\t\timage\n"


def test_text_on_a_terminal_is_a_table() -> None:
    t = write(MODELS, "text", [K26, V8K], tty=True)
    lines = out(t).splitlines()
    assert lines[0].split() == ["model", "context", "image", "video"]
    assert lines[1].split() == ["kimi-k2.6", "262,144", "yes", "yes"]
    assert lines[2].split() == ["moonshot-v1-8k-vision-preview", "?", "yes", "-"]
    assert "\t" not in out(t)


def test_a_listing_without_a_table_writes_lines_on_a_terminal_too() -> None:
    up = UploadRecord("a.png", "file-1", "image", 10, False)
    assert out(write(UPLOADS, "text", [up], tty=True)) == "ms://file-1\n"


def test_json_is_one_indented_array_written_at_the_end() -> None:
    t = term(tty=False)
    w = ListingWriter(MODELS, "json", t)
    w.row(K26)
    assert out(t) == ""
    w.close()
    assert out(t) == json.dumps([{"id": "kimi-k2.6", "context_length": 262144, "image": True, "video": True}],
                                indent=2) + "\n"  # fmt: skip


def test_jsonl_streams_a_line_per_row() -> None:
    t = term(tty=True)  # a terminal changes nothing for jsonl
    w = ListingWriter(UPLOADS, "jsonl", t)
    w.row(UploadRecord("é.png", "file-1", "image", 10, True))
    assert json.loads(out(t)) == {"input": "é.png", "file_id": "file-1", "url": "ms://file-1",
                                  "purpose": "image", "bytes": 10, "cached": True, "error": None}  # fmt: skip
    assert "é" in out(t)  # not \u00e9
    w.row(UploadRecord("b.png", "file-2", "image", 10, False))
    w.close()
    assert [json.loads(line)["file_id"] for line in out(t).splitlines()] == ["file-1", "file-2"]


def test_empty_json_is_an_empty_array_and_empty_text_is_nothing() -> None:
    assert out(write(FILES, "json", [])) == "[]\n"
    assert out(write(FILES, "text", [])) == ""


def test_file_names_in_a_table_are_not_markup() -> None:
    f = {"id": "file-1", "purpose": "image", "bytes": 1234, "created_at": 0, "filename": "[/x][bold]y.png"}
    t = write(FILES, "text", [f], tty=True)
    assert "[/x][bold]y.png" in out(t) and "1,234" in out(t)
    assert "1 of 1,000 files" in err(t)  # the count goes to stderr, under the table only
    assert err(write(FILES, "text", [f])) == ""


def test_estimate_lines_align_and_failures_stay_out_of_text() -> None:
    bad = Estimate("bad.png", error=InputError("not an image", input="bad.png"))
    rows = [Estimate("a.png", tokens=1234), bad, Estimate("b.png", tokens=7)]
    t = term(tty=False)
    w = ListingWriter(ESTIMATES, "text", t)
    for r in rows:
        w.row(r)
    w.close(footer=estimate_footer(3, 1241, Cost("USD", 0.001179, price_for("kimi-k2.6")), "kimi-k2.6", ""))
    assert out(t).splitlines() == [
        "      1234  a.png",
        "         7  b.png",
        "      1241  total",
        "cost: 0.001179 USD (kimi-k2.6 input at 0.95 USD per 1M tokens, published price)",
    ]

    t = write(ESTIMATES, "json", rows, document=lambda inputs: {"inputs": inputs}, footer=["not in json"])
    doc = json.loads(out(t))
    assert [e["tokens"] for e in doc["inputs"]] == [1234, None, 7]
    assert doc["inputs"][1]["error"]["code"] == "bad_input"
    assert len(out(write(ESTIMATES, "jsonl", rows)).splitlines()) == 3


def test_batch_objects_are_one_array_in_json_and_lines_in_jsonl() -> None:
    """Issue 21 item 7: --format json is one document (it was one object per line here)."""
    b = {
        "id": "batch-1",
        "status": "in_progress",
        "request_counts": {"total": 3, "completed": 1, "failed": 0},
    }
    assert out(write(BATCHES, "text", [b])) == "batch-1\tin_progress\t1/3 done\t0 failed\n"
    assert json.loads(out(write(BATCHES, "json", [b, b]))) == [b, b]
    assert json.loads(out(write(BATCHES, "json", []))) == []
    assert [json.loads(line) for line in out(write(BATCHES, "jsonl", [b, b])).splitlines()] == [b, b]


def test_submit_is_ids_as_text_and_one_object_as_json() -> None:
    doc = {"batch_ids": ["b1", "b2"], "requests": 3, "failed": []}
    assert out(write(SUBMITTED, "text", ["b1", "b2"], document=lambda _: doc)) == "b1\nb2\n"
    for fmt in ("json", "jsonl"):
        assert out(write(SUBMITTED, fmt, ["b1", "b2"], document=lambda _: doc)) == json.dumps(doc) + "\n"
