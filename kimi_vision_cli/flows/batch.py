"""Moonshot's Batch API for very large jobs: build one JSONL of chat requests (the
same bodies describe would stream, with `stream` off), upload it with purpose
`batch`, create the batch, and later turn its output file back into our records.

Limits from Moonshot's batch docs: the input file is a non-empty `.jsonl` of at most
100 MB, one model per file, unique `custom_id`s, endpoint `/v1/chat/completions`,
completion window 12h..7d. A job bigger than one file is split into several batches.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from kimi_vision_cli import schema as schemas
from kimi_vision_cli.api.errors import moonshot_error
from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.errors import (
    APIError,
    ContentFilterError,
    InputError,
    KimiVisionError,
    NotStartedError,
    Tally,
    TemporaryError,
    TruncatedError,
    UsageError,
)
from kimi_vision_cli.inputs.discover import valid_id
from kimi_vision_cli.moonshot import (
    BATCH_DISCOUNT,
    BATCH_DONE_STATES,
    BATCH_FAILED_STATES,
    BATCH_METADATA_VALUE,
    BATCH_WINDOW_HOURS,
    FILE_LIMIT,
    MB,
    MODELS,
    mib,
    price_for,
)
from kimi_vision_cli.output.records import Cost, Result, Submitted
from kimi_vision_cli.plan import plan
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.runner.budget import Allowance
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.runner.send import check_answer, send_body
from kimi_vision_cli.settings import Settings, cache_dir
from kimi_vision_cli.types import Source, display_name

# Under Moonshot's 100 MB file cap, with room for multipart framing.
MAX_FILE_BYTES = FILE_LIMIT - 5 * MB
_WINDOW_UNITS = {"h": 1, "d": 24}
DONE_STATES, FAILED_STATES = BATCH_DONE_STATES, BATCH_FAILED_STATES  # Moonshot's (flows/waiting.py)
SCHEMA_IN_REQUESTS = "in-requests"  # metadata "schema": too long, read the request lines


def check_window(window: str) -> str:
    """Moonshot takes 12h..7d, written like 12h, 24h, 1d, 3d."""
    try:
        hours = int(window[:-1]) * _WINDOW_UNITS[window[-1]]
    except (KeyError, ValueError, IndexError):
        hours = -1
    low, high = BATCH_WINDOW_HOURS
    if not low <= hours <= high:
        raise UsageError(f"--completion-window {window!r} must be between 12h and 7d", hint="e.g. 24h or 3d")
    return window


def check_model(settings: Settings) -> None:
    """Refused here only when moonshot.MODELS says the Batch API does not take the model
    (a model the table does not know goes: the service decides), before anything is read."""
    spec = settings.spec
    if spec.known and not spec.batch:
        takes = ", ".join(m.id for m in MODELS.values() if m.batch and not m.retired)
        raise UsageError(
            f"{spec.id} is not available on Moonshot's Batch API, which takes {takes}",
            hint=f"use -m {takes.split(', ')[0]}, or describe, which takes every model",
        )


def custom_id(index: int, source: Source) -> str:
    """The request's custom_id carries its input, so `batch results` on a machine that
    did not submit the batch writes the same sidecars and manifest rows (issue 20)."""
    return f"kv-{index:07d}:{source.kind}:{source.value}"


def source_of(cid: str) -> Source | None:
    """The input a custom_id made by custom_id() names (None: another tool's id)."""
    parts = cid.split(":", 2)
    if (
        len(parts) != 3
        or not parts[0].startswith("kv-")
        or parts[1] not in ("path", "stdin", "file_id", "url")
    ):
        return None
    return Source(parts[1], parts[2])


Line = tuple[str, Source, bytes | KimiVisionError, dict[str, list[Any]]]


def _lines(sources: Iterable[Source], ctx: Context) -> Iterator[Line]:
    """(custom_id, input, its JSONL line or why it has none, its parts) per input, prepared
    one by one. A batch line carries its media inline: the Batch API file is the upload.
    With --segment, the "line" is the block of a video's parts, which never splits
    across batch files (flows/batch_segments.py), and the parts are named."""
    for index, source in enumerate(sources):
        cid = custom_id(index, source)
        parts: dict[str, list[Any]] = {}
        try:
            if ctx.settings.media.segment is not None:
                from kimi_vision_cli.flows.batch_segments import video_lines

                data, parts = video_lines(cid, source, ctx)
            else:
                prepared = prepare_source(source, ctx)
                planned = plan(
                    [prepared], None, ctx.settings, label=source.display, stream=False, can_upload=False
                )
                line = {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                        "body": planned.body}  # fmt: skip
                data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        except KimiVisionError as err:
            yield cid, source, err.with_input(source.display), {}
            continue
        if len(data) > MAX_FILE_BYTES:
            yield (
                cid,
                source,
                InputError(
                    # a video's parts go into one file together (flows/batch_segments.py)
                    f"{'its parts together are' if parts else 'one request is'} over the batch file's "
                    f"{mib(MAX_FILE_BYTES)} limit",
                    input=source.display,
                    hint="lower --max-size for images, --downscale-video for videos, "
                    "or use describe (which can upload media)",
                ),
                {},
            )
            continue
        yield cid, source, data, parts


def submit(
    sources: Iterable[Source],
    ctx: Context,
    window: str,
    out: Submitted | None = None,
    tally: Tally | None = None,
) -> Submitted:
    """Write the JSONL in <=95 MB parts on disk, upload each, create a batch per part.
    `out` is filled as batches are created, so a caller still has their ids if a later
    part fails or the run is interrupted. Inputs that fail go to `out.failed` and the
    tally (which reports them); auth and quota stop the run."""
    out = out if out is not None else Submitted()
    tally = tally if tally is not None else Tally(report=ctx.diag.error)
    check_model(ctx.settings)
    allowance = Allowance.for_batch(ctx)  # --max-cost: requests counted at their worst case
    sources = iter(sources)  # the inputs left after a refusal are named, not prepared
    manifest: dict[str, Source] = {}
    parts: dict[str, list[Any]] = {}  # --segment: custom_id -> [start, end, label] (batch_segments.py)
    with tempfile.TemporaryDirectory(prefix="kimi-vision-batch-") as tmp:
        part = Path(tmp) / "part.jsonl"
        fh = part.open("wb")
        size = 0
        try:
            for cid, source, line, its_parts in _lines(sources, ctx):
                if isinstance(line, KimiVisionError):
                    out.failed.append(Result(source.display, ctx.settings.request.model, error=line))
                    if tally.error(line):
                        break
                    continue
                if allowance is not None and not all(allowance.admit(x) for x in line.splitlines()):
                    allowance.refuse(source, sources, out, tally)
                    break
                if size + len(line) > MAX_FILE_BYTES:
                    fh.close()
                    out.batch_ids.append(_create(part, manifest, ctx, window, parts))
                    manifest, parts, size = {}, {}, 0
                    fh = part.open("wb")
                fh.write(line)
                size += len(line)
                ids = list(its_parts) or [cid]
                manifest.update(dict.fromkeys(ids, source))
                parts.update(its_parts)
                out.requests += len(ids)
                tally.ok()
        finally:
            fh.close()
        if manifest and not tally.stopped:
            out.batch_ids.append(_create(part, manifest, ctx, window, parts))
        elif manifest:  # the run stopped: the part not yet submitted is said, input by input
            _not_submitted(manifest, ctx, out)
    return out


def _not_submitted(manifest: dict[str, Source], ctx: Context, out: Submitted) -> None:
    why = "not submitted: the run stopped at an error every input would share (see above)"
    for source in manifest.values():
        err = NotStartedError(why, hint="fix it and rerun", input=source.display)
        out.failed.append(Result(source.display, ctx.settings.request.model, error=err))
    out.requests -= len(manifest)


def _create(
    part: Path, manifest: dict[str, Source], ctx: Context, window: str, parts: dict[str, list[Any]]
) -> str:
    client = ctx.client
    file_id = client.upload(part.read_bytes(), "kimi-vision-batch.jsonl", "batch")
    _ours(ctx, file_id, "batch", "batch request file")  # before anything can fail: prune finds it
    from kimi_vision_cli.output.writers import made_by

    spec, settings = ctx.settings.request.schema, ctx.settings
    schema = schemas.load(spec).schema if spec is not None else None
    made = made_by(settings)  # the provenance describe records, the same way
    batch = client.batch_create(file_id, window, _metadata(settings.request.model, made, schema))
    batch_id = str(batch["id"])
    # What `batch results` needs later: the names to print, the inputs themselves (for
    # sidecars and manifest rows) and the schema the answers must match (--schema).
    _save_manifest(ctx, batch_id, {
        "model": settings.request.model,
        "inputs": {cid: parts[cid][2] if cid in parts else s.display for cid, s in manifest.items()},
        "sources": {cid: [s.kind, s.value] for cid, s in manifest.items()},
        "schema": schema,
        # what made the answers, for the sidecars and rows `batch results` writes (issue 19)
        "provenance": made.to_dict(),
        "segments": parts,
    })  # fmt: skip
    return batch_id


def _metadata(model: str, made: Provenance, schema: Any) -> dict[str, str]:
    """The batch's metadata also carries what made its answers, so `batch results` on a
    machine without this one's cache writes the same provenance and checks the same
    schema (issue 20.6). A schema over the 512-character value limit stays in the
    batch's own request lines (SCHEMA_IN_REQUESTS), read from there."""
    meta = {"tool": "kimi-vision", "model": model, "prompt_hash": made.prompt_hash}
    if schema is not None:
        text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        meta["schema"] = text if len(text) <= BATCH_METADATA_VALUE else SCHEMA_IN_REQUESTS
    return meta


def _ours(ctx: Context, file_id: str, purpose: str, what: str) -> None:
    """Batch files count toward the account's 1,000 files like uploads: recorded with
    them, so that `files prune` deletes them too (issue 19.10)."""
    from kimi_vision_cli.api.uploads import UploadCache

    UploadCache.for_env(ctx.term.env, ctx.diag.warn).record(
        file_id, purpose, ctx.settings.connection.base_url, what
    )


def made_by(ctx: Context, batch_id: str, batch: Any = None) -> Provenance | None:
    """What made a batch's answers, as `batch submit` recorded it on this machine, else
    as the batch's metadata says (submitted elsewhere)."""
    found = Provenance.from_dict(_load_manifest(ctx, batch_id).get("provenance"))
    if found is None and isinstance(batch, dict):
        meta = batch.get("metadata") or {}
        found = Provenance.from_dict({"model": meta.get("model"), "prompt_hash": meta.get("prompt_hash")})
    return found


def _manifest_path(ctx: Context, batch_id: str) -> Path:
    safe = "".join(c for c in batch_id if c.isalnum() or c in "-_")
    return cache_dir(ctx.term.env) / "batches" / f"{safe}.json"


def _save_manifest(ctx: Context, batch_id: str, data: dict[str, Any]) -> None:
    replace_file(_manifest_path(ctx, batch_id), json.dumps(data).encode(), private=True)


def _load_manifest(ctx: Context, batch_id: str) -> dict[str, Any]:
    try:
        return dict(json.loads(_manifest_path(ctx, batch_id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}  # submitted elsewhere: records fall back to the custom_id


def _check_id(batch_id: str) -> None:
    """`batch status ""` or `a/b`: refused here, never looked up (issue 11)."""
    if not valid_id(batch_id):
        raise InputError(
            f"not a batch id: {display_name(batch_id)!r}", hint="pass the id `batch submit` printed"
        )


def status(batch_id: str, ctx: Context) -> dict[str, Any]:
    _check_id(batch_id)
    return ctx.client.batch_retrieve(batch_id)


def cancel(batch_id: str, ctx: Context) -> dict[str, Any]:
    _check_id(batch_id)
    return ctx.client.batch_cancel(batch_id)


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
        _ours(
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


def results(
    batch_id: str, ctx: Context, batch: dict[str, Any] | None = None
) -> list[tuple[Source | None, Result]]:
    """(input, record) for a finished batch, in submission order (the input is None when
    this machine did not submit it); an unfinished batch is exit 75. `batch`: the batch
    object, when the caller has just fetched it (--wait)."""
    _check_id(batch_id)
    batch = batch if batch is not None else ctx.client.batch_retrieve(batch_id)
    _check_finished(batch_id, batch)
    manifest = _load_manifest(ctx, batch_id)
    names: dict[str, str] = manifest.get("inputs", {})
    model = manifest.get("model") or (batch.get("metadata") or {}).get("model") or ctx.settings.request.model
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
    spec = ctx.settings.request.schema or (json.dumps(manifest["schema"]) if manifest.get("schema") else None)
    spec = spec or _schema_elsewhere(ctx, batch)
    if spec is not None:
        _check_all(ctx, batch_id, batch, manifest, records, spec)
    if manifest.get("segments"):  # batch submit --segment: each video's parts make its record
        from kimi_vision_cli.flows.batch_segments import join_parts

        join_parts(records, sources, manifest["segments"], model)
    _price(ctx, model, records.values())
    return [(sources.get(k), records[k]) for k in sorted(records)]


def _price(ctx: Context, model: str, records: Iterable[Result]) -> None:
    """Each answer at the Batch API's price, 60% of the live one (moonshot.BATCH_DISCOUNT);
    cost null when the model has no price here. (A live retry of a --schema answer is
    counted at the batch price too: a small undercount, said in docs/batch.md.)"""
    s = ctx.settings
    live = price_for(model, s.prices, s.connection.base_url)
    price = live.discounted(BATCH_DISCOUNT) if live is not None else None
    for rec in records:
        if price is not None and rec.usage:
            rec.cost = Cost(price.currency, round(price.usage_cost(rec.usage), 6), price)


def _check_all(
    ctx: Context,
    batch_id: str,
    batch: dict[str, Any],
    manifest: dict[str, Any],
    records: dict[str, Result],
    spec: str,
) -> None:
    """--schema over every answer. A live retry is paid once: its outcome is kept in the
    batch's manifest, so fetching the results again reuses it instead of asking again."""
    asked = _Requests(ctx, batch)
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
            _save_manifest(ctx, batch_id, manifest)
        except OSError as exc:
            ctx.diag.warn(f"cannot keep the retried answers of batch {batch_id}: {exc.strerror or exc}")


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


def _schema_elsewhere(ctx: Context, batch: dict[str, Any]) -> str | None:
    """The --schema a batch submitted on another machine was asked with (its metadata,
    or its first request's response_format), as a --schema value; None: none."""
    text = (batch.get("metadata") or {}).get("schema")
    if text != SCHEMA_IN_REQUESTS:
        return str(text) if text else None
    body = _Requests(ctx, batch).first()
    found = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    return json.dumps(found) if isinstance(found, dict) else None


class _Requests:
    """The batch's own request lines (its input file), read once and only when an answer
    must be asked for again."""

    def __init__(self, ctx: Context, batch: dict[str, Any]):
        self.ctx, self.batch = ctx, batch
        self._lines: dict[str, bytes] | None = None

    def first(self) -> dict[str, Any]:
        """The body of the batch's first request ({} when there is none)."""
        self._read()
        assert self._lines is not None
        first = next(iter(self._lines.values()), None)
        return dict(json.loads(first)["body"]) if first is not None else {}

    def _read(self) -> None:
        if self._lines is None:
            file_id = self.batch.get("input_file_id")
            raw = self.ctx.client.file_content(str(file_id)) if file_id else b""
            self._lines = {}
            for raw_line in raw.splitlines():
                if raw_line.strip():
                    self._lines[str(json.loads(raw_line).get("custom_id"))] = raw_line

    def body(self, custom_id: str) -> dict[str, Any]:
        self._read()
        assert self._lines is not None
        found = self._lines.get(custom_id)
        if found is None:
            raise APIError("the batch's input file has no request for this answer: it cannot be asked again")
        return dict(json.loads(found)["body"], stream=True)


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
            hint="raise --max-tokens and resubmit",
        )
    return result
