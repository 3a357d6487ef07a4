"""kimi-vision: describe images and videos with Moonshot's Kimi vision models.

As a library (docs/python.md): `kv.describe(inputs, ...)` yields a record per input,
`kv.ask(question, inputs, ...)` returns one, `kv.estimate(inputs, ...)` counts tokens;
`kv.Client(...)` keeps one connection and its pacing for many such calls. They are
loaded on first use, so `import kimi_vision_cli` (and `kimi-vision --help`) stays as
light as before (STYLE rule 10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kimi_vision_cli.library import Client, ask, describe, estimate

__all__ = ["Client", "__version__", "ask", "describe", "estimate"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "ask", "describe", "estimate"):
        from kimi_vision_cli import library

        return getattr(library, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
