"""The Batch endpoints of the loopback Moonshot server (tests/fake_moonshot.py hooks them in).

Shapes follow Moonshot's batch docs (platform.moonshot.ai/docs/api/batch-create): the input
is a `.jsonl` file uploaded with purpose `batch` (non-empty, at most 100 MB), each line
`{custom_id, method, url, body}` with unique custom_ids and ONE model, endpoint
`/v1/chat/completions` only, completion_window 12h..7d; the batch object carries `status`
(validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled),
`request_counts {total, completed, failed}`, `output_file_id`, `error_file_id`.

READING (the docs show no output-line example; we use OpenAI's, which Moonshot's API
mirrors): an output line is `{"id", "custom_id", "response": {"status_code", "request_id",
"body": <chat.completion>}, "error": null}`; a request that fails goes to the error file
as `{"id", "custom_id", "response": {"status_code": 400, "body": {"error": {...}}}, "error": null}`.
Time is simulated: each GET of a batch moves it one step (validating -> in_progress ->
completed), so a test sees "still running" once before the results.

READING (issue 13, then 20): the Batch API guide says it takes kimi-k2.6 and kimi-k2.5
(platform.kimi.com/docs/guide/use-batch-api; k2.5 has been shut down); the create reference says
only that the model must exist and be the key's. Where the real service refuses another
model (at create, or by failing the batch while validating) is not documented; we refuse
it at create with a 400 naming the model, so a client that did not check first would
still get one line.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from tests.fake_answers import completion_object, compose_answer
from tests.fake_chat import validate_chat
from tests.fake_state import FakeState

_WINDOW = re.compile(r"^(\d+)([hd])$")
BATCH_MODELS = {"kimi-k2.6"}  # the docs also name kimi-k2.5, shut down since 2026-08-31


def _err(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}


def _store(state: FakeState, data: bytes, purpose: str, name: str) -> str:
    fid = "cu" + uuid.uuid4().hex[:18]
    state.files[fid] = {
        "id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
        "filename": name, "purpose": purpose, "status": "ok", "status_details": "",
        "mime": "application/jsonl",
    }  # fmt: skip
    state.file_data[fid] = data
    return fid


def _lines_problem(lines: list[Any]) -> str | None:
    """What the Batch API refuses in the input file's requests; None when acceptable."""
    ids = [ln.get("custom_id") for ln in lines]
    if len(set(ids)) != len(ids) or None in ids:
        return "custom_id must be present and unique"
    models = {(ln.get("body") or {}).get("model") for ln in lines}
    if len(models) != 1:
        return "all requests in a batch must use the same model"
    if models - BATCH_MODELS:
        return f"model {models.pop()} is not supported by the Batch API"
    if any(ln.get("method") != "POST" or ln.get("url") != "/v1/chat/completions" for ln in lines):
        return "each line needs method POST and url /v1/chat/completions"
    return None


def create(state: FakeState, body: Any) -> tuple[int, dict[str, Any]]:
    if not isinstance(body, dict):
        return 400, _err("invalid_request_error", "body must be a JSON object")
    if body.get("endpoint") != "/v1/chat/completions":
        return 400, _err("invalid_request_error", "endpoint must be /v1/chat/completions")
    m = _WINDOW.match(str(body.get("completion_window", "")))
    hours = int(m.group(1)) * (24 if m.group(2) == "d" else 1) if m else -1
    if not 12 <= hours <= 168:
        return 400, _err("invalid_request_error", "completion_window must be between 12h and 7d")
    fid = str(body.get("input_file_id"))
    with state.lock:
        meta = state.files.get(fid)
        data = state.file_data.get(fid, b"")
    if meta is None:
        return 404, _err("resource_not_found_error", f"file not found: {fid}")
    if meta["purpose"] != "batch":
        return 400, _err("invalid_request_error", "input file must be uploaded with purpose=batch")
    if not meta["filename"].endswith(".jsonl"):
        return 400, _err("invalid_request_error", "input file must have a .jsonl extension")
    if not data:
        return 400, _err("invalid_request_error", "input file is empty")
    lines = []
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except ValueError:
            return 400, _err("invalid_request_error", "input file has a line that is not JSON")
    problem = _lines_problem(lines)
    if problem is not None:
        return 400, _err("invalid_request_error", problem)
    bid = "batch-" + uuid.uuid4().hex[:16]
    batch = {
        "id": bid, "object": "batch", "endpoint": body["endpoint"], "input_file_id": fid,
        "completion_window": body["completion_window"], "status": "validating",
        "created_at": int(time.time()), "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        "output_file_id": None, "error_file_id": None, "metadata": body.get("metadata") or {},
    }  # fmt: skip
    with state.lock:
        state.batches[bid] = {"object": batch, "lines": lines}
    return 200, batch


def _advance(state: FakeState, entry: dict[str, Any]) -> None:
    batch = entry["object"]
    if batch["status"] == "validating":
        batch["status"] = "in_progress"
        return
    if batch["status"] != "in_progress":
        return
    out, errors = [], []
    for line in entry["lines"]:
        body = dict(line["body"])
        body.pop("stream", None)
        problem = validate_chat(body, state)
        rec: dict[str, Any] = {
            "id": "req-" + uuid.uuid4().hex[:12],
            "custom_id": line["custom_id"],
            "error": None,
        }
        if problem:
            status, type_, message = problem
            rec["response"] = {"status_code": status, "request_id": rec["id"], "body": _err(type_, message)}
            errors.append(rec)
            continue
        words, reasoning, finish, usage = compose_answer(body, state)
        rec["response"] = {
            "status_code": 200, "request_id": rec["id"],
            "body": completion_object(body["model"], words, reasoning, finish, usage),
        }  # fmt: skip
        out.append(rec)
    dump = lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()  # noqa: E731
    if out:
        batch["output_file_id"] = _store(state, dump(out), "batch_output", "output.jsonl")
    if errors:
        batch["error_file_id"] = _store(state, dump(errors), "batch_output", "errors.jsonl")
    batch["request_counts"].update(completed=len(out), failed=len(errors))
    batch["status"] = "completed"
    batch["completed_at"] = int(time.time())


def route(state: FakeState, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
    """POST /v1/batches, GET /v1/batches[/{id}], POST /v1/batches/{id}/cancel; None: not ours."""
    path = path.split("?", 1)[0].rstrip("/")
    if not path.startswith("/v1/batches"):
        return None
    parts = path[len("/v1/batches") :].strip("/").split("/")
    if parts == [""]:
        if method == "POST":
            return create(state, body)
        with state.lock:
            return 200, {
                "object": "list",
                "data": [e["object"] for e in state.batches.values()],
                "has_more": False,
            }
    with state.lock:
        entry = state.batches.get(parts[0])
        if entry is None:
            return 404, _err("resource_not_found_error", f"batch not found: {parts[0]}")
        if method == "POST" and parts[1:] == ["cancel"]:
            if entry["object"]["status"] in ("validating", "in_progress"):
                entry["object"]["status"] = "cancelled"
                entry["object"]["cancelled_at"] = int(time.time())
            return 200, entry["object"]
        if method == "GET" and len(parts) == 1:
            _advance(state, entry)
            return 200, entry["object"]
    return None
