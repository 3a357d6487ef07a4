"""`ask`: one request holding every input, and with -i the follow-up questions, each one
more request carrying the conversation so far."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kimi_vision_cli import events as ev
from kimi_vision_cli.errors import ExitCode, Interrupted, KimiVisionError, Tally, Terminated
from kimi_vision_cli.flows.upload import upload_pending
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.plan import Planned, plan
from kimi_vision_cli.runner.budget import Spend, spend_for
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.runner.send import send_checked
from kimi_vision_cli.types import Source


def plan_ask(question: str, sources: Iterable[Source], ctx: Context, *, prefix: str | None = None) -> Planned:
    """The one request, decided (nothing uploaded or sent). Any bad input fails it."""
    prepared = [prepare_source(source, ctx) for source in sources]
    return plan(prepared, question, ctx.settings, prefix=prefix)


def ask(
    question: str,
    sources: Iterable[Source],
    ctx: Context,
    sink: ev.Sink,
    *,
    prefix: str | None = None,
    followups: Callable[[], str | None] | None = None,
) -> Tally:
    """Plan, upload and send the one request, then the follow-ups; the tally of the talk.
    Ctrl-C or SIGTERM ends it as it does a describe: the turn under way gets an
    `interrupted` record, a line says so on stderr, exit 130 or 143 (issue 19.8)."""
    tally = Tally(report=ctx.diag.error)
    spend = spend_for(ctx)  # --max-cost without a price: refused before anything is read
    sources = list(sources)
    # Named before anything is read: the record of a failed input says which inputs (19.8).
    result = Result(input=", ".join(s.display for s in sources), model=ctx.settings.request.model)
    talk = _Talk(ctx, sink, tally, spend, result)
    try:
        planned = _first(question, sources, talk, prefix)
        talk.finish(result)
        if followups is not None and result.error is None and planned is not None:
            # The first turn exactly as sent: uploaded media stay ms:// references (never
            # re-uploaded), inline media are re-sent since the API keeps no conversation state.
            history = [planned.turn(), {"role": "assistant", "content": result.text}]
            _converse(talk, result.input, history, followups)
    except (KeyboardInterrupt, Terminated) as stop:
        talk.interrupted(stop)
    if ctx.settings.run.verbose and spend.line():
        ctx.diag.note(f"usage: {spend.line()}")
    elif unpriced := spend.unpriced(ctx.settings.request.model, ctx.settings.connection.base_url):
        ctx.diag.note(unpriced)
    return tally


class _Talk:
    """One ask run: what every turn shares, and the turn under way (None between turns)."""

    def __init__(self, ctx: Context, sink: ev.Sink, tally: Tally, spend: Spend, turn: Result):
        self.ctx, self.sink, self.tally, self.spend = ctx, sink, tally, spend
        self.turn: Result | None = turn
        # The answer streams live to a sink that shows it, except with --schema, whose
        # answer may be asked for twice.
        self.streaming = sink.streams and ctx.settings.request.schema is None

    def show(self, result: Result) -> None:
        self.sink.emit(ev.Finished(result, streamed=self.streaming))

    def begin(self, label: str) -> ev.Sink | None:
        """A turn's answer begins; the sink its live stream goes to (None: not live)."""
        self.sink.emit(ev.Started(label))
        return self.sink if self.streaming else None

    def finish(self, result: Result) -> bool:
        """Count, price and print one ended turn; True when the talk must stop."""
        self.spend.price_result(result)
        self.spend.add(result)
        self.show(result)
        self.turn = None  # after it is shown: a Ctrl-C before then still gives its record
        if result.error is None:
            self.tally.ok()
            return False
        return self.tally.error(result.error)

    def interrupted(self, stop: BaseException) -> None:
        """Ctrl-C or SIGTERM: the turn under way (if any) is a record saying so (JSON and
        JSONL hold one object per turn); the stop is never silent; exit 130 or 143."""
        code = ExitCode.TERMINATED if isinstance(stop, Terminated) else ExitCode.INTERRUPTED
        word = "terminated" if code == ExitCode.TERMINATED else "interrupted"
        self.tally.fold(code)
        turn, self.turn = self.turn, None
        if turn is not None:
            partial = bool(turn.text) and self.streaming
            err = Interrupted(
                f"{word}: stopped before the answer was whole", hint="rerun to finish", input=turn.input
            )
            err.exit_code = code
            turn.error = err
            self.show(turn)
            if partial:
                self.ctx.diag.warn(f"{turn.input}: {word} mid-answer; the text above on stdout is incomplete")
        self.ctx.diag.note(f"{word} — rerun to finish")


def _first(question: str, sources: list[Source], talk: _Talk, prefix: str | None) -> Planned | None:
    """The first turn into talk.turn (its error kept there); the plan as sent."""
    ctx, result = talk.ctx, talk.turn
    assert result is not None
    planned = None
    try:
        prepared = [prepare_source(source, ctx) for source in sources]
        result.input = ", ".join(p.input for p in prepared)
        result.media = [p.record for p in prepared]
        planned = plan(prepared, question, ctx.settings, prefix=prefix)
        result.media = planned.records
        ctx.client  # noqa: B018 - missing key: exit 3 before any upload
        if talk.spend.reached:  # --max-cost 0
            raise talk.spend.not_started("not sent")
        planned = upload_pending(planned, ctx)
        result.media = planned.records
        send_checked(ctx, planned, result, talk.begin(result.input))
    except KimiVisionError as err:
        result.error = err
    return planned


def _converse(
    talk: _Talk, label: str, history: list[dict[str, Any]], followups: Callable[[], str | None]
) -> None:
    """`ask -i`: each follow-up question is one more request carrying the whole history.
    A failed turn is reported and left out of the history; auth/quota errors end the talk."""
    ctx = talk.ctx
    while (question := followups()) is not None:
        result = Result(input=label, model=ctx.settings.request.model)
        talk.turn = result
        stop = False
        try:
            if talk.spend.reached:  # --max-cost: this question is not sent, the talk ends
                stop = True
                raise talk.spend.not_started("not sent")
            planned = plan([], question, ctx.settings, label=label, history=history)
            send_checked(ctx, planned, result, talk.begin(label))
        except KimiVisionError as err:
            result.error = err
        if talk.finish(result) or stop:
            return
        if result.error is None:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]
