"""A model moonshot.MODELS does not know, looked up in GET /v1/models (issue 20): its
image and video flags decide what it may be sent, its context length is kept. One call,
cached per base URL for a day in the cache directory, and only for unknown models: a
known model costs no request (and no openai import) at start-up."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.moonshot import Model, listed_model
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.settings import cache_dir

if TYPE_CHECKING:
    from kimi_vision_cli.types import ModelInfo

CACHE_SECONDS = 24 * 3600


def _cache_path(ctx: Context) -> Path:
    key = hashlib.sha256(ctx.settings.connection.base_url.encode()).hexdigest()[:16]
    return cache_dir(ctx.term.env) / "models" / f"{key}.json"


def account_models(ctx: Context, now: Callable[[], float] = time.time) -> list[dict[str, Any]]:
    """GET /v1/models, from the day-old cache when there is one for this base URL."""
    path = _cache_path(ctx)
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if 0 <= now() - float(kept["at"]) < CACHE_SECONDS and isinstance(kept["data"], list):
            return [m for m in kept["data"] if isinstance(m, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    items = ctx.client.list_models()
    # a cache that cannot be written costs one call next time, nothing else
    with contextlib.suppress(OSError):
        replace_file(path, json.dumps({"at": now(), "data": items}).encode())
    return items


def vision_ids(items: list[dict[str, Any]]) -> str:
    from kimi_vision_cli.api.catalog import vision_models

    return ", ".join(m.id for m in vision_models(items)) or "none"


def look_up(ctx: Context) -> Model:
    """The run's model as the API lists it; a model it does not list is refused naming
    the account's vision models (exit 2, before any input is read)."""
    model = ctx.settings.request.model
    items = account_models(ctx)
    for raw in items:
        if raw.get("id") == model:
            return listed_model(raw)
    raise UsageError(
        f"model {model} is not one Moonshot lists for this key",
        hint=f"use one of its vision models: {vision_ids(items)}",
    )


def vision(ctx: Context, *, include_all: bool = False) -> list[ModelInfo]:
    """`models`: the models the key can use that take images (all with `include_all`),
    always asked afresh (the cache above serves only lookups)."""
    from kimi_vision_cli.api.catalog import vision_models

    return vision_models(ctx.client.list_models(), include_all=include_all)
