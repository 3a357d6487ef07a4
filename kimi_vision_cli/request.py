"""Build the chat messages and request body: pure dicts, one builder for describe,
ask, estimate and --dry-run, so what is estimated or shown is what is sent."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.moonshot import DEFAULT_MODEL, is_k2
from kimi_vision_cli.settings import Settings

DEFAULT_PROMPTS = {
    "image": "Describe the content of the image.",
    "video": "Describe the content of the video.",
}


@dataclass(frozen=True)
class MediaRef:
    """One piece of media as it goes into the request: inline bytes or an uploaded id."""

    kind: str  # "image" | "video"
    mime: str
    data: bytes | None = None  # inline
    file_id: str | None = None  # uploaded

    @property
    def url(self) -> str:
        if self.file_id is not None:
            return f"ms://{self.file_id}"
        assert self.data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def inline_size(self) -> int:
        """Bytes this part adds to the JSON body when inlined (base64 grows by 4/3)."""
        if self.data is None:
            return len(self.url)
        return len(f"data:{self.mime};base64,") + 4 * ((len(self.data) + 2) // 3)


def default_prompt(kinds: list[str]) -> str:
    return (
        DEFAULT_PROMPTS["video"] if kinds and all(k == "video" for k in kinds) else (DEFAULT_PROMPTS["image"])
    )


def media_part(ref: MediaRef) -> dict[str, Any]:
    key = "video_url" if ref.kind == "video" else "image_url"
    return {"type": key, key: {"url": ref.url}}


def user_message(media: list[MediaRef], text: str) -> dict[str, Any]:
    """Moonshot wants a list of parts (never a string holding JSON): media, then text."""
    parts = [media_part(m) for m in media]
    parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}


def check_settings(settings: Settings, kinds: list[str]) -> None:
    """Refuse, before any network call, what the API would refuse for this model."""
    if is_k2(settings.model):
        if settings.temperature is not None:
            raise UsageError(
                f"--temperature cannot be set for {settings.model}: its sampling is fixed",
                hint="drop --temperature, or use a moonshot-v1-*-vision-preview model",
            )
    else:
        if "video" in kinds:
            raise UsageError(
                f"model {settings.model} cannot take video input",
                hint=f"use -m {DEFAULT_MODEL} for video",
            )
    if settings.temperature is not None and not 0 <= settings.temperature <= 1:
        raise UsageError(f"--temperature must be between 0 and 1, got {settings.temperature}")


def build_messages(
    settings: Settings,
    media: list[MediaRef],
    prompt: str,
    *,
    history: list[dict[str, Any]] | None = None,
    prefix: str | None = None,
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if settings.system:
        messages.append({"role": "system", "content": settings.system})
    if history:
        messages.extend(history)
    messages.append(user_message(media, prompt) if media else {"role": "user", "content": prompt})
    if prefix:
        # Partial Mode: the model continues this assistant message.
        messages.append({"role": "assistant", "content": prefix, "partial": True})
    return messages


def build_body(settings: Settings, messages: list[dict[str, Any]], *, stream: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.model, "messages": messages}
    if stream:
        body["stream"] = True
    if settings.max_tokens is not None:
        body["max_tokens"] = settings.max_tokens
    if is_k2(settings.model):
        # Fixed sampling parameters are never sent: any other value is a 400.
        body["thinking"] = {"type": "enabled" if settings.thinking else "disabled"}
    elif settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def shorten_for_display(body: Any, keep: int = 48) -> Any:
    """Copy of a body with each base64 payload cut to `keep` chars (for --dry-run)."""
    if isinstance(body, dict):
        return {k: shorten_for_display(v, keep) for k, v in body.items()}
    if isinstance(body, list):
        return [shorten_for_display(v, keep) for v in body]
    if isinstance(body, str) and body.startswith("data:") and ";base64," in body:
        head, data = body.split(";base64,", 1)
        if len(data) > keep:
            return f"{head};base64,{data[:keep]}...<{len(data):,} base64 chars>"
    return body
