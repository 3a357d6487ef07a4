"""A loopback stand-in for Moonshot's API, for tests and benchmarks.

A real HTTP server on 127.0.0.1 (port 0) in a thread. It speaks SSE like Moonshot
(reasoning first, usage in `choices[0].usage` of the last chunk, then `[DONE]`),
refuses what Moonshot documents as refused, records every request, and injects
faults on demand.

Readings we chose where Moonshot's docs are unclear (each marked READING below):
- Video MIME types: the docs list "mp4, mpeg, mov, avi, x-flv, mpg, webm, wmv, 3gpp".
  We accept the standard MIME names libmagic gives for those containers
  (video/quicktime for mov, video/x-msvideo for avi, video/x-ms-wmv for wmv), and refuse
  malformed ones such as `image/.png`.
- Fixed sampling on kimi-k2.5: "any other value is a 400". We refuse a *different*
  value and accept the fixed one, which is what the docs' wording says.
- Unknown model: 404 `resource_not_found_error` "Not found the model X or Permission denied".
- Bodies over 100 MB: a 413 with an HTML page, as a front proxy would send.
- Token estimate (`POST /v1/tokenizers/estimate-token-count`): validated like chat and
  refusing keys other than model/messages; the count (28x28 pixel patches per image, a
  quarter token per text character) is a stand-in: see tests/fake_tokenizer.py.
- Files endpoints (upload, list, retrieve, delete, content, the 100 MB and 1,000-file
  errors): see tests/fake_files.py for the shapes and the READINGs chosen there.
- Rate limits (429 `rate_limit_reached_error`, "please try again after N seconds"): the
  limits are per account (concurrency, RPM, TPM), so the wait applies to the whole run,
  not one request: the client starts no new request until it has passed and halves its
  concurrency (kimi_vision_cli/scheduler.py). Faults are injected per request here.
- Rate tiers (issue 13): `FakeState.limits = Limits(concurrency=1, rpm=3, window=1.0)`
  enforces a tier-0 account (platform.moonshot.ai/docs/pricing/limits) with Moonshot's
  wording ("Your account org-…<ak-…> request reached max organization concurrency: 1,
  please try again after 1 seconds", "… reached organization max RPM: 3, …", "… max
  TPM: N, …", "… reached organization TPD rate limit, current: N, limit: M"), type
  rate_limit_reached_error. READINGs: a refused request counts toward no limit; the RPM
  and TPM windows slide (the last `window` seconds, 60 on the real service; tests shorten
  it); TPM and TPD count a request's prompt tokens plus its max_tokens (32768 when a k2
  request sends none), as the docs say TPM counts max_tokens; a request stops counting
  as in flight when its last byte is sent. `FakeState.rate_limited` counts the 429s.
- Context cache: Moonshot caches prompt prefixes automatically and reports the hit as
  `usage.cached_tokens` (platform.kimi.ai/docs/api/chat; real answers also carry
  `prompt_tokens_details.cached_tokens`). READING: the leading messages a request shares
  with an earlier request of the account are a hit (whole messages, no 256-token
  rounding); both fields are sent only when the hit is not zero.
- JSON Mode (`response_format: {"type": "json_object"}`): Moonshot's guide has the prompt
  describe the object wanted; when the prompt carries a JSON Schema after the words
  "JSON Schema:", we answer an object of that schema built from the media's captions (a
  model that follows the prompt). `json_schema` (issue 20) is taken by kimi-k2.6 and
  kimi-k3 and answered from its schema; other models refuse it (400 naming
  response_format), and `FakeState.refuse_json_schema` makes every model refuse it.
- Models (issue 20): kimi-k3 fixes sampling like k2.6 (temperature 1.0), refuses
  `thinking` (always on) and takes `reasoning_effort` low|high|max; kimi-k2.5 was shut
  down and answers 404 like any model not served; GET /v1/models also lists
  kimi-lens-preview, a vision model the tool does not know (images only). READING:
  `reasoning_effort` on another model is ignored (Moonshot ignores unknown fields). `FakeState.answers` queues raw answers that the next
  completions give instead, streamed or in a batch: how tests get a non-matching answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Moonshot says "100 MB" without saying which; read as 100 MiB, as moonshot.py does.
BODY_LIMIT = 100 * 1024 * 1024
K2 = {"kimi-k2.6"}
K3 = {"kimi-k3"}
# Shut down (2026-08-31): the real service answers 404 like for any model it does not serve.
RETIRED = {"kimi-k2.5"}
# A vision model the tool's table does not know (issue 20): images only, its own context.
NEW_VISION = {"kimi-lens-preview"}
V1_VISION = {
    "moonshot-v1-8k-vision-preview",
    "moonshot-v1-32k-vision-preview",
    "moonshot-v1-128k-vision-preview",
}
TEXT_ONLY = {"moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"}
MODELS = K2 | K3 | V1_VISION | TEXT_ONLY | NEW_VISION
JSON_SCHEMA_MODELS = K2 | K3  # response_format json_schema (READING: strict taken, not enforced)
EFFORTS = ("low", "high", "max")
IMAGE_MIMES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
VIDEO_MIMES = {
    "video/mp4", "video/mpeg", "video/quicktime", "video/x-msvideo", "video/x-flv",
    "video/webm", "video/x-ms-wmv", "video/3gpp",
}  # fmt: skip
# First bytes of each image type: a data URL whose bytes disagree with its MIME is refused.
_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_DATA_URL = re.compile(r"^data:([a-z0-9.+-]+/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)
FIXED_K2 = {"top_p": 0.95, "n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0}
CONTEXT = {"kimi-k3": 1_048_576, "kimi-k2.6": 262_144, "kimi-lens-preview": 65_536}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw bytes
    size: int
    # Seconds of each video part of a chat request, in order, as PyAV reads the bytes that
    # arrived (None: not decodable); tests see what was sent, e.g. the parts of --segment.
    videos: list[float | None] = field(default_factory=list)


@dataclass
class Fault:
    """One injected misbehaviour, consumed by the next matching request."""

    status: int | None = None
    type: str = ""
    message: str = ""
    cut_after: int | None = None  # close the stream after N content chunks, no [DONE]
    finish_reason: str | None = None  # e.g. "length", "content_filter"
    malformed: bool = False  # send a chunk that is not JSON
    delay: float = 0.0  # sleep before answering
    html: bool = False  # error body as an HTML page
    path: str = "/v1/chat/completions"


@dataclass(frozen=True)
class Limits:
    """An account's rate limits (tier 0 by default); `window` shortens Moonshot's minute."""

    concurrency: int | None = 1
    rpm: int | None = 3
    tpm: int | None = None
    tpd: int | None = None
    window: float = 60.0
    org: str = "org-f4k3acc0unt"
    ak: str = "ak-f4k3k3y"


@dataclass
class FakeState:
    api_key: str
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    latency: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_data: dict[str, bytes] = field(default_factory=dict)
    lock: threading.RLock = field(
        default_factory=threading.RLock
    )  # re-entered: batch results compose answers
    chunk_delay: float = 0.0
    record_bodies: bool = True
    max_files: int = 1000  # Moonshot's per-account file count; tests lower it
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: deque[str] = field(default_factory=deque)  # the next completions' raw text, in order
    reasonings: deque[str] = field(default_factory=deque)  # the next thinking completions' reasoning
    limits: Limits | None = None  # rate limits enforced on chat completions (None: unlimited)
    starts: deque[tuple[float, int]] = field(default_factory=deque)  # (when, tokens) of accepted chats
    tokens_today: int = 0
    rate_limited: int = 0  # rate-limit 429s answered
    prefixes: set[str] = field(default_factory=set)  # message prefixes seen: the context cache
    refuse_json_schema: bool = False  # every model refuses response_format json_schema (400)


def describe_media(data: bytes, mime: str) -> str:
    """A deterministic caption that depends on the media's content (size, colour)."""
    if mime.startswith("image/"):
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                frames = getattr(img, "n_frames", 1)
                px = img.convert("RGB").resize((1, 1)).getpixel((0, 0))
            extra = f", {frames} frames" if frames > 1 else ""
            return f"a {w}x{h} {mime} image{extra}, mean colour {px}"
        except Exception as exc:  # undecodable bytes behind a valid signature
            return f"an undecodable {mime} image ({type(exc).__name__})"
    seconds = video_seconds(data)
    return f"a {mime} video of {len(data)} bytes" + (f", {seconds:g} s" if seconds is not None else "")


def video_seconds(data: bytes) -> float | None:
    """How long a video is, as PyAV reads it; None when it cannot be read."""
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else None
    except Exception:  # not a video, or one FFmpeg cannot read: the request still goes through
        return None


def _video_parts(body: Any, state: FakeState) -> list[bytes]:
    """The bytes of each video part of a chat body, inline (data URL) or uploaded (ms://)."""
    found = []
    for msg in body.get("messages") or [] if isinstance(body, dict) else []:
        content = msg.get("content") if isinstance(msg, dict) else None
        for part in content if isinstance(content, list) else []:
            url = (part.get("video_url") or {}).get("url") if isinstance(part, dict) else None
            if not isinstance(url, str):
                continue
            m = _DATA_URL.match(url)
            if url.startswith("ms://"):
                found.append(state.file_data.get(url[5:], b""))
            elif m:
                try:
                    found.append(base64.b64decode(m.group(2)))
                except ValueError:
                    found.append(b"")
    return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real HTTP servers set: headers and body (and each SSE chunk) go out
    # as separate writes, and with Nagle each one after the first waited for the client's
    # delayed ACK, 40 ms a response on loopback (issue 12: `files prune` of 1,000 files
    # measured 45 s, all of it this wait).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, type_: str, message: str) -> None:
        self._send_json(status, {"error": {"type": type_, "message": message}})

    def _html(self, status: int, text: str) -> None:
        data = f"<html><head><title>{status}</title></head><body><h1>{text}</h1></body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    @property
    def state(self) -> FakeState:
        return self.server.state

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_LIMIT:
            # Drain without keeping it, then refuse like a front proxy would.
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._html(413, "413 Request Entity Too Large")
            return None
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {self.state.api_key}":
            self._error(
                401,
                "invalid_authentication_error",
                "Invalid Authentication",
            )
            return False
        return True

    def _record(self, raw: bytes, parsed: Any) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        videos = []
        if self.path == "/v1/chat/completions" and self.state.record_bodies:
            videos = [video_seconds(data) for data in _video_parts(parsed, self.state)]
        with self.state.lock:
            self.state.requests.append(
                Recorded(
                    self.command,
                    self.path,
                    headers,
                    parsed if self.state.record_bodies else None,
                    len(raw),
                    videos,
                )
            )

    def _take_fault(self) -> Fault | None:
        with self.state.lock:
            for i, f in enumerate(self.state.faults):
                if self.path.startswith(f.path):
                    del self.state.faults[i]
                    return f
        return None

    def _apply_fault_status(self, fault: Fault | None) -> bool:
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            if fault.html:
                self._html(fault.status, f"{fault.status} {fault.message or 'Error'}")
            else:
                self._error(fault.status, fault.type, fault.message)
            return True
        return False

    # -- routes --------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._authorized():
            return
        self._record(b"", None)
        fault = self._take_fault()
        if self._apply_fault_status(fault):
            return
        if self.path.rstrip("/") == "/v1/models":
            return self._send_json(200, {"object": "list", "data": self.server.models()})
        if self._files_route("GET") or self._batches_route("GET", None):
            return
        self._error(404, "resource_not_found_error", f"no route {self.path}")

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        self._record(b"", None)
        if self._apply_fault_status(self._take_fault()):
            return
        if not self._files_route("DELETE"):
            self._error(404, "resource_not_found_error", f"no route {self.path}")

    def _batches_route(self, method: str, body: Any) -> bool:
        from tests.fake_batches import route

        answer = route(self.state, method, self.path, body)
        if answer is None:
            return False
        self._send_json(*answer)
        return True

    def _files_route(self, method: str) -> bool:
        from tests.fake_files import route

        answer = route(self.state, method, self.path)
        if answer is None:
            return False
        status, obj = answer
        if isinstance(obj, bytes):
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(obj)))
            self.end_headers()
            self.wfile.write(obj)
        else:
            self._send_json(status, obj)
        return True

    def do_POST(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        if not self._authorized():
            return
        ctype = self.headers.get("Content-Type", "")
        parsed: Any = raw
        if ctype.startswith("application/json"):
            try:
                parsed = json.loads(raw) if raw else {}  # e.g. POST /v1/batches/{id}/cancel
            except ValueError:
                return self._error(400, "invalid_request_error", "Invalid JSON body")
        form: dict[str, Any] | None = None
        if ctype.startswith("multipart/form-data"):
            from tests.fake_files import parse_multipart

            form = parse_multipart(raw, ctype)
            # Recorded without the file bytes: uploads reach 100 MB.
            parsed = {k: v for k, v in form.items() if k != "file"}
            parsed["bytes"] = len(form.get("file") or b"")
        self._record(raw, parsed)
        fault = self._take_fault()
        if self._apply_fault_status(fault):
            return
        if self.path == "/v1/chat/completions":
            return self._chat(parsed, fault)
        if self.path == "/v1/tokenizers/estimate-token-count":
            return self._estimate(parsed)
        if self._batches_route("POST", parsed):
            return
        if self.path.rstrip("/") == "/v1/files" and form is not None:
            from tests.fake_files import create

            return self._send_json(*create(self.state, form))
        self._error(404, "resource_not_found_error", f"no route {self.path}")

    # -- token estimate (counting rules: tests/fake_tokenizer.py) ---------------------
    def _estimate(self, body: Any) -> None:
        from tests.fake_tokenizer import count_tokens

        problem = validate_chat(body, self.state)
        if problem is None and set(body) - {"model", "messages"}:
            problem = (
                400,
                "invalid_request_error",
                f"unexpected keys {sorted(set(body) - {'model', 'messages'})}",
            )
        if problem:
            return self._error(*problem)
        self._send_json(200, {"data": {"total_tokens": count_tokens(body, self.state)}})

    # -- chat ------------------------------------------------------------------------
    def _chat(self, body: Any, fault: Fault | None) -> None:
        problem = validate_chat(body, self.state)
        if problem:
            status, type_, message = problem
            return self._error(status, type_, message)
        with self.state.lock:
            refusal = rate_limit(body, self.state)
            if refusal is None:
                self.state.in_flight += 1
                self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        if refusal is not None:
            return self._error(429, "rate_limit_reached_error", refusal)
        # The state it was counted in: a reset() during this request (the next test) must
        # not see its decrement.
        self._counted: FakeState | None = self.state
        try:
            if self.state.latency:
                time.sleep(self.state.latency)
            self._answer(body, fault)
        finally:
            self._done()

    def _done(self) -> None:
        """The request stops counting as in flight (once: before [DONE] or on the way out)."""
        counted: FakeState | None = getattr(self, "_counted", None)
        if counted is not None:
            self._counted = None
            with counted.lock:
                counted.in_flight -= 1

    def _answer(self, body: dict[str, Any], fault: Fault | None) -> None:
        model = body["model"]
        words, reasoning, finish, usage = compose_answer(body, self.state)
        if fault and fault.finish_reason:
            finish = fault.finish_reason
        if not body.get("stream"):
            return self._send_json(200, completion_object(model, words, reasoning, finish, usage))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: Any = None) -> None:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            if usage:
                choice["usage"] = usage
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
            }
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()
            if self.state.chunk_delay:
                time.sleep(self.state.chunk_delay)

        try:
            chunk({"role": "assistant", "content": ""})
            for piece in reasoning.split(" ") if reasoning else []:
                if piece:
                    chunk({"reasoning_content": piece + " "})
            for i, word in enumerate(words):  # i: the words sent so far
                if fault and fault.cut_after is not None and i >= fault.cut_after:
                    self.close_connection = True
                    return  # cut: no finish_reason, no [DONE]
                if fault and fault.malformed and i == 1:
                    self.wfile.write(b"data: {this is not json\n\n")
                    self.wfile.flush()
                chunk({"content": word + (" " if i < len(words) - 1 else "")})
            chunk({}, finish, usage)
            self._done()  # the client may start its next request as soon as it reads [DONE]
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def _captions(messages: list[dict[str, Any]], state: FakeState) -> list[str]:
    """What each media part of the user messages really contains, in order."""
    captions = []
    for msg in messages:
        if msg.get("role") == "user" and isinstance(msg.get("content"), list):
            for part in msg["content"]:
                url = (part.get("image_url") or part.get("video_url") or {}).get("url")
                if not url:
                    continue
                if url.startswith("ms://"):
                    fid = url[5:]
                    meta = state.files[fid]
                    captions.append(describe_media(state.file_data.get(fid, b""), meta["mime"]))
                else:
                    m = _DATA_URL.match(url)
                    assert m
                    captions.append(describe_media(base64.b64decode(m.group(2)), m.group(1)))
    return captions


def compose_answer(body: dict[str, Any], state: FakeState) -> tuple[list[str], str, str, dict[str, int]]:
    """The fake model: (words, reasoning, finish_reason, usage) for a validated chat body.
    The answer names what each media part really contained, so tests can see what was sent."""
    model = body["model"]
    messages = body["messages"]
    captions = _captions(messages, state)
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    question = last_user.get("content")
    if isinstance(question, list):
        question = " ".join(p.get("text", "") for p in question if p.get("type") == "text")
    turn = sum(1 for m in messages if m.get("role") == "user")
    text = f"**Answer {turn}** to {question!r}: " + "; ".join(captions or ["no media"]) + "."
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        text = json_answer(messages, "; ".join(captions), question)
    elif fmt.get("type") == "json_schema":
        text = json.dumps(_instance((fmt.get("json_schema") or {}).get("schema"), "; ".join(captions)))
    with state.lock:
        if state.answers:
            text = state.answers.popleft()
    if messages[-1].get("role") == "assistant" and messages[-1].get("partial"):
        text = " continued after the prefix: " + text
    thinking = model in K3 or (
        model in K2 and (body.get("thinking") or {}).get("type", "enabled") == "enabled"
    )
    reasoning = f"Looking at the media ({body.get('reasoning_effort', 'max')}). " if model in K3 else ""
    reasoning = reasoning or ("Looking at the media. " if thinking else "")
    with state.lock:
        if thinking and state.reasonings:
            reasoning = state.reasonings.popleft()
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    words = text.split(" ")
    finish = "stop"
    if max_tokens is not None and len(words) > max_tokens:
        words = words[:max_tokens]
        finish = "length"
    prompt_tokens = sum(len(json.dumps(m)) // 4 for m in messages)
    completion_tokens = len(words) + len(reasoning.split())
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    cached = cache_hit(messages, state)
    if cached:
        usage["cached_tokens"] = cached
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return words, reasoning, finish, usage


def cache_hit(messages: list[dict[str, Any]], state: FakeState) -> int:
    """Tokens of the leading messages an earlier request sent too (then remembered)."""
    hit, prefix, hashes = 0, hashlib.sha1(), []
    for m in messages:
        prefix.update(json.dumps(m, sort_keys=True).encode())
        hashes.append((prefix.hexdigest(), len(json.dumps(m)) // 4))
    with state.lock:
        for digest, tokens in hashes:
            if digest not in state.prefixes:
                break
            hit += tokens
        state.prefixes.update(d for d, _ in hashes)
    return hit


def rate_limit(body: dict[str, Any], state: FakeState) -> str | None:
    """The 429 message when the account's limits refuse this chat request (state.lock held);
    None: accepted, and counted toward RPM, TPM and TPD."""
    lim = state.limits
    if lim is None:
        return None
    now = time.monotonic()
    while state.starts and state.starts[0][0] <= now - lim.window:
        state.starts.popleft()
    default = 131_072 if body.get("model") in K3 else 32768 if body.get("model") in K2 else 0
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or default
    tokens = sum(len(json.dumps(m)) // 4 for m in body.get("messages") or []) + budget
    who = f"Your account {lim.org}<{lim.ak}> request reached"
    after = "please try again after 1 seconds"
    message = None
    if lim.tpd is not None and state.tokens_today + tokens > lim.tpd:
        message = f"{who} organization TPD rate limit, current: {state.tokens_today}, limit: {lim.tpd}"
    elif lim.concurrency is not None and state.in_flight >= lim.concurrency:
        message = f"{who} max organization concurrency: {lim.concurrency}, {after}"
    elif lim.rpm is not None and len(state.starts) >= lim.rpm:
        message = f"{who} organization max RPM: {lim.rpm}, {after}"
    elif lim.tpm is not None and sum(t for _, t in state.starts) + tokens > lim.tpm:
        message = f"{who} organization max TPM: {lim.tpm}, {after}"
    if message is not None:
        state.rate_limited += 1
        return message
    state.starts.append((now, tokens))
    state.tokens_today += tokens
    return None


def json_answer(messages: list[dict[str, Any]], caption: str, question: Any) -> str:
    """JSON Mode: an object of the JSON Schema the prompt gives, else caption and question."""
    prompt = " ".join(
        m["content"] if isinstance(m.get("content"), str)
        else " ".join(p.get("text", "") for p in m.get("content") or [] if isinstance(p, dict))
        for m in messages if m.get("role") in ("system", "user")
    )  # fmt: skip
    at = prompt.rfind("JSON Schema:")
    if at < 0:
        return json.dumps({"caption": caption, "question": question})
    try:
        schema, _ = json.JSONDecoder().raw_decode(prompt[prompt.index("{", at) :])
    except ValueError:
        return json.dumps({"caption": caption, "question": question})
    return json.dumps(_instance(schema, caption))


def _instance(schema: Any, caption: str) -> Any:
    """A value of `schema` (the common keywords) made from the caption."""
    if not isinstance(schema, dict):
        return caption
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _instance(sub, caption) for name, sub in props.items()}
    if kind == "array":
        words = [w.strip(",;.") for w in caption.split()[:3]] or ["media"]
        return [_instance(schema.get("items", {}), w) for w in words]
    return {"integer": 1, "number": 0.5, "boolean": False, "null": None}.get(kind, caption)


def completion_object(
    model: str, words: list[str], reasoning: str, finish: str, usage: dict[str, int]
) -> dict[str, Any]:
    """A non-streamed chat.completion, as Moonshot returns it (also a batch output line's body)."""
    message: dict[str, Any] = {"role": "assistant", "content": " ".join(words)}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


# The C901 exemption below is deliberate for now: this file is edited by several branches at once;
# split validate_chat after they are merged (issue 21 item 9).
def validate_chat(body: Any, state: FakeState) -> tuple[int, str, str] | None:  # noqa: C901
    """What Moonshot refuses, as (status, error type, message); None when acceptable."""
    if not isinstance(body, dict):
        return 400, "invalid_request_error", "body must be a JSON object"
    model = body.get("model")
    if model not in MODELS:
        return 404, "resource_not_found_error", f"Not found the model {model} or Permission denied"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, "invalid_request_error", "messages must be a non-empty list"
    fmt = body.get("response_format")
    kinds = ("text", "json_object", *(("json_schema",) if model in JSON_SCHEMA_MODELS else ()))
    if state.refuse_json_schema:
        kinds = ("text", "json_object")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in kinds):
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        return 400, "invalid_request_error", f"response_format type {kind!r} is not supported by {model}"
    is_k2 = model in K2
    if model in K3 and "thinking" in body:
        return 400, "invalid_request_error", "thinking cannot be set for kimi-k3: it always thinks"
    if "reasoning_effort" in body and model in K3 and body["reasoning_effort"] not in EFFORTS:
        return 400, "invalid_request_error", f"reasoning_effort must be one of {', '.join(EFFORTS)}"
    if is_k2 or model in K3:
        thinking_on = model in K3 or (body.get("thinking") or {}).get("type", "enabled") == "enabled"
        fixed = dict(FIXED_K2, temperature=1.0 if thinking_on else 0.6)
        for key, value in fixed.items():
            if key in body and body[key] != value:
                return 400, "invalid_request_error", f"invalid {key}: only {value} is allowed for this model"
    elif "thinking" in body:
        return 400, "invalid_request_error", "thinking is not supported by this model"
    if "temperature" in body and not (
        isinstance(body["temperature"], (int, float)) and 0 <= body["temperature"] <= 1
    ):
        return 400, "invalid_request_error", "temperature must be in [0, 1]"
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            return 400, "invalid_request_error", "each message needs a role"
        content = msg.get("content")
        if isinstance(content, str):
            stripped = content.strip()
            if stripped.startswith("[") and ('"image_url"' in stripped or '"type"' in stripped):
                # A list of parts serialised into a string: Moonshot reads it as text and
                # the image never arrives; the real API refuses it for vision models.
                return 400, "invalid_request_error", "content must be an array of parts, not a JSON string"
            continue
        if not isinstance(content, list):
            return 400, "invalid_request_error", "content must be a string or an array"
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    return 400, "invalid_request_error", "text part needs text"
                continue
            if kind not in ("image_url", "video_url"):
                return 400, "invalid_request_error", f"unknown content part type {kind!r}"
            if model in TEXT_ONLY:
                return 400, "invalid_request_error", f"model {model} does not support image input"
            if kind == "video_url" and not (is_k2 or model in K3):
                return 400, "invalid_request_error", f"model {model} does not support video input"
            url = (part.get(kind) or {}).get("url")
            if not isinstance(url, str):
                return 400, "invalid_request_error", f"{kind}.url is required"
            if url.startswith(("http://", "https://")):
                return 400, "invalid_request_error", "URLs are not supported; send base64 or ms://"
            if url.startswith("ms://"):
                fid = url[5:]
                meta = state.files.get(fid)
                if meta is None:
                    return 400, "invalid_request_error", f"file {fid} not found"
                want = "video" if kind == "video_url" else "image"
                if meta["purpose"] != want:
                    return (
                        400,
                        "invalid_request_error",
                        f"file {fid} has purpose {meta['purpose']}, not {want}",
                    )
                continue
            m = _DATA_URL.match(url)
            if not m:
                return 400, "invalid_request_error", "url must be data:<mime>;base64,<data> or ms://<file-id>"
            mime = m.group(1)
            allowed = VIDEO_MIMES if kind == "video_url" else IMAGE_MIMES
            if mime not in allowed:
                return 400, "invalid_request_error", f"unsupported {kind} mime type {mime}"
            try:
                data = base64.b64decode(m.group(2), validate=True)
            except ValueError:
                return 400, "invalid_request_error", "invalid base64 data"
            sigs = _SIGNATURES.get(mime)
            if sigs and not data.startswith(sigs):
                return 400, "invalid_request_error", f"image data does not match mime type {mime}"
        if msg.get("partial") and msg is not messages[-1]:
            return 400, "invalid_request_error", "partial is only allowed on the last message"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: FakeState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def models(self) -> list[dict[str, Any]]:
        out = []
        for mid in sorted(MODELS):
            vision = mid not in TEXT_ONLY
            ctx = CONTEXT.get(mid) or int(mid.split("-")[2].rstrip("k")) * 1024
            # The shape of Moonshot's GET /v1/models items (its OpenAPI description lists
            # created, context_length, supports_image_in/video_in/reasoning).
            out.append({
                "id": mid, "object": "model", "created": 1767225600, "owned_by": "moonshot",
                "context_length": ctx, "supports_image_in": vision, "supports_video_in": mid in K2 | K3,
                "supports_reasoning": mid in K2 | K3,
            })  # fmt: skip
        return out


class FakeMoonshot:
    """Start with `with FakeMoonshot() as fake:`; point the tool at `fake.base_url`."""

    def __init__(self, api_key: str | None = None):
        self.state = FakeState(api_key=api_key or "sk-fake-" + uuid.uuid4().hex)
        self._server = _Server(self.state)
        # A short poll: shutdown() waits for it, and the suite starts and stops servers often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._baseline = dict(vars(self._server))

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeMoonshot:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeMoonshot:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self) -> FakeMoonshot:
        """A new account on the same server: a fresh key, no files, faults or records.
        The test suite shares one server and resets it before each test."""
        self.state = FakeState(api_key="sk-fake-" + uuid.uuid4().hex)
        self._server.state = self.state
        for name in set(vars(self._server)) - set(self._baseline) - {"state"}:
            delattr(self._server, name)  # what a test patched in (e.g. a models() answer)
        return self

    # -- test helpers ---------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def requests_to(self, path: str, method: str = "POST") -> list[Recorded]:
        with self.state.lock:
            return [r for r in self.state.requests if r.path.startswith(path) and r.method == method]

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/v1/chat/completions")


if __name__ == "__main__":  # a manual server: python tests/fake_moonshot.py
    import os
    import sys

    # Run as a script, `tests.*` (fake_tokenizer, fake_files) is importable only from the repo root.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with FakeMoonshot(api_key=sys.argv[1] if len(sys.argv) > 1 else None) as fake:
        print(f"MOONSHOT_BASE_URL={fake.base_url}\nMOONSHOT_API_KEY={fake.api_key}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
