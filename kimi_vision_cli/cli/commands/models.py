"""`models`: the vision-capable models the key can use."""

from __future__ import annotations

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command, context_for
from kimi_vision_cli.output.listing import MODELS, ListingWriter
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import ModelsArgs
from kimi_vision_cli.terminal import Terminal


@command(app, "models", ModelsArgs)
def models(term: Terminal, s: Settings, a: ModelsArgs) -> None:
    """List the vision-capable models the key can use, with context lengths."""
    from kimi_vision_cli.flows.models import vision

    ctx = context_for(s, term, model=False)
    infos = vision(ctx, include_all=a.all_models)
    writer = ListingWriter(MODELS, s.run.format, term, ctx.diag)
    for m in infos:
        writer.row(m)
    writer.close()
    if not infos:
        ctx.diag.warn("the key can use no vision model" + ("" if a.all_models else " (try --all)"))
