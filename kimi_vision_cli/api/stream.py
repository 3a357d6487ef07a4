"""A chat answer stream read: SSE lines in (`data: {chunk}` ... `data: [DONE]`), typed
events out. No network, no SDK: api/transport.py sends the request, client.py calls this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.api.errors import StreamCutError, moonshot_error
from kimi_vision_cli.errors import APIError, ContentFilterError


@dataclass
class StreamEvent:
    kind: str  # "reasoning" | "content" | "finish"
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


def parse_sse(lines: Iterator[str], redact: Callable[[str], str]) -> Iterator[StreamEvent]:
    """Reasoning and content deltas, then one finish event with its usage; a stream that
    ends before `data: [DONE]` raises StreamCutError (SPEC: it is not a success). Error
    text goes through `redact` (the key never shows)."""
    finish: str | None = None
    usage: dict[str, Any] | None = None
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            yield StreamEvent("finish", finish_reason=finish, usage=usage)
            return
        chunk = _chunk(data, redact)
        for choice in (chunk.get("choices") or []) if isinstance(chunk, dict) else []:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                yield StreamEvent("reasoning", str(delta["reasoning_content"]))
            if delta.get("content"):
                yield StreamEvent("content", str(delta["content"]))
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            # Moonshot puts usage in choices[0].usage of the last chunk.
            if choice.get("usage"):
                usage = choice["usage"]
        if isinstance(chunk, dict) and chunk.get("usage"):
            usage = chunk["usage"]
    raise StreamCutError(
        "the answer stream ended before [DONE]",
        hint="the connection was cut; rerun to get the whole answer",
    )


def _chunk(data: str, redact: Callable[[str], str]) -> Any:
    """One stream chunk's JSON; an error chunk or one that is not JSON raises."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise APIError(
            "the API sent a malformed stream chunk (not JSON)",
            hint="rerun; if it persists, report it to Moonshot",
        ) from None
    if isinstance(chunk, dict) and "error" in chunk:
        kind, message = moonshot_error(chunk)
        if kind == "content_filter":
            raise ContentFilterError(
                redact(f"refused by Moonshot's content filter: {message}"),
                hint="the input or prompt was judged high-risk",
            )
        raise APIError(redact(f"error in stream: {message} ({kind})"))
    return chunk
