"""kimi-vision: describe images and videos with Moonshot's Kimi vision models.

As a library (docs/python.md): `kv.describe(inputs, ...)` yields a record per input,
`kv.ask(question, inputs, ...)` returns one, `kv.estimate(inputs, ...)` counts tokens.
They are loaded on first use, so `import kimi_vision_cli` (and `kimi-vision --help`)
stays as light as before (STYLE rule 10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kimi_vision_cli.library import ask, describe, estimate

__all__ = ["__version__", "ask", "describe", "estimate"]


def __getattr__(name: str) -> Any:
    if name in ("ask", "describe", "estimate"):
        from kimi_vision_cli import library

        return getattr(library, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
