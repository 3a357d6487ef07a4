"""The loopback server's `POST /v1/tokenizers/estimate-token-count` (see fake_moonshot.py).

Moonshot returns `{"data": {"total_tokens": N}}` for `{model, messages}`. Its real
tokenizer is not public, so the count here is a deterministic stand-in that depends on
what a vision tokenizer depends on, so tests can tell a resized image from an original:

READING: an image costs ceil(w/28) * ceil(h/28) tokens (one per 28x28 patch, the
patch grid of ViT-style encoders) plus 4; a video costs one token per 1,000 bytes;
text costs ceil(chars/4); each message adds 4. ms:// files are decoded from the
fake's file store when it holds their bytes.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

PATCH = 28


def image_tokens(data: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
    return math.ceil(w / PATCH) * math.ceil(h / PATCH) + 4


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _media_tokens(url: str, kind: str, state: Any) -> int:
    if url.startswith("ms://"):
        data = state.file_data.get(url[5:], b"")
        mime = (state.files.get(url[5:]) or {}).get("mime", "")
    else:
        head, payload = url.split(";base64,", 1)
        data, mime = base64.b64decode(payload), head[len("data:") :]
    if kind == "image_url" and mime.startswith("image/") and data:
        try:
            return image_tokens(data)
        except Exception:  # undecodable behind a valid signature: charge its size
            pass
    return max(1, len(data) // 1000)


def count_tokens(body: dict[str, Any], state: Any) -> int:
    """Tokens of an already validated `{model, messages}` body."""
    total = 0
    for msg in body["messages"]:
        total += 4
        content = msg.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
            continue
        for part in content:
            kind = part.get("type")
            if kind == "text":
                total += text_tokens(part["text"])
            else:
                total += _media_tokens(part[kind]["url"], kind, state)
    return total
