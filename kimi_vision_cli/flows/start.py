"""What every run does before it reads an input: the checks no input can change (a
retired model, --temperature on kimi-k2.x, a bad --schema: one error, exit 2), and a
model the table does not know looked up in GET /v1/models. The CLI and the Python API
(library.py) both start here."""

from __future__ import annotations

from kimi_vision_cli.plan import check_model
from kimi_vision_cli.runner.context import Context


def start(ctx: Context, *, model: bool = True) -> Context:
    """The run's Context `ctx`, checked (and its model looked up) before any input is
    read. model=False: a command that sends no chat request (models, files, batch
    status...), which a retired or unknown -m must not stop. A dry run (ctx.offline)
    looks nothing up."""
    settings = ctx.settings
    if model:
        check_model(settings)
    if settings.request.schema is not None:
        from kimi_vision_cli import schema

        schema.load(settings.request.schema)  # a bad --schema is exit 2 before any input is read
    if model and not settings.spec.known and not ctx.offline:
        from kimi_vision_cli.flows.models import look_up

        # GET /v1/models, cached a day; a client it made is told the new settings (Context)
        ctx.settings = settings.with_(listed=look_up(ctx))
        check_model(ctx.settings)
    return ctx
