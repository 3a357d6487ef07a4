"""Moonshot's facts, in one place: regions, models and their fixed parameters, the
limits of the API, and published prices. Nothing else in the tool hard-codes them.

Sources (read 2026-12 with the search tool; they change, which is why config.toml can
override prices and why a model this table does not know is looked up in GET /v1/models):
- parameters per family: https://platform.kimi.ai/docs/api/models-overview (kimi-k2.6
  fixes temperature, top_p 0.95, n 1, presence/frequency penalty 0 - "Cannot be
  modified" - and takes `thinking` {"type": "enabled"|"disabled"}; moonshot-v1 takes
  sampling as sent).
- kimi-k3 (released 2026-07-16): https://platform.kimi.ai/docs/guide/kimi-k3-quickstart and
  https://platform.kimi.ai/docs/guide/use-reasoning-effort: image and video input,
  1,048,576-token context, thinking always on, top-level `reasoning_effort` of "low",
  "high" or "max" (default "max"; at launch only "max" was taken), sampling fixed,
  `max_completion_tokens` (default 131,072). Price 3.00 / 0.30 / 15.00 USD per 1M
  (miss / hit / output): https://platform.kimi.ai/docs/pricing/chat.
- kimi-k2.5 was shut down on 2026-08-31 in favour of kimi-k2.6 (Moonshot's notice, as
  reported by client projects that migrated that day; the English docs still list it).
- GET /v1/models items carry `context_length`, `supports_image_in`, `supports_video_in`,
  `supports_reasoning` (Moonshot's OpenAPI description of /v1/models, platform.kimi.com).
- Batch API: https://platform.kimi.com/docs/guide/use-batch-api ("Batch API 支持 kimi-k2.6
  和 kimi-k2.5"; no temperature/top_p/n/penalties in a line). The English page
  (platform.kimi.ai/docs/guide/use-batch-api) still says kimi-k2.5 only: we follow the
  newer Chinese page, which the issue agrees with. Price: "Batch API inference costs are
  60% of the standard model price" (https://platform.kimi.ai/docs/pricing/batch).
  completion_window 12h..7d, metadata up to 16 pairs, keys <= 64 and values <= 512
  characters (https://platform.kimi.ai/docs/api/batch-create).
- `response_format` `json_schema` (strict): not found in Moonshot's pages we could search;
  the issue reports it with caveats on k2.6 ($ref, oneOf weak). We send it to the k2.x and
  k3 families and fall back to `json_object` + the schema in the prompt on a 400 that
  names response_format (runner/send.py), so a service that refuses it still answers.
- limits: a request body and an uploaded file at most 100 MB; 1,000 files and 10 GB
  per account; images recommended at most 4096x2160, videos at most 2048x1080.
- rate tiers (concurrency, RPM, TPM, TPD by cumulative top-up):
  https://platform.moonshot.ai/docs/pricing/limits.
- prices per 1M tokens, USD (cache miss / cache hit / output):
  kimi-k3 3.00 / 0.30 / 15.00 (https://platform.kimi.ai/docs/pricing/chat);
  kimi-k2.6 0.95 / 0.16 / 4.00 (https://platform.kimi.com/docs/pricing/chat-k26);
  moonshot-v1-{8k,32k,128k}-vision-preview 0.20/2.00, 1.00/3.00, 2.00/5.00 (input/output,
  no cache price published: https://platform.moonshot.ai/docs/pricing/chat-v1).
  The China platform (api.moonshot.cn) bills in CNY at other rates: set them in config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

# -- regions and models -----------------------------------------------------------------

REGIONS = {
    "global": "https://api.moonshot.ai/v1",
    "cn": "https://api.moonshot.cn/v1",
}
ESTIMATE_PATH = "/tokenizers/estimate-token-count"  # Moonshot's token counter
# Partial Mode (`--prefix`) and a response_format do not go together: "Do not mix Partial
# Mode with response_format=json_object, or you may get unexpected model responses"
# (https://platform.kimi.ai/docs/api/partial, read 2026-12). ask refuses the pair up front.
PARTIAL_MODE_EXCLUDES = ("--json-mode", "--schema")


# -- limits -------------------------------------------------------------------------------

# Moonshot's docs say "100 MB" (platform.kimi.ai/docs/api/files-upload: "Each file must
# not exceed 100 MB") without saying which MB; we read it as 100 MiB (104,857,600 bytes),
# the larger reading, and every message says MiB (issue 19, item 18).
MB = 1024 * 1024  # a mebibyte (MiB)
BODY_LIMIT = 100 * MB  # one request body
FILE_LIMIT = 100 * MB  # one uploaded file
MAX_FILES = 1000  # files per account
IMAGE_RECOMMENDED = (4096, 2160)  # landscape; a portrait image fits 2160x4096
VIDEO_RECOMMENDED = (2048, 1080)

# The Batch API bills 60% of the live price (platform.kimi.ai/docs/pricing/batch).
BATCH_DISCOUNT = 0.6
BATCH_WINDOW_HOURS = (12, 7 * 24)  # completion_window 12h..7d
BATCH_METADATA_PAIRS = 16  # metadata: up to 16 pairs, keys <= 64, values <= 512 characters
BATCH_METADATA_KEY, BATCH_METADATA_VALUE = 64, 512
# A batch's status is one of validating, failed, in_progress, finalizing, completed,
# expired, cancelling, cancelled (https://platform.kimi.ai/docs/api/batch-cancel); these
# end it: completed with its output, the others with what output there is, if any.
BATCH_DONE_STATES = frozenset({"completed"})
BATCH_FAILED_STATES = frozenset({"failed", "expired", "cancelled"})
# Not Moonshot's: the tool's own max_tokens for batch requests. TPM limits count max_tokens
# whether used or not, so a batch asks for a modest budget (SPEC: "batch defaults should be
# modest"). The option table makes it batch submit's --max-tokens default (shown in --help).
BATCH_MAX_TOKENS = 4096


def mib(size: int) -> str:
    """A byte count as messages show it: `100.2 MiB` (never "MB" for 2**20 bytes)."""
    return f"{size // MB} MiB" if size % MB == 0 else f"{size / MB:.1f} MiB"


# -- rate tiers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    name: str
    concurrency: int  # requests in flight
    rpm: int  # requests per minute
    tpm: int  # tokens per minute (max_tokens counts)
    tpd: int | None  # tokens per day; None: unlimited


# By cumulative top-up (platform.moonshot.ai/docs/pricing/limits, read 2026-11). The tool
# paces only by the limit a 429 names, never by the rest of a tier guessed from it: one
# concurrency 429 made every run assume tier 0's 3 requests a minute, against servers and
# accounts that capped concurrency alone (issue 19, item 25). The table, for reference.
TIERS = (
    Tier("tier 0", 1, 3, 500_000, 1_500_000),
    Tier("tier 1", 50, 200, 2_000_000, None),
    Tier("tier 2", 100, 500, 3_000_000, None),
    Tier("tier 3", 200, 5_000, 3_000_000, None),
    Tier("tier 4", 400, 5_000, 4_000_000, None),
    Tier("tier 5", 1_000, 10_000, 5_000_000, None),
)


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

    def discounted(self, factor: float) -> Price:
        """This price times `factor` (the Batch API's 60%)."""
        hit = None if self.cached_input is None else self.cached_input * factor
        return replace(self, input=self.input * factor, output=self.output * factor, cached_input=hit)


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


# -- models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """How a family of models takes a request: what every body is built from (plan.py)."""

    name: str
    fixed_sampling: bool  # temperature/top_p/n/penalties fixed: never sent, --temperature refused
    thinking: str  # "switch": `thinking` enabled/disabled; "always": on, effort only; "none"
    efforts: tuple[str, ...]  # the `reasoning_effort` values it takes; () none
    limit_param: str  # the completion-limit parameter: "max_tokens" | "max_completion_tokens"
    default_completion: int | None  # what it allows when no limit is sent (TPM counts it)
    json_schema: bool  # takes response_format json_schema (strict)


K3 = Family("kimi-k3", True, "always", ("low", "high", "max"), "max_completion_tokens", 131_072, True)
K2 = Family("kimi-k2.x", True, "switch", (), "max_tokens", 32_768, True)
V1_VISION = Family("moonshot-v1 vision", False, "none", (), "max_tokens", None, False)
# A model this table does not know (GET /v1/models lists it): sent as asked, the API judges.
LISTED = Family("listed by the API", False, "none", (), "max_tokens", None, False)


@dataclass(frozen=True)
class Model:
    id: str
    family: Family
    context: int | None  # tokens
    price: Price | None
    image: bool = True
    video: bool = False
    batch: bool = False  # the Batch API takes it
    retired: str | None = None  # the date Moonshot shut it down
    successor: str | None = None
    known: bool = True  # from this table; False: from GET /v1/models


MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        Model("kimi-k3", K3, 1_048_576, Price(3.00, 15.00, cached_input=0.30), video=True),
        Model("kimi-k2.6", K2, 262_144, Price(0.95, 4.00, cached_input=0.16), video=True, batch=True),
        Model("kimi-k2.5", K2, 262_144, Price(0.60, 3.00, cached_input=0.10), video=True,
              retired="2026-08-31", successor="kimi-k2.6"),
        Model("moonshot-v1-8k-vision-preview", V1_VISION, 8_192, Price(0.20, 2.00)),
        Model("moonshot-v1-32k-vision-preview", V1_VISION, 32_768, Price(1.00, 3.00)),
        Model("moonshot-v1-128k-vision-preview", V1_VISION, 131_072, Price(2.00, 5.00)),
    )
}  # fmt: skip
# Captions at the best quality per dollar Moonshot serves today: k2.6 takes image and video
# at a fifth of kimi-k3's price (README says when kimi-k3 is worth it).
DEFAULT_MODEL = "kimi-k2.6"
PUBLISHED: dict[str, Price] = {m.id: m.price for m in MODELS.values() if m.price is not None}


def known_model(model: str) -> Model | None:
    return MODELS.get(model)


def listed_model(raw: Mapping[str, Any]) -> Model:
    """A model the table does not know, from its GET /v1/models item."""
    ctx = raw.get("context_length")
    image, video = raw.get("supports_image_in"), raw.get("supports_video_in")
    return Model(
        str(raw.get("id", "")),
        LISTED,
        ctx if isinstance(ctx, int) and not isinstance(ctx, bool) else None,
        None,
        image=image is True,
        video=video is True,
        known=False,
    )


def model_for(model: str, listed: Model | None = None) -> Model:
    """The table's entry, else what the API listed (settings.model_info), else a model
    taken as it is (a dry run, which looks nothing up)."""
    if model in MODELS:
        return MODELS[model]
    if listed is not None and listed.id == model:
        return listed
    return Model(model, LISTED, None, None, video=True, known=False)


def completion_budget(model: Model, max_tokens: int | None) -> int | None:
    """What rate limits (TPM) count on top of the input, and what an answer may cost at
    most: max_tokens, sent or the family's default."""
    return max_tokens if max_tokens is not None else model.family.default_completion


# The request fields a flag sets: an error about one names both, `--temperature
# (temperature)`, so the user finds the flag and the API docs the keyword.
FIELD_FLAGS: dict[str, str] = {
    "temperature": "--temperature",
    "max_tokens": "--max-tokens",
    "max_completion_tokens": "--max-tokens",
    "reasoning_effort": "--effort",
    "thinking": "--thinking/--no-thinking",
    "response_format": "--json-mode/--schema",
}


def flag_and_field(field: str, flag: str | None = None) -> str:
    """`--temperature (temperature)`: the flag (`flag`, or the one that sets `field`) and
    the request field it becomes."""
    return f"{flag or FIELD_FLAGS[field]} ({field})"


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
