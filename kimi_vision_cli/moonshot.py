"""Published prices per 1M tokens: the one table `estimate` uses, overridable in
config.toml (`[prices."model-id"] input = ..., output = ..., currency = "..."`).

Sources (read 2026-11; prices change, which is why config can override them):
- kimi-k2.5: https://platform.moonshot.ai/docs/pricing/chat — $0.60 input (cache miss),
  $0.10 input (cache hit), $3.00 output per 1M tokens. We use the cache-miss rate: an
  estimate should not assume a cache hit.
- moonshot-v1-{8k,32k,128k}-vision-preview: https://platform.moonshot.ai/docs/pricing/chat-v1
  — $0.20/$2.00, $1.00/$3.00, $2.00/$5.00 (input/output per 1M tokens), the same as
  the text models of the same context size.
The China platform (api.moonshot.cn) bills in CNY at other rates: set them in config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Price:
    input: float  # per 1M input tokens
    output: float  # per 1M output tokens
    currency: str = "USD"
    source: str = "published"  # "published" | "config"

    def cost(self, input_tokens: int) -> float:
        return input_tokens * self.input / 1_000_000


PUBLISHED: dict[str, Price] = {
    "kimi-k2.5": Price(0.60, 3.00),
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
        return Price(
            input=float(entry["input"]),
            output=float(entry["output"]),
            currency=str(entry.get("currency", "USD")),
            source="config",
        )
    if bills_in_cny(base_url):
        return None
    return PUBLISHED.get(model)
