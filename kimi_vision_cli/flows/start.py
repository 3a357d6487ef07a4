"""What every run does before it reads an input: the checks no input can change (a
retired model, --temperature on kimi-k2.x, a bad --schema: one error, exit 2), and a
model the table does not know looked up in GET /v1/models. The CLI and the Python API
(library.py) both start here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.plan import check_model
from kimi_vision_cli.runner.context import Context, FrameBar, PartsBars
from kimi_vision_cli.runner.host import Host
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.runner.pacing import Pacing


def start(
    settings: Settings,
    term: Terminal,
    diag: Diagnostics,
    *,
    model: bool = True,
    offline: bool = False,
    frame_bar: FrameBar | None = None,
    parts_bar: PartsBars | None = None,
    host: Host | None = None,
    shared: MoonshotClient | None = None,
    pacing: Pacing | None = None,
) -> Context:
    """The run's Context. model=False: a command that sends no chat request (models,
    files, batch status...), which a retired or unknown -m must not stop. offline:
    planning only (--dry-run), the context refuses to make a client (no network).
    host: the machine's clock, sleep, polling and cores (None: the real ones). shared,
    pacing: a client and its Pacing kept across runs (library.Client), which the run uses."""
    if model:
        check_model(settings)
    if settings.request.schema is not None:
        from kimi_vision_cli import schema

        schema.load(settings.request.schema)  # a bad --schema is exit 2 before any input is read
    ctx = Context(
        settings, term, diag, offline=offline, frame_bar=frame_bar, parts_bar=parts_bar, host=host,
        shared=shared, pacing=pacing,
    )  # fmt: skip
    if model and not settings.spec.known and not offline:
        from kimi_vision_cli.flows.models import look_up

        # GET /v1/models, cached a day; a client it made is told the new settings (Context)
        ctx.settings = settings.with_(listed=look_up(ctx))
        check_model(ctx.settings)
    return ctx
