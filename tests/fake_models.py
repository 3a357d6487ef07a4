"""The models the loopback Moonshot server serves (tests/fake_moonshot.py), and its
GET /v1/models listing.

Readings we chose where Moonshot's docs are unclear (each marked READING):
- Models (issue 20): kimi-k3 fixes sampling like k2.6 (temperature 1.0), refuses
  `thinking` (always on) and takes `reasoning_effort` low|high|max; kimi-k2.5 was shut
  down and answers 404 like any model not served; GET /v1/models also lists
  kimi-lens-preview, a vision model the tool does not know (images only). READING:
  `reasoning_effort` on another model is ignored (Moonshot ignores unknown fields).
"""

from __future__ import annotations

from typing import Any

K2 = {"kimi-k2.6"}
K3 = {"kimi-k3"}
# Shut down (2026-08-31): the real service answers 404 like for any model it does not serve.
RETIRED = {"kimi-k2.5"}
# A vision model the tool's table does not know (issue 20): images only, its own context.
NEW_VISION = {"kimi-lens-preview"}
V1_VISION = {
    "moonshot-v1-8k-vision-preview",
    "moonshot-v1-32k-vision-preview",
    "moonshot-v1-128k-vision-preview",
}
TEXT_ONLY = {"moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"}
MODELS = K2 | K3 | V1_VISION | TEXT_ONLY | NEW_VISION
JSON_SCHEMA_MODELS = K2 | K3  # response_format json_schema (READING: strict taken, not enforced)
EFFORTS = ("low", "high", "max")
FIXED_K2 = {"top_p": 0.95, "n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0}
CONTEXT = {"kimi-k3": 1_048_576, "kimi-k2.6": 262_144, "kimi-lens-preview": 65_536}


def listing() -> list[dict[str, Any]]:
    """GET /v1/models: every model served, as Moonshot lists them."""
    out = []
    for mid in sorted(MODELS):
        vision = mid not in TEXT_ONLY
        ctx = CONTEXT.get(mid) or int(mid.split("-")[2].rstrip("k")) * 1024
        # The shape of Moonshot's GET /v1/models items (its OpenAPI description lists
        # created, context_length, supports_image_in/video_in/reasoning).
        out.append({
            "id": mid, "object": "model", "created": 1767225600, "owned_by": "moonshot",
            "context_length": ctx, "supports_image_in": vision, "supports_video_in": mid in K2 | K3,
            "supports_reasoning": mid in K2 | K3,
        })  # fmt: skip
    return out
