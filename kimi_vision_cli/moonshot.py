"""Moonshot's facts, in one place: regions, models and their fixed parameters, the
limits of the API, and published prices. Nothing else in the tool hard-codes them.

Sources (read 2026-11; they change, which is why config.toml can override prices):
- models and sampling: https://platform.moonshot.ai/docs (kimi-k2.6, released 2026-04,
  and kimi-k2.5 take text, image and video, fix temperature/top_p/n/penalties and accept
  `thinking`; the moonshot-v1-*-vision-preview models take images only).
- limits: a request body and an uploaded file at most 100 MB; 1,000 files and 10 GB
  per account; images recommended at most 4096x2160, videos at most 2048x1080.
- rate tiers (concurrency, RPM, TPM, TPD by cumulative top-up):
  https://platform.moonshot.ai/docs/pricing/limits.
- prices per 1M tokens, USD (cache miss / cache hit / output):
  kimi-k2.6 0.95 / 0.16 / 4.00 (https://platform.kimi.com/docs/pricing/chat-k26);
  kimi-k2.5 0.60 / 0.10 / 3.00 (https://platform.moonshot.ai/docs/pricing/chat);
  moonshot-v1-{8k,32k,128k}-vision-preview 0.20/2.00, 1.00/3.00, 2.00/5.00 (input/output,
  no cache price published: https://platform.moonshot.ai/docs/pricing/chat-v1).
  The China platform (api.moonshot.cn) bills in CNY at other rates: set them in config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# -- regions and models -----------------------------------------------------------------

REGIONS = {
    "global": "https://api.moonshot.ai/v1",
    "cn": "https://api.moonshot.cn/v1",
}
DEFAULT_MODEL = "kimi-k2.6"
ESTIMATE_PATH = "/tokenizers/estimate-token-count"  # Moonshot's token counter
# The vision-capable models SPEC.md names; `models` asks the API for the full list.
K2_MODELS = frozenset({"kimi-k2.6", "kimi-k2.5"})
V1_VISION_MODELS = frozenset(
    {
        "moonshot-v1-8k-vision-preview",
        "moonshot-v1-32k-vision-preview",
        "moonshot-v1-128k-vision-preview",
    }
)
KNOWN_MODELS = K2_MODELS | V1_VISION_MODELS
# What a k2 model uses when a request sends no max_tokens.
K2_DEFAULT_MAX_TOKENS = 32768


def is_k2(model: str) -> bool:
    """kimi-k2.6, kimi-k2.5 and their dated snapshots fix sampling and accept `thinking`."""
    return model.startswith("kimi-k2")


# -- limits -------------------------------------------------------------------------------

MB = 1024 * 1024
BODY_LIMIT = 100 * MB  # one request body
FILE_LIMIT = 100 * MB  # one uploaded file
MAX_FILES = 1000  # files per account
STORAGE_LIMIT = 10 * 1024 * MB  # bytes per account
IMAGE_RECOMMENDED = (4096, 2160)  # landscape; a portrait image fits 2160x4096
VIDEO_RECOMMENDED = (2048, 1080)

# The Batch API's models: "Batch API currently only supports the kimi-k2.5 model"
# (platform.kimi.ai/docs/guide/use-batch-api, read 2026-11). batch submit refuses others
# before uploading anything.
BATCH_MODELS = frozenset({"kimi-k2.5"})
BATCH_DEFAULT_MODEL = "kimi-k2.5"
# Not Moonshot's: the tool's own max_tokens for batch requests. TPM limits count max_tokens
# whether used or not, so a batch asks for a modest budget (SPEC: "batch defaults should be
# modest"). The option table makes it batch submit's --max-tokens default (shown in --help).
BATCH_MAX_TOKENS = 4096


def completion_budget(model: str, max_tokens: int | None) -> int | None:
    """What rate limits (TPM) count on top of the input: max_tokens, sent or defaulted."""
    if max_tokens is not None:
        return max_tokens
    return K2_DEFAULT_MAX_TOKENS if is_k2(model) else None


# -- rate tiers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    name: str
    concurrency: int  # requests in flight
    rpm: int  # requests per minute
    tpm: int  # tokens per minute (max_tokens counts)
    tpd: int | None  # tokens per day; None: unlimited


# By cumulative top-up (platform.moonshot.ai/docs/pricing/limits, read 2026-11). Each
# tier's concurrency is its own, so a 429 naming "concurrency: 1" says the account is tier 0.
TIERS = (
    Tier("tier 0", 1, 3, 500_000, 1_500_000),
    Tier("tier 1", 50, 200, 2_000_000, None),
    Tier("tier 2", 100, 500, 3_000_000, None),
    Tier("tier 3", 200, 5_000, 3_000_000, None),
    Tier("tier 4", 400, 5_000, 4_000_000, None),
    Tier("tier 5", 1_000, 10_000, 5_000_000, None),
)


def tier_with_concurrency(concurrency: int) -> Tier | None:
    return next((t for t in TIERS if t.concurrency == concurrency), None)


# -- prices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    input: float  # per 1M input tokens (cache miss)
    output: float  # per 1M output tokens
    currency: str = "USD"
    source: str = "published"  # "published" | "config"
    cached_input: float | None = None  # per 1M input tokens served from the context cache

    def cost(self, input_tokens: int) -> float:
        return input_tokens * self.input / 1_000_000

    def usage_cost(self, usage: Mapping[str, Any]) -> float:
        """What one answer's `usage` costs: input tokens served from the context cache at
        the cache-hit price (the miss price when none is published), the rest of the input
        at the miss price, the output at the output price."""
        prompt, completion, cached = usage_tokens(usage)
        hit = self.input if self.cached_input is None else self.cached_input
        return ((prompt - cached) * self.input + cached * hit + completion * self.output) / 1_000_000


def usage_tokens(usage: Mapping[str, Any]) -> tuple[int, int, int]:
    """(input, output, cached input) tokens of a chat answer's `usage`. Moonshot reports
    cache hits as `usage.cached_tokens` (platform.kimi.ai/docs/api/chat), a part of
    `prompt_tokens`; the OpenAI-style `prompt_tokens_details.cached_tokens` is read when
    the top-level field is missing."""

    def count(value: Any) -> int:
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    prompt = count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = usage.get("cached_tokens")
    if cached is None and isinstance(details, Mapping):
        cached = details.get("cached_tokens")
    return prompt, count(usage.get("completion_tokens")), min(count(cached), prompt)


PUBLISHED: dict[str, Price] = {
    "kimi-k2.6": Price(0.95, 4.00, cached_input=0.16),
    "kimi-k2.5": Price(0.60, 3.00, cached_input=0.10),
    "moonshot-v1-8k-vision-preview": Price(0.20, 2.00),
    "moonshot-v1-32k-vision-preview": Price(1.00, 3.00),
    "moonshot-v1-128k-vision-preview": Price(2.00, 5.00),
}


def bills_in_cny(base_url: str) -> bool:
    """The China platform: its prices are not the published USD table's."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "moonshot.cn" or host.endswith(".moonshot.cn")


def price_for(
    model: str, overrides: Mapping[str, Mapping[str, Any]] | None = None, base_url: str = ""
) -> Price | None:
    """The config's price for `model` if it sets one, else the published one (global
    platform only: a USD figure for a CNY bill would mislead), else None."""
    entry = (overrides or {}).get(model)
    if entry:
        # settings.load_config has checked input/output are numbers and currency a string.
        hit = entry.get("cached_input")
        return Price(
            input=float(entry["input"]),
            output=float(entry["output"]),
            currency=str(entry.get("currency", "USD")),
            source="config",
            cached_input=None if hit is None else float(hit),
        )
    if bills_in_cny(base_url):
        return None
    return PUBLISHED.get(model)


def sum_usage(usages: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Token counts of several requests added key by key, nested ones too (cached tokens
    sit in `prompt_tokens_details`); None when none reported any."""
    known = [u for u in usages if u]
    if not known:
        return None
    total: dict[str, Any] = {}
    for usage in known:
        for key, value in usage.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                total[key] = sum_usage([total.get(key), value])
    return total
