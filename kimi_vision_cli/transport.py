"""Inline or upload: decided from the request-body size alone (pure, no I/O).

Moonshot caps a request body at 100 MB. `auto` inlines everything while the body
stays under the limit less a margin (JSON framing, prompt, headers), and otherwise
uploads the largest media first until the rest fits.
"""

from __future__ import annotations

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.moonshot import BODY_LIMIT, FILE_LIMIT

# Headroom for the JSON around the parts, the prompt, history and multipart framing.
MARGIN = 2 * 1024 * 1024
UPLOAD_LIMIT = FILE_LIMIT
MODES = ("auto", "always", "never")


def plan(inline_sizes: list[int], *, mode: str = "auto", fixed: int = 0, limit: int = BODY_LIMIT) -> set[int]:
    """Indices of the media to upload.

    `inline_sizes[i]` is what part i adds to the body when inlined (base64 included);
    `fixed` is the rest of the body (prompt, history, framing).
    """
    budget = limit - MARGIN - fixed
    if mode == "always":
        return set(range(len(inline_sizes)))
    total = sum(inline_sizes)
    if total <= budget:
        return set()
    if mode == "never":
        raise InputError(
            f"request body would be {(total + fixed) / 2**20:.1f} MB, over Moonshot's 100 MB limit",
            hint="use --upload auto or --upload always, or lower --max-size",
        )
    chosen: set[int] = set()
    for i in sorted(range(len(inline_sizes)), key=lambda i: -inline_sizes[i]):
        if total <= budget:
            break
        chosen.add(i)
        total -= inline_sizes[i]
    return chosen


def check_file_size(size: int, name: str) -> None:
    if size > UPLOAD_LIMIT:
        raise InputError(
            f"{size / 2**20:.1f} MB after preparation, over Moonshot's 100 MB file limit",
            input=name,
            hint="shorten or downscale it first (see --downscale-video)",
        )
