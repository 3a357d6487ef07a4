"""What the loopback Moonshot server refuses on a chat request (tests/fake_moonshot.py):
the body's shape, model, parameters and media parts, and the account's rate limits.

Readings we chose where Moonshot's docs are unclear (each marked READING):
- Video MIME types: the docs list "mp4, mpeg, mov, avi, x-flv, mpg, webm, wmv, 3gpp".
  We accept the standard MIME names libmagic gives for those containers
  (video/quicktime for mov, video/x-msvideo for avi, video/x-ms-wmv for wmv), and refuse
  malformed ones such as `image/.png`.
- Fixed sampling on kimi-k2.5: "any other value is a 400". We refuse a *different*
  value and accept the fixed one, which is what the docs' wording says.
- Unknown model: 404 `resource_not_found_error` "Not found the model X or Permission denied".
- Rate limits (429 `rate_limit_reached_error`, "please try again after N seconds"): the
  limits are per account (concurrency, RPM, TPM), so the wait applies to the whole run,
  not one request: the client starts no new request until it has passed and halves its
  concurrency (kimi_vision_cli/runner/pacing.py). Faults are injected per request here.
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
- JSON Mode: `json_schema` (issue 20) is taken by kimi-k2.6 and kimi-k3 (answered from
  its schema, tests/fake_answers.py); other models refuse it (400 naming
  response_format), and `FakeState.refuse_json_schema` makes every model refuse it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.fake_models import EFFORTS, FIXED_K2, JSON_SCHEMA_MODELS, K2, K3, MODELS, TEXT_ONLY
from tests.fake_state import DATA_URL, FakeState

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


Problem = tuple[int, str, str]  # (status, error type, message), as Moonshot answers it


def _bad(message: str) -> Problem:
    return 400, "invalid_request_error", message


def validate_chat(body: Any, state: FakeState) -> Problem | None:
    """What Moonshot refuses, as (status, error type, message); None when acceptable.
    The checks run in this order, and the first refusal is the answer."""
    if not isinstance(body, dict):
        return _bad("body must be a JSON object")
    model = body.get("model")
    if model not in MODELS:
        return 404, "resource_not_found_error", f"Not found the model {model} or Permission denied"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _bad("messages must be a non-empty list")
    problem = _response_format(body, model, state) or _parameters(body, model)
    for msg in messages:
        if problem:
            break
        problem = _message(msg, model, state, last=msg is messages[-1])
    return problem


def _response_format(body: dict[str, Any], model: str, state: FakeState) -> Problem | None:
    fmt = body.get("response_format")
    kinds = ("text", "json_object", *(("json_schema",) if model in JSON_SCHEMA_MODELS else ()))
    if state.refuse_json_schema:
        kinds = ("text", "json_object")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in kinds):
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        return _bad(f"response_format type {kind!r} is not supported by {model}")
    return None


def _parameters(body: dict[str, Any], model: str) -> Problem | None:
    """thinking, reasoning_effort, the fixed sampling of k2.6/k3, temperature's range."""
    if model in K3 and "thinking" in body:
        return _bad("thinking cannot be set for kimi-k3: it always thinks")
    if "reasoning_effort" in body and model in K3 and body["reasoning_effort"] not in EFFORTS:
        return _bad(f"reasoning_effort must be one of {', '.join(EFFORTS)}")
    if model in K2 or model in K3:
        thinking_on = model in K3 or (body.get("thinking") or {}).get("type", "enabled") == "enabled"
        fixed = dict(FIXED_K2, temperature=1.0 if thinking_on else 0.6)
        for key, value in fixed.items():
            if key in body and body[key] != value:
                return _bad(f"invalid {key}: only {value} is allowed for this model")
    elif "thinking" in body:
        return _bad("thinking is not supported by this model")
    if "temperature" in body and not (
        isinstance(body["temperature"], (int, float)) and 0 <= body["temperature"] <= 1
    ):
        return _bad("temperature must be in [0, 1]")
    return None


def _message(msg: Any, model: str, state: FakeState, last: bool) -> Problem | None:
    if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
        return _bad("each message needs a role")
    content = msg.get("content")
    if isinstance(content, str):
        stripped = content.strip()
        if stripped.startswith("[") and ('"image_url"' in stripped or '"type"' in stripped):
            # A list of parts serialised into a string: Moonshot reads it as text and
            # the image never arrives; the real API refuses it for vision models.
            return _bad("content must be an array of parts, not a JSON string")
        return None
    if not isinstance(content, list):
        return _bad("content must be a string or an array")
    for part in content:
        problem = _part(part, model, state)
        if problem:
            return problem
    if msg.get("partial") and not last:  # string content skips this (unchanged)
        return _bad("partial is only allowed on the last message")
    return None


def _part(part: Any, model: str, state: FakeState) -> Problem | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return None if isinstance(part.get("text"), str) else _bad("text part needs text")
    if kind not in ("image_url", "video_url"):
        return _bad(f"unknown content part type {kind!r}")
    if model in TEXT_ONLY:
        return _bad(f"model {model} does not support image input")
    if kind == "video_url" and not (model in K2 or model in K3):
        return _bad(f"model {model} does not support video input")
    url = (part.get(kind) or {}).get("url")
    if not isinstance(url, str):
        return _bad(f"{kind}.url is required")
    if url.startswith(("http://", "https://")):
        return _bad("URLs are not supported; send base64 or ms://")
    if url.startswith("ms://"):
        return _uploaded(url[5:], "video" if kind == "video_url" else "image", state)
    return _inline(url, kind)


def _uploaded(fid: str, want: str, state: FakeState) -> Problem | None:
    """An ms://<file-id> part: the file must exist and have been uploaded for this kind."""
    meta = state.files.get(fid)
    if meta is None:
        return _bad(f"file {fid} not found")
    if meta["purpose"] != want:
        return _bad(f"file {fid} has purpose {meta['purpose']}, not {want}")
    return None


def _inline(url: str, kind: str) -> Problem | None:
    """A data URL part: an allowed MIME type, valid base64, bytes that match the MIME."""
    m = DATA_URL.match(url)
    if not m:
        return _bad("url must be data:<mime>;base64,<data> or ms://<file-id>")
    mime = m.group(1)
    allowed = VIDEO_MIMES if kind == "video_url" else IMAGE_MIMES
    if mime not in allowed:
        return _bad(f"unsupported {kind} mime type {mime}")
    try:
        data = base64.b64decode(m.group(2), validate=True)
    except ValueError:
        return _bad("invalid base64 data")
    sigs = _SIGNATURES.get(mime)
    if sigs and not data.startswith(sigs):
        return _bad(f"image data does not match mime type {mime}")
    return None


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
