"""The estimate flow: build the very messages describe/ask would send (same preparation,
same transport decision, same builder) and ask Moonshot's tokenizer how many input
tokens they are, without sending a chat request or uploading anything.

Media that `--upload auto/always` would upload are counted INLINE: an image costs the
same tokens whether it arrives as base64 or as ms://, and uploading just to count would
leave files on the account (1,000-file cap). Their `transport` is still recorded as
`upload`, so the report says what describe/ask would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.flows.pipeline import Context, Prepared, place_media, prepare_source
from kimi_vision_cli.inputs.discover import Source
from kimi_vision_cli.moonshot import K2_DEFAULT_MAX_TOKENS, is_k2, price_for
from kimi_vision_cli.output.records import Cost, Estimate
from kimi_vision_cli.request import build_messages, check_settings, default_prompt

ESTIMATE_PATH = "/tokenizers/estimate-token-count"


def _count(ctx: Context, prepared: list[Prepared], prompt: str, est: Estimate) -> None:
    """Place media as describe/ask would (never uploading), then count the tokens."""
    originals = [p.ref for p in prepared]
    dry = Context(ctx.settings.with_(dry_run=True), ctx.term, ctx.diag)
    place_media(prepared, dry, fixed=len(prompt.encode()) + len(ctx.settings.system or ""))
    for p, ref in zip(prepared, originals, strict=True):
        if p.ref.data is None and ref.data is not None:
            p.ref = ref  # whatever a dry placement put in its place, count the real pixels
    messages = build_messages(ctx.settings, [p.ref for p in prepared], prompt)
    est.media = [p.record for p in prepared]
    if ctx.settings.dry_run:
        # Kept only here: a body holds the base64 of every image, too much to keep per input.
        est.body = {"model": ctx.settings.model, "messages": messages}
        return
    est.tokens = ctx.client.estimate_tokens(ctx.settings.model, messages)


def estimate_each(sources: Iterable[Source], ctx: Context) -> Iterator[Estimate]:
    """One estimate per input, like `describe`; a bad input is an Estimate with an error."""
    for source in sources:
        est = Estimate(input=source.display)
        try:
            prepared = prepare_source(source, ctx)
            est.media = [prepared.record]
            check_settings(ctx.settings, [prepared.ref.kind])
            prompt = ctx.settings.prompt or default_prompt([prepared.ref.kind])
            _count(ctx, [prepared], prompt, est)
        except KimiVisionError as err:
            est.error = err.with_input(est.input)
        yield est


def estimate_ask(question: str, sources: Iterable[Source], ctx: Context) -> Estimate:
    """One estimate for one request holding every input, like `ask`."""
    est = Estimate(input="")
    try:
        prepared = [prepare_source(s, ctx) for s in sources]
        est.input = ", ".join(p.input for p in prepared)
        check_settings(ctx.settings, [p.ref.kind for p in prepared])
        _count(ctx, prepared, question, est)
    except KimiVisionError as err:
        est.error = err
    return est


def cost_of(total_tokens: int, ctx: Context) -> Cost:
    price = price_for(ctx.settings.model, ctx.settings.prices, ctx.settings.base_url)
    if price is None:
        return Cost(None, None, None)
    return Cost(price.currency, round(price.cost(total_tokens), 6), price)


def completion_budget(ctx: Context) -> int | None:
    """What rate limits (TPM) count on top of the input: max_tokens, sent or defaulted."""
    if ctx.settings.max_tokens is not None:
        return ctx.settings.max_tokens
    return K2_DEFAULT_MAX_TOKENS if is_k2(ctx.settings.model) else None
