"""`batch results`: a finished batch's output and error files turned back into our
records, under the names its inputs were given (flows/batch.py submits it and keeps a
local record of it; a batch submitted on another machine is read from its custom_ids
and metadata). With --schema each answer is checked, and one that does not match is
asked for once more, live. The local record and the request file are each read at
most once per batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.api.errors import moonshot_error
from kimi_vision_cli.errors import (
    APIError,
    ContentFilterError,
    KimiVisionError,
    TemporaryError,
    TruncatedError,
    UsageError,
)
from kimi_vision_cli.flows.batch import (
    DONE_STATES,
    FAILED_STATES,
    SCHEMA_IN_REQUESTS,
    TOOL,
    check_id,
    load_record,
    remember_file,
    save_record,
    source_of,
)
from kimi_vision_cli.moonshot import flag_and_field
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.runner.budget import Spend, price_here
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.send import check_answer, send_body
from kimi_vision_cli.types import Source


@dataclass
class Fetched:
    """A finished batch's (input, record) pairs in submission order (the input is None
    when this machine did not submit it), and what made its answers (None: unknown)."""

    records: list[tuple[Source | None, Result]]
    made: Provenance | None


def local_record(ctx: Context, batch_id: str, sidecar: str | None) -> dict[str, Any]:
    """The batch's local record ({}: submitted elsewhere), read here once for results(),
    and checked before anything is downloaded or paid: --sidecar vtt|srt needs timed
    parts, which only a batch submitted with --segment on this machine has (its record
    keeps them; a batch's own files do not say where a video's parts begin and end)."""
    check_id(batch_id)
    record = load_record(ctx, batch_id)
    if sidecar in ("vtt", "srt") and not record.get("segments"):
        raise UsageError(
            f"--sidecar {sidecar} needs timed parts: this batch was not submitted with --segment here",
            input=batch_id, hint="use txt, json or xmp, or submit the videos with --segment",
        )  # fmt: skip
    return record


def results(
    batch_id: str, ctx: Context, batch: dict[str, Any] | None = None, record: dict[str, Any] | None = None
) -> Fetched:
    """A finished batch's records; an unfinished batch is exit 75. `batch`: the batch
    object, when the caller has just fetched it (--wait); `record`: its local record,
    when the caller has read it (local_record). The local record of the batch and its
    request file are each read at most once."""
    if record is None:  # else local_record checked the id
        check_id(batch_id)
    batch = batch if batch is not None else ctx.client.batch_retrieve(batch_id)
    _check_finished(batch_id, batch)
    manifest = record if record is not None else load_record(ctx, batch_id)
    names: dict[str, str] = manifest.get("inputs", {})
    model = manifest.get("model") or _theirs(batch).get("model") or ctx.settings.request.model
    records = _read_records(ctx, batch_id, batch, names, model)
    for custom_id, name in names.items():  # asked for, but in neither file
        records.setdefault(custom_id, Result(name, model, error=APIError("no result in the batch output")))
    sources = {cid: Source(kind, value) for cid, (kind, value) in manifest.get("sources", {}).items()}
    for cid, rec in records.items():  # submitted elsewhere: the custom_id names the input
        found = sources.get(cid) or source_of(cid)
        if found is not None:
            sources[cid] = found
            if cid not in names:
                rec.input = found.display
                if rec.error is not None and rec.error.input == cid:
                    rec.error.input = found.display
    if not manifest.get("segments"):
        _fail_parts(records, sources, model)
    asked = _Requests(ctx, batch)  # the request file, downloaded once if at all
    spec = ctx.settings.request.schema or (json.dumps(manifest["schema"]) if manifest.get("schema") else None)
    spec = spec or _schema_elsewhere(batch, asked)
    if spec is not None:
        _check_all(ctx, batch_id, asked, manifest, records, spec)
    if manifest.get("segments"):  # batch submit --segment: each video's parts make its record
        from kimi_vision_cli.flows.batch_segments import join_parts

        join_parts(records, sources, manifest["segments"], model)
    _price(ctx, model, records.values())
    return Fetched([(sources.get(k), records[k]) for k in sorted(records)], _made(manifest, batch))


_PART = re.compile(r"kv-\d{7}-p\d{4}:")  # batch_segments.part_id's mark


def _fail_parts(records: dict[str, Result], sources: dict[str, Source], model: str) -> None:
    """In place: without the batch's local record, a --segment video's parts are known by
    their ids but not their times, and each would pass for the whole video (part 0's text
    its caption, the rest skipped). Each such video fails once instead; nothing is written."""
    from kimi_vision_cli.flows.batch_segments import video_id

    for cid in [c for c in records if _PART.match(c)]:
        part, video = records.pop(cid), video_id(cid)
        if cid in sources:
            sources[video] = sources.pop(cid)
        if video not in records:
            records[video] = Result(
                part.input, model,
                error=UsageError(
                    "parts of a --segment video: their times are kept only where the batch was submitted",
                    input=part.input, hint="run `kimi-vision batch results` on that machine",
                ),
            )  # fmt: skip


def _check_finished(batch_id: str, batch: dict[str, Any]) -> None:
    """A failed batch without output is an APIError, an unfinished one exit 75."""
    state = batch.get("status")
    counts = batch.get("request_counts") or {}
    if state in FAILED_STATES and not batch.get("output_file_id"):
        raise APIError(f"batch {batch_id} is {state}", hint="see `kimi-vision batch status` and resubmit")
    if state not in DONE_STATES | FAILED_STATES:
        done = f" ({counts.get('completed', 0)}/{counts.get('total', '?')} done)" if counts else ""
        raise TemporaryError(f"batch {batch_id} is still {state}{done}", hint="rerun later")


def _read_records(
    ctx: Context, batch_id: str, batch: dict[str, Any], names: dict[str, str], model: str
) -> dict[str, Result]:
    """The records of the batch's output and error files, by custom_id."""
    records: dict[str, Result] = {}
    for key in ("output_file_id", "error_file_id"):
        file_id = batch.get(key)
        if not file_id:
            continue
        content = ctx.client.file_content(str(file_id))
        remember_file(
            ctx, str(file_id), "batch_output", f"batch {batch_id} {key.removesuffix('_id').replace('_', ' ')}"
        )
        for raw in content.decode("utf-8", "replace").splitlines():
            if raw.strip():
                try:
                    cid, rec = _record(raw, names, model)
                except APIError as err:  # one bad line: its input gets "no result" below
                    ctx.diag.warn(f"batch {batch_id}: {err.message}")
                    continue
                records[cid] = rec
    return records


def _record(raw: str, names: dict[str, str], model: str) -> tuple[str, Result]:
    try:
        line = json.loads(raw)
        custom_id = str(line["custom_id"])
    except (ValueError, KeyError, TypeError):
        raise APIError("the batch output file has a malformed line") from None
    result = Result(names.get(custom_id, custom_id), model)
    try:
        return custom_id, _answer(line, result, model)
    except (AttributeError, TypeError, IndexError):  # a field of another shape than documented
        result.error = APIError("the batch output holds a malformed result for it", input=result.input)
        return custom_id, result


def _answer(line: dict[str, Any], result: Result, model: str) -> Result:
    """The record of one output line whose custom_id is known."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error") or body.get("error")
    if error or response.get("status_code", 200) >= 400:
        kind, text = moonshot_error({"error": error} if error else None)
        text = text or f"HTTP {response.get('status_code')}"
        cls = ContentFilterError if "content_filter" in f"{kind} {text}" else APIError
        result.error = cls(f"{text} ({kind})" if kind else text, input=result.input)
        return result
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    result.text = message.get("content") or ""
    result.reasoning = message.get("reasoning_content") or ""
    result.finish_reason = choice.get("finish_reason")
    result.usage = body.get("usage") or choice.get("usage")
    result.model = body.get("model", model)
    if result.finish_reason == "length":
        result.error = TruncatedError(
            "the answer was cut at the max_tokens limit",
            input=result.input,
            hint=f"raise {flag_and_field('max_tokens')} and resubmit",  # the Batch API takes k2.x
        )
    return result


def _made(record: dict[str, Any], batch: dict[str, Any]) -> Provenance | None:
    """What made a batch's answers, as `batch submit` recorded it on this machine, else
    as the batch's metadata says (submitted elsewhere by this tool)."""
    found = Provenance.from_dict(record.get("provenance"))
    if found is None:
        meta = _theirs(batch)
        found = Provenance.from_dict({"model": meta.get("model"), "prompt_hash": meta.get("prompt_hash")})
    return found


def _theirs(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch's metadata when this tool made it (`tool`: kimi-vision), else {}: another
    program's `schema` or `prompt_hash` means nothing here and is not followed."""
    meta = batch.get("metadata") or {}
    return dict(meta) if isinstance(meta, dict) and meta.get("tool") == TOOL else {}


def _schema_elsewhere(batch: dict[str, Any], asked: _Requests) -> str | None:
    """The --schema a batch this tool submitted on another machine was asked with (its
    metadata, or its first request's response_format), as a --schema value; None: none,
    or the batch is another program's."""
    text = _theirs(batch).get("schema")
    if text != SCHEMA_IN_REQUESTS:
        return str(text) if text else None
    body = asked.first()
    found = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return json.dumps(found) if isinstance(found, dict) else None


# A request line as this tool writes it starts with its custom_id (flows/batch.py): the
# id is read from there without parsing the rest, which holds the base64 media.
_ID_FIRST = re.compile(rb'\s*\{\s*"custom_id"\s*:\s*("(?:[^"\\\n]|\\.)*")')


class _Requests:
    """The batch's own request lines (its input file), downloaded once and only when an
    answer must be asked for again. They are indexed by custom_id without being parsed
    (a line's media is most of it); a line is parsed when its request is needed. A line
    whose custom_id is not first (another program's file) is parsed to find it."""

    def __init__(self, ctx: Context, batch: dict[str, Any]):
        self.ctx, self.batch = ctx, batch
        self._raw = b""
        self._at: dict[str, tuple[int, int]] | None = None  # custom_id -> the line's span
        self._broken = False  # a line without a custom_id: the file cannot be indexed

    def first(self) -> dict[str, Any]:
        """The body of the batch's first request ({} when there is none)."""
        spans = self._index()
        first = next(iter(spans.values()), None)
        return _request_body(self._raw[first[0] : first[1]]) if first is not None else {}

    def _index(self) -> dict[str, tuple[int, int]]:
        if self._broken:  # every answer that needs the file is told the same
            raise _malformed()
        if self._at is None:
            file_id = self.batch.get("input_file_id")
            raw = self._raw = self.ctx.client.file_content(str(file_id)) if file_id else b""
            at: dict[str, tuple[int, int]] = {}
            begin = 0
            try:
                while begin < len(raw):  # bytes.find: a line's media is skipped at memchr speed
                    end = raw.find(b"\n", begin)
                    end = len(raw) if end < 0 else end
                    if (custom_id := _custom_id(raw, begin, end)) is not None:
                        at[custom_id] = (begin, end)
                    begin = end + 1
            except APIError:
                self._broken = True
                raise
            self._at = at
        return self._at

    def body(self, custom_id: str) -> dict[str, Any]:
        found = self._index().get(custom_id)
        if found is None:
            raise APIError("the batch's input file has no request for this answer: it cannot be asked again")
        return dict(_request_body(self._raw[found[0] : found[1]]), stream=True)


def _custom_id(raw: bytes, begin: int, end: int) -> str | None:
    """The custom_id of the request line raw[begin:end] (None: a blank line): read from
    its start when it comes first, else from the whole line parsed; a line without one
    is an APIError."""
    head = _ID_FIRST.match(raw, begin, end)
    try:
        if head is not None:
            return str(json.loads(head.group(1)))
        line = raw[begin:end]
        return str(json.loads(line)["custom_id"]) if line.strip() else None
    except (ValueError, KeyError, TypeError):
        raise _malformed() from None


def _malformed() -> APIError:
    return APIError("the batch's input file has a malformed request line: its answers cannot be asked again")


def _request_body(line: bytes) -> dict[str, Any]:
    """A request line's body; a line of another shape is an APIError, not a traceback."""
    try:
        body = json.loads(line)["body"]
    except (ValueError, KeyError, TypeError):
        raise _malformed() from None
    if not isinstance(body, dict):
        raise _malformed()
    return dict(body)


def _check_all(
    ctx: Context,
    batch_id: str,
    asked: _Requests,
    manifest: dict[str, Any],
    records: dict[str, Result],
    spec: str,
) -> None:
    """--schema over every answer. A live retry is paid once: its outcome is kept in the
    batch's manifest, so fetching the results again reuses it instead of asking again."""
    kept: dict[str, dict[str, Any]] = manifest.setdefault("retried", {})
    for custom_id, result in records.items():
        if custom_id in kept:
            _reuse(result, kept[custom_id])
        before = result.text
        _check_structured(ctx, result, spec, lambda cid=custom_id: asked.body(cid))  # type: ignore[misc]
        if custom_id not in kept and (result.text != before or result.error is not None):
            kept[custom_id] = {"text": result.text, "usage": result.usage, "error": _error_text(result)}
    if kept and _names_known(manifest):
        try:
            save_record(ctx, batch_id, manifest)
        except OSError as exc:
            ctx.diag.warn(f"cannot keep the retried answers of batch {batch_id}: {exc.strerror or exc}")


def _check_structured(ctx: Context, result: Result, spec: str, body: Callable[[], dict[str, Any]]) -> None:
    """--schema over a batch's answer: one that does not match is asked for once more,
    live (the same request, at the live price), then the input fails (exit 1)."""
    result.structured = True
    if result.error is not None:
        return
    try:
        check_answer(ctx, result, lambda: send_body(ctx, body(), result), answered=True, schema=spec)
    except KimiVisionError as err:
        result.error = err.with_input(result.input)


def _names_known(manifest: dict[str, Any]) -> bool:
    """A manifest this machine wrote at submit time (else there is nothing to update)."""
    return bool(manifest.get("inputs"))


def _reuse(result: Result, kept: dict[str, Any]) -> None:
    result.text, result.usage = str(kept.get("text") or ""), kept.get("usage")
    if kept.get("error"):
        result.error = APIError(
            str(kept["error"]), hint="the live retry of this answer failed before; resubmit it"
        )


def _error_text(result: Result) -> str | None:
    return result.error.message if result.error is not None else None


def _price(ctx: Context, model: str, records: Iterable[Result]) -> None:
    """Each answer at the Batch API's price of the batch's model (runner/budget.py);
    cost null when the model has no price here. (A live retry of a --schema answer is
    counted at the batch price too: a small undercount, said in docs/batch.md.)"""
    spend = Spend(price_here(ctx.settings, model, batch=True))
    for rec in records:
        spend.price_result(rec)
