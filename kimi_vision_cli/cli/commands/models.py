"""`models`: the vision-capable models the key can use."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Format,
    Region,
    Retries,
    Timeout,
    Verbose,
    context_for,
    settings_from,
)  # fmt: skip


@app.command()
def models(
    all_models: Annotated[
        bool, typer.Option("--all", help="List every model the key can use, not only vision ones.")
    ] = False,
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
) -> None:
    """List the vision-capable models the key can use, with context lengths."""
    from kimi_vision_cli.api.catalog import vision_models

    s = settings_from(**{k: v for k, v in locals().items() if k != "all_models"})
    ctx = context_for(s)
    infos = vision_models(ctx.client.list_models(), include_all=all_models)
    out = STATE.term.stdout
    if s.format == "json":
        out.write(json.dumps([m.to_dict() for m in infos], indent=2) + "\n")
    elif s.format == "jsonl":
        out.writelines(json.dumps(m.to_dict()) + "\n" for m in infos)
    elif STATE.term.stdout_isatty:
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold" if STATE.term.color else "", pad_edge=False)
        for name, justify in (
            ("model", "left"),
            ("context", "right"),
            ("image", "center"),
            ("video", "center"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for m in infos:
            ctx_len = f"{m.context_length:,}" if m.context_length else "?"
            table.add_row(m.id, ctx_len, "yes" if m.image else "-", "yes" if m.video else "-")
        Console(file=out, force_terminal=True, no_color=not STATE.term.color, width=STATE.term.width).print(
            table
        )
    else:
        # Piped: one model per line, tab-separated (id, context length, inputs), for cut/awk.
        for m in infos:
            kinds = ",".join(k for k, on in (("image", m.image), ("video", m.video)) if on) or "text"
            out.write(f"{m.id}\t{m.context_length or ''}\t{kinds}\n")
    out.flush()
    if not infos:
        ctx.diag.warn("the key can use no vision model" + ("" if all_models else " (try --all)"))
