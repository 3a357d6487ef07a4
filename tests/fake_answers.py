"""The loopback Moonshot server's "model" (tests/fake_moonshot.py): it answers with what
each media part really contains (size, colour, length), so tests can see what was sent.

Readings we chose where Moonshot's docs are unclear (each marked READING):
- Context cache: Moonshot caches prompt prefixes automatically and reports the hit as
  `usage.cached_tokens` (platform.kimi.ai/docs/api/chat; real answers also carry
  `prompt_tokens_details.cached_tokens`). READING: the leading messages a request shares
  with an earlier request of the account are a hit (whole messages, no 256-token
  rounding); both fields are sent only when the hit is not zero.
- JSON Mode (`response_format: {"type": "json_object"}`): Moonshot's guide has the prompt
  describe the object wanted; when the prompt carries a JSON Schema after the words
  "JSON Schema:", we answer an object of that schema built from the media's captions (a
  model that follows the prompt). `json_schema` (issue 20) is answered from its schema
  (which models take it: tests/fake_chat.py).
- `FakeState.answers` queues raw answers that the next completions give instead,
  streamed or in a batch: how tests get a non-matching answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import uuid
from typing import Any

from tests.fake_models import K2, K3
from tests.fake_state import DATA_URL, FakeState


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


def video_parts(body: Any, state: FakeState) -> list[bytes]:
    """The bytes of each video part of a chat body, inline (data URL) or uploaded (ms://)."""
    found = []
    for msg in body.get("messages") or [] if isinstance(body, dict) else []:
        content = msg.get("content") if isinstance(msg, dict) else None
        for part in content if isinstance(content, list) else []:
            url = (part.get("video_url") or {}).get("url") if isinstance(part, dict) else None
            if not isinstance(url, str):
                continue
            m = DATA_URL.match(url)
            if url.startswith("ms://"):
                found.append(state.file_data.get(url[5:], b""))
            elif m:
                try:
                    found.append(base64.b64decode(m.group(2)))
                except ValueError:
                    found.append(b"")
    return found


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
                    m = DATA_URL.match(url)
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
