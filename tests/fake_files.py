"""The files endpoints of the loopback Moonshot server (tests/fake_moonshot.py hooks them in).

Shapes follow Moonshot's files docs (platform.moonshot.ai/docs/api/files): POST /v1/files
is multipart with `file` and `purpose` ("file-extract", "image", "video"; the Batch docs
add "batch") and answers a file object {id, object: "file", bytes, created_at, filename,
purpose, status, status_details}; GET /v1/files lists them, GET/DELETE /v1/files/{id},
GET /v1/files/{id}/content. "Each user can upload a maximum of 1,000 files, with each
file not exceeding 100MB in size... total... 10GB."

READING (the docs give no error bodies for these; we chose):
- unknown purpose: 400 invalid_request_error "invalid purpose: X".
- file over 100 MB: 400 invalid_request_error "file size exceeds the limit of 100MB"
  (a whole body over 100 MB is the front proxy's 413 page first).
- 1,000-file limit: 400 invalid_request_error "too many files: the limit is 1000 files
  per user; delete some files first". Total over 10 GB: the same with "10GB".
- unknown id: 404 resource_not_found_error "file not found: ID".
- DELETE answers {"id", "object": "file", "deleted": true}.
- The server sniffs the stored bytes' MIME from content (libmagic), so ms:// parts are
  validated and captioned like inline ones.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_state import FakeState

FILE_LIMIT = 100 * 1024 * 1024  # "100 MB" in Moonshot's docs, read as 100 MiB (moonshot.py)
TOTAL_LIMIT = 10 * 1024 * 1024 * 1024
PURPOSES = ("image", "video", "batch", "file-extract")


def _disposition(headers: str) -> tuple[str | None, str | None]:
    """A part's (name, filename), from its Content-Disposition header."""
    name = filename = None
    for line in headers.split("\r\n"):
        if line.lower().startswith("content-disposition"):
            for attr in line.split(";")[1:]:
                k, _, v = attr.strip().partition("=")
                if k == "name":
                    name = v.strip('"')
                elif k == "filename":
                    filename = v.strip('"')
    return name, filename


def parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """A small multipart/form-data parser: {field: str, "file": bytes, "filename": str}.

    The stdlib `email` parser copies the payload several times; uploads here reach 100 MB.
    """
    boundary = ""
    for piece in content_type.split(";"):
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    out: dict[str, Any] = {}
    if not boundary:
        return out
    delim = b"--" + boundary.encode()
    pos = raw.find(delim)
    while pos != -1:
        start = pos + len(delim)
        if raw[start : start + 2] == b"--":
            break
        head_end = raw.find(b"\r\n\r\n", start)
        if head_end == -1:
            break
        headers = raw[start:head_end].decode("utf-8", "replace")
        nxt = raw.find(b"\r\n" + delim, head_end + 4)
        if nxt == -1:
            break
        body = raw[head_end + 4 : nxt]
        name, filename = _disposition(headers)
        if name == "file":
            out["file"] = body
            out["filename"] = filename or "upload"
        elif name:
            out[name] = body.decode("utf-8", "replace")
        pos = nxt + 2
    return out


def public(meta: dict[str, Any]) -> dict[str, Any]:
    """The file object as the API shows it (our sniffed `mime` stays internal)."""
    return {k: v for k, v in meta.items() if k != "mime"}


def _sniff(data: bytes) -> str:
    try:
        import magic

        return str(magic.Magic(mime=True).from_buffer(data[: 1 << 16])).lower()
    except Exception:
        return "application/octet-stream"


def create(state: FakeState, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    purpose = form.get("purpose")
    data = form.get("file")
    if not isinstance(data, bytes):
        return 400, _err("invalid_request_error", "file is required")
    if purpose not in PURPOSES:
        return 400, _err("invalid_request_error", f"invalid purpose: {purpose}")
    if len(data) > FILE_LIMIT:
        return 400, _err("invalid_request_error", "file size exceeds the limit of 100MB")
    with state.lock:
        if len(state.files) >= state.max_files:
            return 400, _err(
                "invalid_request_error",
                f"too many files: the limit is {state.max_files} files per user; delete some files first",
            )
        if sum(m["bytes"] for m in state.files.values()) + len(data) > TOTAL_LIMIT:
            return 400, _err("invalid_request_error", "total size of files exceeds the limit of 10GB")
        fid = "cu" + uuid.uuid4().hex[:18]
        mime = _sniff(data)
        # libmagic's spelling of some containers, as the client's sniff.py maps them.
        mime = {"video/x-m4v": "video/mp4"}.get(mime, mime)
        meta = {
            "id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
            "filename": form.get("filename", "upload"), "purpose": purpose, "status": "ok",
            "status_details": "", "mime": mime,
        }  # fmt: skip
        state.files[fid] = meta
        state.file_data[fid] = data
    return 200, public(meta)


def route(state: FakeState, method: str, path: str) -> tuple[int, Any] | None:
    """GET /v1/files, GET|DELETE /v1/files/{id}, GET /v1/files/{id}/content; None: not ours."""
    path = path.split("?", 1)[0].rstrip("/")
    if not path.startswith("/v1/files"):
        return None
    parts = path[len("/v1/files") :].strip("/").split("/")
    with state.lock:
        if parts == [""]:
            if method != "GET":
                return None
            return 200, {"object": "list", "data": [public(m) for m in state.files.values()]}
        fid = parts[0]
        meta = state.files.get(fid)
        if meta is None:
            return 404, _err("resource_not_found_error", f"file not found: {fid}")
        if len(parts) == 2 and parts[1] == "content" and method == "GET":
            return 200, state.file_data.get(fid, b"")
        if len(parts) != 1:
            return None
        if method == "DELETE":
            del state.files[fid]
            state.file_data.pop(fid, None)
            return 200, {"id": fid, "object": "file", "deleted": True}
        return 200, public(meta)


def _err(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message}}
