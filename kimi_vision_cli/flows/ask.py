"""`ask`: one request holding every input, and with -i the follow-up questions, each one
more request carrying the conversation so far."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kimi_vision_cli.errors import KimiVisionError, Tally
from kimi_vision_cli.flows.budget import Spend, spend_for
from kimi_vision_cli.flows.context import Context
from kimi_vision_cli.flows.prepare import prepare_source
from kimi_vision_cli.flows.send import send_checked
from kimi_vision_cli.flows.upload import upload_pending
from kimi_vision_cli.inputs.discover import Source
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.render import Renderer
from kimi_vision_cli.plan import Planned, plan


def plan_ask(question: str, sources: Iterable[Source], ctx: Context, *, prefix: str | None = None) -> Planned:
    """The one request, decided (nothing uploaded or sent). Any bad input fails it."""
    prepared = [prepare_source(source, ctx) for source in sources]
    return plan(prepared, question, ctx.settings, prefix=prefix)


def ask(
    question: str,
    sources: Iterable[Source],
    ctx: Context,
    renderer: Renderer,
    *,
    prefix: str | None = None,
    followups: Callable[[], str | None] | None = None,
) -> Tally:
    """Plan, upload and send the one request, then the follow-ups; the tally of the talk."""
    tally = Tally(report=ctx.diag.error)
    streaming = ctx.settings.format == "text" and ctx.settings.schema is None  # --schema may ask twice
    spend = spend_for(ctx)  # --max-cost without a price: refused before anything is read
    result = Result(input="", model=ctx.settings.model)
    try:
        prepared = [prepare_source(source, ctx) for source in sources]
        result.input = ", ".join(p.input for p in prepared)
        result.media = [p.record for p in prepared]
        planned = plan(prepared, question, ctx.settings, prefix=prefix)
        result.media = planned.records
        ctx.client  # noqa: B018 - missing key: exit 3 before any upload
        if spend.reached:  # --max-cost 0
            raise spend.not_started("not sent")
        planned = upload_pending(planned, ctx)
        result.media = planned.records
        renderer.begin(result.input)
        send_checked(ctx, planned, result, renderer if streaming else None)
    except KimiVisionError as err:
        result.error = err
    _spent(spend, result)
    (renderer.end if streaming else renderer.result)(result)
    if result.error is not None:
        tally.error(result.error)
    else:
        tally.ok()
    if followups is not None and result.error is None:
        # The first turn exactly as sent: uploaded media stay ms:// references (never
        # re-uploaded), inline media are re-sent since the API keeps no conversation state.
        history = [planned.turn(), {"role": "assistant", "content": result.text}]
        _converse(ctx, renderer, result.input, history, followups, tally, spend)
    if ctx.settings.verbose and spend.line():
        ctx.diag.note(f"usage: {spend.line()}")
    return tally


def _spent(spend: Spend, result: Result) -> None:
    spend.price_result(result)
    spend.add(result)


def _converse(
    ctx: Context,
    renderer: Renderer,
    label: str,
    history: list[dict[str, Any]],
    followups: Callable[[], str | None],
    tally: Tally,
    spend: Spend,
) -> None:
    """`ask -i`: each follow-up question is one more request carrying the whole history.
    A failed turn is reported and left out of the history; auth/quota errors end the talk."""
    streaming = ctx.settings.format == "text" and ctx.settings.schema is None  # --schema may ask twice
    while (question := followups()) is not None:
        result = Result(input=label, model=ctx.settings.model)
        stop = False
        try:
            if spend.reached:  # --max-cost: this question is not sent, the talk ends
                stop = True
                raise spend.not_started("not sent")
            planned = plan([], question, ctx.settings, label=label, history=history)
            renderer.begin(label)
            send_checked(ctx, planned, result, renderer if streaming else None)
        except KimiVisionError as err:
            result.error = err
            stop = tally.error(err) or stop
        _spent(spend, result)
        (renderer.end if streaming else renderer.result)(result)
        if stop:
            return
        if result.error is not None:
            continue
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]
        tally.ok()
