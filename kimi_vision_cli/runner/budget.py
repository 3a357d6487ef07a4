"""Money (issue 13): what each answer cost, what a run spent, and --max-cost.

An answer's cost is its `usage` at the model's price (moonshot.Price.usage_cost: cached
input at the cache-hit price); unknown (None) when the model has no price (the China
platform without one in config.toml, as `estimate` says) or the answer has no usage.
`Spend` adds up a run; once it reaches --max-cost, no new request starts. Requests in
flight then finish, so a run can spend more than the budget by at most -j requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kimi_vision_cli.errors import ExitCode, NotStartedError, Tally, UsageError, quote_name
from kimi_vision_cli.moonshot import (
    BATCH_DISCOUNT,
    Price,
    bills_in_cny,
    completion_budget,
    flag_and_field,
    price_for,
    usage_tokens,
)
from kimi_vision_cli.output.records import Cost, Result, Submitted
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.types import Source

if TYPE_CHECKING:
    from kimi_vision_cli.settings import Settings


def money(amount: float, currency: str) -> str:
    """4 decimals (0.0337 USD); 6 for what 4 would show as zero."""
    return f"{amount:,.4f} {currency}" if amount == 0 or amount >= 0.0001 else f"{amount:.6f} {currency}"


class Spend:
    """Tokens and money of a run (thread-safe), and whether --max-cost is reached."""

    def __init__(self, price: Price | None, max_cost: float | None = None):
        self.price = price
        self.max_cost = max_cost
        self.tokens_in = 0
        self.tokens_out = 0
        self.amount = 0.0
        self.answers = 0
        self._lock = threading.Lock()

    def cost_of(self, result: Result) -> Cost | None:
        """The answer's cost, from its usage (None: price or usage unknown)."""
        if self.price is None or not result.usage:
            return None
        return Cost(self.price.currency, round(self.price.usage_cost(result.usage), 6), self.price)

    def price_result(self, result: Result) -> None:
        result.cost = self.cost_of(result)

    def add(self, result: Result) -> None:
        """Count what one request (or several, summed in its usage) spent: the cost the
        answer was priced at (priced now when it was not yet), computed once per answer."""
        if not result.usage:
            return
        if result.cost is None:
            self.price_result(result)
        tokens_in, tokens_out, _ = usage_tokens(result.usage)
        cost = result.cost
        with self._lock:
            self.answers += 1
            self.tokens_in += tokens_in
            self.tokens_out += tokens_out
            self.amount += (cost.amount or 0.0) if cost is not None else 0.0

    @property
    def reached(self) -> bool:
        with self._lock:
            return self.max_cost is not None and self.amount >= self.max_cost

    def line(self) -> str | None:
        """The money line, e.g. `31,204 tokens in, 1,022 out, 0.0337 USD` (None: nothing answered)."""
        if not self.answers:
            return None
        text = f"{self.tokens_in:,} tokens in, {self.tokens_out:,} out"
        if self.price is None:
            return text + ", cost unknown (no price for the model on this platform)"
        return f"{text}, {money(self.amount, self.price.currency)}"

    def unpriced(self, model: str, base_url: str) -> str | None:
        """Said once on stderr, -v or not, when a run's answers cannot be priced (their
        `cost` is null), so a missing price is not found out from the records alone."""
        if not self.answers or self.price is not None:
            return None
        why = "the China platform bills in CNY" if bills_in_cny(base_url) else f"no price for {model}"
        return f'cost unknown ({why}) — set [prices."{model}"] input and output in config.toml to count it'

    def reason(self) -> str:
        """Why no request starts any more: `--max-cost 0.0100 USD reached (0.0102 USD spent)`."""
        assert self.price is not None and self.max_cost is not None
        currency = self.price.currency
        return f"--max-cost {money(self.max_cost, currency)} reached ({money(self.amount, currency)} spent)"

    def not_started(self, what: str = "not started") -> NotStartedError:
        """The error of a request not sent because the budget was reached."""
        return NotStartedError(
            f"{what}: {self.reason()}",
            hint="rerun with a larger --max-cost to finish (sidecars let a rerun skip what is done)",
        )


def price_here(s: Settings, model: str | None = None, *, batch: bool = False) -> Price | None:
    """The price of `model` (None: the run's) on this platform, config.toml's before the
    published one; with `batch`, the Batch API's: 60% of it (moonshot.BATCH_DISCOUNT)."""
    price = price_for(model or s.request.model, s.prices, s.connection.base_url)
    return price.discounted(BATCH_DISCOUNT) if price is not None and batch else price


def spend_for(ctx: Context) -> Spend:
    """The run's Spend. --max-cost without a known price is refused before anything is sent."""
    s = ctx.settings
    price = price_here(s)
    if s.run.max_cost is not None and price is None:
        raise UsageError(
            f"--max-cost needs a price for {s.request.model}, and none is known on {s.connection.base_url}",
            hint=f'set [prices."{s.request.model}"] input and output (per 1M tokens) in config.toml',
        )
    return Spend(price, s.run.max_cost)


class Allowance:
    """`batch submit --max-cost`: a batch is paid for after it runs, so the budget is
    applied up front. Each request counts at its worst case: its input tokens (Moonshot's
    token estimate endpoint) at the cache-miss price plus its whole max_tokens at the
    output price. Requests are added while that total stays within the budget; the
    inputs left are not submitted."""

    def __init__(self, ctx: Context, spend: Spend, completion_tokens: int):
        assert spend.price is not None and spend.max_cost is not None
        self.ctx = ctx
        self.spend = spend
        self.completion_tokens = completion_tokens

    @classmethod
    def for_batch(cls, ctx: Context) -> Allowance | None:
        spend = spend_for(ctx)
        if spend.max_cost is None:
            return None
        s = ctx.settings
        spend.price = price_here(s, batch=True)  # the Batch API bills 60%
        return cls(ctx, spend, completion_budget(s.spec, s.request.max_tokens) or 0)

    def admit(self, line: bytes) -> bool:
        """Whether this JSONL line's request still fits; counted when it does."""
        price = self.spend.price
        assert price is not None and self.spend.max_cost is not None
        body = json.loads(line)["body"]
        tokens = self.ctx.client.estimate_tokens(body["model"], body["messages"])
        worst = (tokens * price.input + self.completion_tokens * price.output) / 1_000_000
        if self.spend.amount + worst > self.spend.max_cost:
            return False
        self.spend.amount += worst
        return True

    def refuse(self, first: Source, rest: Iterator[Source], out: Submitted, tally: Tally) -> None:
        """`first` and every input after it are not submitted: each is a failed record
        (code not_started), and one line says so (exit 75)."""
        price, max_cost = self.spend.price, self.spend.max_cost
        assert price is not None and max_cost is not None
        why = (
            f"not submitted: --max-cost {money(max_cost, price.currency)} would be exceeded "
            f"({money(self.spend.amount, price.currency)} at worst for the requests before)"
        )
        # The Batch API takes kimi-k2.x, whose field is max_tokens (moonshot.flag_and_field).
        hint = (
            f"raise --max-cost, or lower {flag_and_field('max_tokens')}: each request counts its whole limit"
        )
        names = [first.display, *(s.display for s in rest)]
        model = self.ctx.settings.request.model
        out.failed += [Result(n, model, error=NotStartedError(why, hint=hint, input=n)) for n in names]
        tally.fold(ExitCode.TEMPORARY)
        shown = ", ".join(quote_name(n) for n in names[:3]) + (", …" if len(names) > 3 else "")
        what = f"{len(names)} inputs ({shown})" if len(names) > 1 else shown
        self.ctx.diag.error(NotStartedError(f"{what}: {why}", hint=hint))
