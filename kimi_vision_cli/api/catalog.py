"""Which models can see: read from `GET /v1/models` (`supports_image_in`,
`supports_video_in`, `context_length`), falling back to the ids settings.py knows
when the API leaves those fields out."""

from __future__ import annotations

from typing import Any

from kimi_vision_cli.moonshot import known_model
from kimi_vision_cli.types import ModelInfo


def model_info(raw: dict[str, Any]) -> ModelInfo:
    mid = str(raw.get("id", ""))
    image = raw.get("supports_image_in")
    video = raw.get("supports_video_in")
    known = isinstance(image, bool)
    ours = known_model(mid)
    if not known:
        # Older answers lack the flags: trust the vision ids Moonshot documents.
        image = ours is not None and ours.image
    if not isinstance(video, bool):
        video = ours is not None and ours.video
    ctx = raw.get("context_length")
    return ModelInfo(mid, ctx if isinstance(ctx, int) else None, bool(image), bool(video), known)


def vision_models(raw: list[dict[str, Any]], *, include_all: bool = False) -> list[ModelInfo]:
    infos = [model_info(m) for m in raw if m.get("id")]
    return sorted((m for m in infos if include_all or m.image), key=lambda m: m.id)
