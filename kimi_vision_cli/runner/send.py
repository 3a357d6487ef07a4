"""Sending one planned request: stream the answer into a Result (and the live sink),
retrying a stream cut before anything was shown, and turning a truncated or filtered
finish into its error."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kimi_vision_cli import events as ev
from kimi_vision_cli import schema as schemas
from kimi_vision_cli.api.client import StreamCutError
from kimi_vision_cli.errors import (
    APIError,
    ContentFilterError,
    ModelNotFoundError,
    TemporaryError,
    TruncatedError,
    quote_name,
)
from kimi_vision_cli.moonshot import flag_and_field, model_for, sum_usage
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.plan import Planned
from kimi_vision_cli.runner.context import Context


def send_checked(ctx: Context, planned: Planned, result: Result, sink: ev.Sink | None = None) -> None:
    """send(); with --schema, the answer parsed into result.data (check_answer): never
    streamed live then, since a second answer may replace the first."""
    if ctx.settings.request.schema is None:
        return send(ctx, planned, result, sink)
    check_answer(ctx, result, lambda: send(ctx, planned, result))


def check_answer(
    ctx: Context,
    result: Result,
    again: Callable[[], None],
    *,
    answered: bool = False,
    schema: str | None = None,
) -> None:
    """--schema: `again()` sends the request once more into `result`. The answer must be a
    JSON object of the schema; one that is not is asked for once more, then the input
    fails (SchemaMismatchError, exit 1). `answered`: result already holds the first
    answer (a Batch API output line). `schema`: the SCHEMA to check against, when not
    --schema (the one a batch was submitted with). The usage of every attempt is added up."""
    spec = schema if schema is not None else ctx.settings.request.schema
    assert spec is not None
    wanted = schemas.load(spec)
    result.structured = True
    usages: list[dict[str, Any] | None] = [result.usage] if answered else []

    def attempt() -> str:
        nonlocal answered
        if answered:
            answered = False
            return result.text
        try:
            again()
        finally:
            usages.append(result.usage)
        return result.text

    def retrying(err: schemas.SchemaMismatchError) -> None:
        ctx.diag.warn(
            f"{quote_name(result.input) if result.input else 'request'}: {err.message}; asking once more"
        )

    try:
        result.data = schemas.structured(wanted, attempt, retrying)
    finally:
        result.usage = sum_usage(usages)


def send(ctx: Context, planned: Planned, result: Result, sink: ev.Sink | None = None) -> None:
    """Stream `planned` into `result` (and `sink` when live). Raises the error the
    answer ended with, if any. A --schema sent as json_schema that the service refuses
    (a 400 naming response_format) goes once more as JSON Mode with the schema in the
    prompt, and so does every later request of the run (ctx.json_object)."""
    assert not planned.uploads, "upload what the plan says (flows/upload.py) before sending"
    if ctx.json_object:
        planned = planned.as_json_object()
    try:
        send_body(ctx, planned.wire_body, result, sink, prefix=planned.prefix)
    except ModelNotFoundError as err:
        raise gone(ctx, err) from None
    except APIError as err:
        if not planned.via_json_schema or "response_format" not in err.message:
            raise
        if not ctx.json_object:
            ctx.json_object = True
            ctx.diag.warn(
                f"{ctx.settings.request.model} refused json_schema; --schema goes as JSON Mode for this run"
            )
        send_body(ctx, planned.as_json_object().wire_body, result, sink, prefix=planned.prefix)


def send_body(
    ctx: Context,
    body: dict[str, Any],
    result: Result,
    sink: ev.Sink | None = None,
    *,
    prefix: str | None = None,
) -> None:
    """Stream one request body into `result`: what send() does for a plan, also for a
    body built elsewhere (a Batch API line asked again live)."""
    started = time.monotonic()
    attempt = 0
    retries = ctx.settings.connection.retries
    # A cut stream is retried here, not in client.stream_chat: only this loop knows
    # whether part of the answer already reached the user. Once it has, a retry would
    # print a second answer after half of the first, so the cut is reported instead.
    while True:
        result.text, result.reasoning = "", ""
        cut = _stream_into(ctx, result, body, sink, prefix or "")
        if cut is None:
            break
        err, printed = cut
        if printed:
            raise TruncatedError(
                f"the answer was cut after {len(result.text)} characters: {err.message}",
                hint="the text printed above is incomplete; rerun to get the whole answer",
            )
        if attempt >= retries:
            raise TemporaryError(
                f"{err.message}, {attempt + 1} time(s)",
                hint="the connection keeps dropping; rerun to finish (or raise --retries)",
            )
        attempt += 1
        ctx.diag.warn(
            f"{quote_name(result.input) if result.input else 'request'}: {err.message}, nothing shown yet; retrying ({attempt}/{retries})"
        )
    if ctx.settings.run.verbose:
        ctx.diag.note(
            f"{result.input or 'request'}: {len(result.text)} characters in {time.monotonic() - started:.2f}s, "
            f"finish_reason {result.finish_reason}, usage {json.dumps(result.usage)}"
        )
    _check_finish(result)


def _check_finish(result: Result) -> None:
    if result.finish_reason == "length":
        field = model_for(result.model).family.limit_param  # max_completion_tokens for kimi-k3
        raise TruncatedError(
            f"the answer was cut at the {field} limit",
            hint=f"raise {flag_and_field(field)} to get the whole answer",
        )
    if result.finish_reason == "content_filter":
        raise ContentFilterError(
            "the answer was stopped by Moonshot's content filter",
            hint="the input or prompt was judged high-risk",
        )


def _stream_into(
    ctx: Context, result: Result, body: dict[str, Any], sink: ev.Sink | None, prefix: str = ""
) -> tuple[StreamCutError, bool] | None:
    """Stream one attempt into `result`; None when it finished, else (the cut, whether
    answer text had already been shown live). The --prefix (Partial Mode) starts the
    answer once the answer starts: a request that fails before shows no prefix, on
    stdout or in the record's text (issue 11)."""
    printed = False

    def answer(text: str) -> None:
        nonlocal prefix, printed
        text, prefix = prefix + text, ""
        result.text += text
        if sink and text:
            sink.emit(ev.TextStreamed(result.input, text))
            printed = True

    try:
        for event in ctx.client.stream_chat(body):
            if event.kind == "reasoning":
                result.reasoning += event.text
                if sink:
                    sink.emit(ev.ReasoningStreamed(result.input, event.text))
            elif event.kind == "content":
                answer(event.text)
            else:
                answer("")  # an empty answer is still the prefix
                result.finish_reason = event.finish_reason
                result.usage = event.usage
    except StreamCutError as err:
        return err, printed
    return None


def gone(ctx: Context, err: ModelNotFoundError) -> ModelNotFoundError:
    """The API answered that the run's model does not exist: say so, naming the
    account's vision models (the default itself may have been retired)."""
    s = ctx.settings
    what = f"the default model {s.request.model}" if "model" in s.defaulted else f"model {s.request.model}"
    try:
        from kimi_vision_cli.api.catalog import vision_models

        items = [m for m in ctx.client.list_models() if m.get("id") != s.request.model]
        ids = ", ".join(m.id for m in vision_models(items)) or "none"
    except Exception:  # the hint is a courtesy; the error stands without it
        return err
    return ModelNotFoundError(
        f"{what} no longer exists on {s.connection.base_url} (or the key may not use it)",
        hint=f"pick one with -m: {ids}",
        input=err.input,
    )
