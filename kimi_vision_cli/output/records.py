"""The records the commands print as JSON/JSONL: the contract of SPEC.md "Output" and
docs/output.md, in one module (STYLE rule 8). Flows return these; renderers and the
listing writer turn them into bytes. Keys and their order are pinned by
tests/test_contract.py, tests/test_upload.py, tests/test_models.py and tests/test_files.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.moonshot import Price
from kimi_vision_cli.output.controls import strip_controls, strip_in
from kimi_vision_cli.types import ModelInfo

# -- one input's answer: describe, ask, batch results ----------------------------------

RESULT_KEYS = ("input", "model", "text", "reasoning", "finish_reason", "usage", "cost", "media", "error")
# describe --segment adds `segments` (issue 15): [{start, end, text, usage}], times in seconds,
# each with `data` under --schema (issue 23), which then has no `data` of its own.
SEGMENT_KEYS = ("start", "end", "text", "usage")
MEDIA_KEYS = (
    "mime", "width", "height", "original_width", "original_height", "transport", "file_id",
    "bytes", "original_bytes", "original_mime", "resized", "rotated", "converted", "stripped",
    "color_converted",  # issue 19, item 15: "cmyk-icc" | "cmyk" | null
)  # fmt: skip
VIDEO_KEYS = ("duration", "codec")  # a video's media record adds these (docs/output.md)


def media_record(media: dict[str, Any]) -> dict[str, Any]:
    """What was sent of one medium: every MEDIA_KEYS key, in order (null when unknown),
    and for a video its probed duration (seconds) and codec."""
    keys = MEDIA_KEYS + VIDEO_KEYS if str(media.get("mime") or "").startswith("video/") else MEDIA_KEYS
    return {k: media.get(k) for k in keys}


def error_record(err: KimiVisionError | None) -> dict[str, str] | None:
    return None if err is None else {"code": err.code, "message": err.one_line()}


@dataclass
class Result:
    input: str
    model: str
    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    # What the answer cost: `usage` at the model's price (runner/budget.py); None: unknown.
    cost: Cost | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    error: KimiVisionError | None = None
    skipped: bool = False  # resumed run: output already there
    segments: list[dict[str, Any]] | None = None  # describe --segment: one per segment, in order
    data: dict[str, Any] | None = None  # --schema: the answer parsed and validated
    structured: bool = False  # --schema was given: the record carries "data" (null on failure)

    def cleaned(self) -> Result:
        """A copy whose model text (text, reasoning, segments, data) holds no control
        character but newline and tab: what JSON, sidecars and manifests are given
        (output/controls.py; issue 19, item 12)."""
        segments = None if self.segments is None else [_clean_segment(s) for s in self.segments]
        return replace(
            self, text=strip_controls(self.text), reasoning=strip_controls(self.reasoning),
            segments=segments, data=strip_in(self.data),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The record (RESULT_KEYS, in order), its model text cleaned as in cleaned(). Built
        by hand, not with dataclasses.asdict: that deep-copied every field, the media's too
        only to be replaced, and was the main thread's largest cost per input (issue 24)."""
        out: dict[str, Any] = {
            "input": self.input,
            "model": self.model,
            "text": strip_controls(self.text),
            "reasoning": strip_controls(self.reasoning) or None,
            "finish_reason": self.finish_reason,
            "usage": _copied(self.usage),
            "cost": None if self.cost is None else self.cost.to_dict(),
            "media": [media_record(m) for m in self.media],
            "error": error_record(self.error),
        }
        if self.segments is not None:
            keys = (*SEGMENT_KEYS, "data") if self.structured else SEGMENT_KEYS
            out["segments"] = [_segment_record(s, keys) for s in self.segments]
        elif self.structured:  # segmented: each part has its `data`
            out["data"] = strip_in(self.data)
        return out


def _clean_segment(segment: dict[str, Any]) -> dict[str, Any]:
    """One segment with its model text (text, and data with --schema) cleaned."""
    clean = dict(segment)
    if isinstance(clean.get("text"), str):
        clean["text"] = strip_controls(clean["text"])
    if clean.get("data") is not None:
        clean["data"] = strip_in(clean["data"])
    return clean


def _segment_record(segment: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """One segment's record: `keys` in order, cleaned as Result.cleaned cleans it."""
    clean = _clean_segment(segment)
    return {k: _copied(clean.get(k)) for k in keys}


def _copied(value: Any) -> Any:
    """A JSON value's dicts and lists copied (as asdict did): a record shares nothing
    with the Result it came from."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


# -- estimate --------------------------------------------------------------------------


@dataclass
class Estimate:
    input: str
    tokens: int | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    error: KimiVisionError | None = None
    body: dict[str, Any] | None = None  # the estimate request (for --dry-run); not in the record
    worst: Cost | None = None  # input plus the whole completion budget at the output price

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "tokens": self.tokens,
            "media": [media_record(m) for m in self.media],
            "error": error_record(self.error),
            "worst_case": (self.worst or Cost(None, None, None)).to_dict(),
        }


@dataclass
class Cost:
    currency: str | None
    amount: float | None
    price: Price | None

    def to_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "amount": self.amount}


def estimate_document(
    model: str, inputs: list[dict[str, Any]], total: int, cost: Cost, worst: Cost | None = None
) -> dict[str, Any]:
    """`estimate --format json`: one object around the per-input records."""
    return {
        "model": model,
        "inputs": inputs,
        "total_tokens": total,
        "cost": cost.to_dict(),
        "worst_case": (worst or Cost(None, None, None)).to_dict(),
    }


# -- upload ----------------------------------------------------------------------------

UPLOAD_KEYS = ("input", "file_id", "url", "purpose", "bytes", "cached", "error")


@dataclass(frozen=True)
class UploadRecord:
    input: str
    file_id: str | None
    purpose: str | None
    bytes: int | None
    cached: bool  # the same bytes were uploaded before: the id was reused
    # A failed input: JSON/JSONL still hold one record per input (issue 19.23).
    error: KimiVisionError | None = None

    @property
    def url(self) -> str | None:
        return None if self.file_id is None else f"ms://{self.file_id}"

    @classmethod
    def failed(cls, input: str, error: KimiVisionError) -> UploadRecord:
        return cls(input, None, None, None, False, error)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in UPLOAD_KEYS}
        d["error"] = error_record(self.error)
        return d


# -- models and files ------------------------------------------------------------------

MODEL_KEYS = ("id", "context_length", "image", "video")


def model_record(m: ModelInfo) -> dict[str, Any]:
    return {k: getattr(m, k) for k in MODEL_KEYS}


# Moonshot's file object, cut to the keys the contract promises.
FILE_KEYS = ("id", "purpose", "bytes", "created_at", "filename", "status")


def file_record(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f.get(k) for k in FILE_KEYS}


# -- batch -----------------------------------------------------------------------------


@dataclass
class Submitted:
    """`batch submit`: filled as batches are created, so the ids survive a later failure."""

    batch_ids: list[str] = field(default_factory=list)
    requests: int = 0
    failed: list[Result] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_ids": self.batch_ids,
            "requests": self.requests,
            "failed": [f.to_dict() for f in self.failed],
        }


def batch_record(batch: dict[str, Any]) -> dict[str, Any]:
    """`batch status/cancel`: the batch object as Moonshot returns it (docs/output.md)."""
    return batch
