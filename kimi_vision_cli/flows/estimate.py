"""The estimate flow: plan the very requests describe/ask would send (same preparation,
same plan) and ask Moonshot's tokenizer how many input tokens they are, without
sending a chat request or uploading anything.

Media that `--upload auto/always` would upload are counted INLINE: an image costs the
same tokens whether it arrives as base64 or as ms://, and uploading just to count would
leave files on the account (1,000-file cap). Their `transport` is still recorded as
`upload`, so the report says what describe/ask would do.

`plan_each`/`plan_ask` give Estimates holding the tokenizer request (`body`), which
--dry-run shows; `count` sends it and drops it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from kimi_vision_cli.errors import ExitCode, KimiVisionError, Tally
from kimi_vision_cli.moonshot import BATCH_MAX_TOKENS, Price, completion_budget
from kimi_vision_cli.output.records import Cost, Estimate
from kimi_vision_cli.plan import Prepared, plan
from kimi_vision_cli.runner.budget import price_here
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.types import Source


def _plan_into(est: Estimate, prepared: list[Prepared], prompt: str | None, ctx: Context) -> None:
    planned = plan(prepared, prompt, ctx.settings)
    est.media = planned.records
    # Held until counted: a body holds the base64 of every image, too much to keep per input.
    est.body = {"model": ctx.settings.request.model, "messages": planned.messages(inline=True)}


def plan_each(sources: Iterable[Source], ctx: Context) -> Iterator[Estimate]:
    """One estimate request per input, like `describe`; a bad input is an Estimate with an error."""
    for source in sources:
        if ctx.settings.media.segment is not None:
            yield from _each_segment(source, ctx)
            continue
        est = Estimate(input=source.display)
        try:
            prepared = prepare_source(source, ctx)
            est.media = [prepared.record]
            _plan_into(est, [prepared], None, ctx)
        except KimiVisionError as err:
            est.error = err.with_input(est.input)
        yield est


def _each_segment(source: Source, ctx: Context) -> Iterator[Estimate]:
    """--segment: one estimate per segment, the requests describe --segment would send."""
    from kimi_vision_cli.flows.segments import segment_plans

    try:
        for planned in segment_plans(source, ctx):
            est = Estimate(input=planned.input, media=planned.records)
            est.body = {"model": ctx.settings.request.model, "messages": planned.messages(inline=True)}
            yield est
    except KimiVisionError as err:
        yield Estimate(input=source.display, error=err.with_input(source.display))


def plan_ask(question: str, sources: Iterable[Source], ctx: Context) -> Estimate:
    """One estimate request for one request holding every input, like `ask`."""
    est = Estimate(input="")
    try:
        prepared = [prepare_source(s, ctx) for s in sources]
        est.input = ", ".join(p.input for p in prepared)
        _plan_into(est, prepared, question, ctx)
    except KimiVisionError as err:
        est.error = err
    return est


def count(est: Estimate, ctx: Context) -> Estimate:
    """Ask the tokenizer for a planned estimate's tokens; its request is dropped after."""
    body, est.body = est.body, None
    if est.error is None and body is not None:
        try:
            est.tokens = ctx.client.estimate_tokens(body["model"], body["messages"])
        except KimiVisionError as err:
            est.error = err
    return est


def estimate_each(sources: Iterable[Source], ctx: Context) -> Iterator[Estimate]:
    for est in plan_each(sources, ctx):
        est = count(est, ctx)
        if est.error is not None:
            est.error.with_input(est.input)
        yield est


def estimate_ask(question: str, sources: Iterable[Source], ctx: Context) -> Estimate:
    return count(plan_ask(question, sources, ctx), ctx)


def cost_of(total_tokens: int, ctx: Context, *, batch: bool = False) -> Cost:
    price = price_here(ctx.settings, batch=batch)  # the Batch API's (60%) with --batch
    if price is None:
        return Cost(None, None, None)
    return Cost(price.currency, round(price.cost(total_tokens), 6), price)


def worst_of(tokens: int, requests: int, budget: int | None, price: Price | None) -> Cost | None:
    """What `requests` requests holding `tokens` input tokens cost at most: the input at
    the cache-miss price plus each one's whole completion budget at the output price
    (None: no price, or no budget known to count)."""
    if price is None or budget is None:
        return None
    amount = (tokens * price.input + requests * budget * price.output) / 1_000_000
    return Cost(price.currency, round(amount, 6), price)


@dataclass(frozen=True)
class Counted:
    """What an estimate run counted: the footer's and the JSON document's figures."""

    rows: int  # estimates shown (failed ones included)
    requests: int  # estimates counted (no error)
    total: int  # their input tokens
    cost: Cost
    worst: Cost | None  # every request's whole completion budget at the output price
    budget: int | None  # max_tokens per request (None: unknown)
    exit_code: ExitCode


def run(
    sources: Iterable[Source], ctx: Context, show: Callable[[Estimate], None], *, ask: str | None, batch: bool
) -> Counted:
    """Count each request describe (or ask, with `ask`) would send, handing each
    Estimate to `show` as it is counted; a request over the model's context is warned
    about. `batch`: as `batch submit` would send (its model check, its max_tokens)."""
    s = ctx.settings
    if batch:
        from kimi_vision_cli.flows import batch as batch_api

        batch_api.check_model(s)  # what batch submit would refuse
        s = ctx.settings = s.with_(max_tokens=s.request.max_tokens or BATCH_MAX_TOKENS)
    price, budget = price_here(ctx.settings, batch=batch), completion_budget(s.spec, s.request.max_tokens)
    results = [estimate_ask(ask, list(sources), ctx)] if ask is not None else estimate_each(sources, ctx)
    tally = Tally(report=ctx.diag.error)
    context = s.spec.context  # the table's, or GET /v1/models' context_length
    rows = requests = total = 0
    for est in results:
        if est.tokens is not None:
            est.worst = worst_of(est.tokens, 1, budget, price)
            if context is not None and est.tokens + (s.request.max_tokens or 0) > context:
                ctx.diag.warn(
                    f"{est.input}: {est.tokens:,} tokens{' plus --max-tokens' if s.request.max_tokens else ''} "
                    f"is over {s.request.model}'s context of {context:,}: Moonshot would refuse the request"
                )
        rows += 1
        if est.error is None and est.tokens is not None:
            requests, total = requests + 1, total + est.tokens
        stop = tally.error(est.error) if est.error is not None else False
        show(est)
        if stop:
            break
    cost, worst = cost_of(total, ctx, batch=batch), worst_of(total, requests, budget, price)
    return Counted(rows, requests, total, cost, worst, budget, tally.exit_code)
