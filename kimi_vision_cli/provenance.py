"""What produced a caption: the model and a hash of what was asked (prompt, system
message, schema). JSON and XMP sidecars, embedded metadata and manifest rows record it,
so a rerun can tell a caption made the same way from one made differently (issue 19
item 5: `--on-exists stale` redoes exactly those).

Floor module: imports nothing of ours, so every writer can use it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Provenance:
    model: str
    prompt_hash: str  # "sha256:<16 hex>" of the canonical JSON of prompt, system, schema

    def to_dict(self) -> dict[str, str]:
        return {"model": self.model, "prompt_hash": self.prompt_hash}

    @classmethod
    def from_dict(cls, value: Any) -> Provenance | None:
        """What a sidecar or row recorded, or None when it recorded nothing usable."""
        if not isinstance(value, dict):
            return None
        model, digest = value.get("model"), value.get("prompt_hash")
        if isinstance(model, str) and isinstance(digest, str) and model and digest:
            return cls(model, digest)
        return None


def prompt_hash(prompt: str | None, system: str | None, schema: Any) -> str:
    """The same text asked the same way hashes the same on every machine: canonical JSON
    (sorted keys, no spaces), UTF-8 with surrogates kept, SHA-256 cut to 16 hex digits."""
    canonical = json.dumps(
        {"prompt": prompt, "system": system, "schema": schema},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return "sha256:" + digest[:16]


def of(model: str, prompt: str | None, system: str | None, schema: Any) -> Provenance:
    return Provenance(model, prompt_hash(prompt, system, schema))
