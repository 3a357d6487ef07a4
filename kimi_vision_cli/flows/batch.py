"""Moonshot's Batch API for very large jobs: build one JSONL of chat requests (the
same bodies describe would stream, with `stream` off), upload it with purpose
`batch`, create the batch, and keep a small local record of it; flows/batch_results.py
later turns its output file back into our records.

Limits from Moonshot's batch docs: the input file is a non-empty `.jsonl` of at most
100 MB, one model per file, unique `custom_id`s, endpoint `/v1/chat/completions`,
completion window 12h..7d. A job bigger than one file is split into several batches.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kimi_vision_cli import schema as schemas
from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.errors import (
    InputError,
    KimiVisionError,
    NotStartedError,
    Tally,
    UsageError,
)
from kimi_vision_cli.inputs.discover import valid_id
from kimi_vision_cli.moonshot import (
    BATCH_DONE_STATES,
    BATCH_FAILED_STATES,
    BATCH_METADATA_VALUE,
    BATCH_WINDOW_HOURS,
    FILE_LIMIT,
    MB,
    MODELS,
    mib,
)
from kimi_vision_cli.output.records import Result, Submitted
from kimi_vision_cli.plan import plan
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.runner.budget import Allowance
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.settings import Settings, cache_dir
from kimi_vision_cli.types import Source, display_name

# Under Moonshot's 100 MB file cap, with room for multipart framing.
MAX_FILE_BYTES = FILE_LIMIT - 5 * MB
_WINDOW_UNITS = {"h": 1, "d": 24}
DONE_STATES, FAILED_STATES = BATCH_DONE_STATES, BATCH_FAILED_STATES  # Moonshot's (flows/waiting.py)
SCHEMA_IN_REQUESTS = "in-requests"  # metadata "schema": too long, read the request lines
TOOL = "kimi-vision"  # metadata "tool": a batch this tool submitted


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
    remember_file(ctx, file_id, "batch", "batch request file")  # before anything can fail: prune finds it
    from kimi_vision_cli.output.writers import made_by

    spec, settings = ctx.settings.request.schema, ctx.settings
    schema = schemas.load(spec).schema if spec is not None else None
    made = made_by(settings)  # the provenance describe records, the same way
    batch = client.batch_create(file_id, window, _metadata(settings.request.model, made, schema))
    batch_id = str(batch["id"])
    # What `batch results` needs later: the names to print, the inputs themselves (for
    # sidecars and manifest rows) and the schema the answers must match (--schema).
    record = {
        "model": settings.request.model,
        "inputs": {cid: parts[cid][2] if cid in parts else s.display for cid, s in manifest.items()},
        "sources": {cid: [s.kind, s.value] for cid, s in manifest.items()},
        "schema": schema,
        # what made the answers, for the sidecars and rows `batch results` writes (issue 19)
        "provenance": made.to_dict(),
        "segments": parts,
    }  # fmt: skip
    try:
        save_record(ctx, batch_id, record)
    except OSError as exc:  # the batch exists and is billed: its id must still be printed
        ctx.diag.warn(
            f"batch {batch_id}: cannot keep its local record ({exc.strerror or exc}); "
            "`batch results` will read the names from the batch itself (a --segment video's parts, "
            "whose times only that record keeps, will fail)"
        )
    return batch_id


def _metadata(model: str, made: Provenance, schema: Any) -> dict[str, str]:
    """The batch's metadata also carries what made its answers, so `batch results` on a
    machine without this one's cache writes the same provenance and checks the same
    schema (issue 20.6). A schema over the 512-character value limit stays in the
    batch's own request lines (SCHEMA_IN_REQUESTS), read from there."""
    meta = {"tool": TOOL, "model": model, "prompt_hash": made.prompt_hash}
    if schema is not None:
        text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        meta["schema"] = text if len(text) <= BATCH_METADATA_VALUE else SCHEMA_IN_REQUESTS
    return meta


def remember_file(ctx: Context, file_id: str, purpose: str, what: str) -> None:
    """Batch files count toward the account's 1,000 files like uploads: recorded with
    them, so that `files prune` deletes them too (issue 19.10)."""
    from kimi_vision_cli.api.uploads import UploadCache

    UploadCache.for_env(ctx.term.env, ctx.diag.warn).record(
        file_id, purpose, ctx.settings.connection.base_url, what
    )


def _record_path(ctx: Context, batch_id: str) -> Path:
    safe = "".join(c for c in batch_id if c.isalnum() or c in "-_")
    return cache_dir(ctx.term.env) / "batches" / f"{safe}.json"


def save_record(ctx: Context, batch_id: str, data: dict[str, Any]) -> None:
    replace_file(_record_path(ctx, batch_id), json.dumps(data).encode(), private=True)


def load_record(ctx: Context, batch_id: str) -> dict[str, Any]:
    try:
        return dict(json.loads(_record_path(ctx, batch_id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}  # submitted elsewhere: records fall back to the custom_id


def check_id(batch_id: str) -> None:
    """`batch status ""` or `a/b`: refused here, never looked up (issue 11)."""
    if not valid_id(batch_id):
        raise InputError(
            f"not a batch id: {display_name(batch_id)!r}", hint="pass the id `batch submit` printed"
        )


def status(batch_id: str, ctx: Context) -> dict[str, Any]:
    check_id(batch_id)
    return ctx.client.batch_retrieve(batch_id)


def cancel(batch_id: str, ctx: Context) -> dict[str, Any]:
    check_id(batch_id)
    return ctx.client.batch_cancel(batch_id)
