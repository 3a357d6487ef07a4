"""The flows: describe (one request per input), ask (one request for all inputs).

Each input goes source -> bytes -> sniff -> prepare -> transport -> request -> stream,
prepared just before it is sent. Output goes to a Renderer; nothing here prints.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from kimi_vision_cli import transport
from kimi_vision_cli.api.client import MoonshotClient, StreamCutError
from kimi_vision_cli.errors import (
    ContentFilterError,
    ExitCode,
    InputError,
    KimiVisionError,
    TemporaryError,
    TruncatedError,
)
from kimi_vision_cli.inputs.discover import Source, read_path
from kimi_vision_cli.media.image import ImageOptions, prepare_image
from kimi_vision_cli.media.sniff import sniff
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.progress import frame_bar
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.render import Renderer
from kimi_vision_cli.request import (
    MediaRef,
    build_body,
    build_messages,
    check_settings,
    default_prompt,
)
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.terminal import Terminal


@dataclass
class Prepared:
    input: str
    ref: MediaRef
    record: dict[str, Any]


class Context:
    """What every flow needs: settings, terminal, diagnostics, and a lazily made client."""

    def __init__(self, settings: Settings, term: Terminal, diag: Diagnostics):
        self.settings = settings
        self.term = term
        self.diag = diag
        self._client: MoonshotClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MoonshotClient:
        with self._lock:
            if self._client is None:
                log = self.diag.note if self.settings.verbose else None
                self._client = MoonshotClient(self.settings, log=log)
            return self._client


# -- one input: bytes -> prepared media ----------------------------------------------


def load_bytes(source: Source, ctx: Context) -> bytes:
    if source.error:
        raise source.error
    if source.kind == "stdin":
        data = ctx.term.stdin_bytes()
        if not data:
            from kimi_vision_cli.errors import InputError

            raise InputError("standard input is empty", input="-", hint="pipe image or video bytes")
        return data
    if source.kind == "url":
        from kimi_vision_cli.inputs.fetch import fetch_url, max_download

        return fetch_url(
            source.value,
            timeout=min(ctx.settings.timeout, 60.0),
            total=ctx.settings.timeout,
            max_bytes=max_download(ctx.term.env),
        )
    return read_path(source.value)


def prepare_source(source: Source, ctx: Context) -> Prepared:
    """Read, sniff and prepare one input. Errors come out naming the input."""
    name = source.display
    try:
        if source.kind == "file_id":
            return _prepared_file_id(source, ctx)
        data = load_bytes(source, ctx)
        info = sniff(data, convert=ctx.settings.convert, name=name)
        s = ctx.settings
        if info.kind == "image":
            img = prepare_image(
                data,
                info.mime,
                ImageOptions(s.max_size, s.resize, s.convert, s.keep_metadata),
                name=name,
            )
            record = {
                "mime": img.mime, "width": img.width, "height": img.height,
                "original_width": img.original_width, "original_height": img.original_height,
                "bytes": len(img.data), "original_bytes": img.original_bytes,
                "original_mime": img.original_mime, "resized": img.resized,
                "rotated": img.rotated, "converted": img.converted, "stripped": img.stripped,
            }  # fmt: skip
            return Prepared(name, MediaRef("image", img.mime, data=img.data), record)
        video_data, record = _prepare_video(data, info.mime, ctx, name)
        return Prepared(name, MediaRef("video", str(record["mime"]), data=video_data), record)
    except KimiVisionError as err:
        raise err.with_input(name) from None


def _prepare_video(data: bytes, mime: str, ctx: Context, name: str) -> tuple[bytes, dict[str, Any]]:
    from kimi_vision_cli.media.video import prepare_video

    s = ctx.settings
    return prepare_video(
        data,
        mime,
        resize=s.resize,
        downscale_wanted=s.downscale_video,
        warn=ctx.diag.warn,
        keep_metadata=s.keep_metadata,
        # The bar only on a terminal stderr (SPEC: progress goes to stderr).
        bar=partial(frame_bar, ctx.diag) if ctx.term.stderr_isatty else None,
        name=name,
    )


def _prepared_file_id(source: Source, ctx: Context) -> Prepared:
    """An already uploaded file: its purpose (GET /v1/files/{id}) says image_url or video_url."""
    file_id = source.value
    record: dict[str, Any] = {"mime": None, "transport": "upload", "file_id": file_id}
    if ctx.settings.dry_run:
        # --dry-run makes no network call, so the purpose is not checked: shown as an image part.
        ctx.diag.note(f"{source.display}: --dry-run does not look the file up; shown as image_url")
        return Prepared(source.display, MediaRef("image", "", file_id=file_id), record)
    meta = ctx.client.retrieve_file(file_id)
    purpose = str(meta.get("purpose") or "")
    if purpose not in ("image", "video"):
        raise InputError(
            f"file has purpose {purpose or 'unknown'!r}, not image or video",
            input=source.display,
            hint="upload media with `kimi-vision upload`, which sets the purpose",
        )
    record["bytes"] = meta.get("bytes")
    return Prepared(source.display, MediaRef(purpose, "", file_id=file_id), record)


def place_media(items: list[Prepared], ctx: Context, fixed: int = 0) -> None:
    """Decide inline vs upload for the media of one request, and upload what must go."""
    sizes = [p.ref.inline_size if p.ref.data is not None else 0 for p in items]
    chosen = transport.plan(sizes, mode=ctx.settings.upload, fixed=fixed)
    # Every size check before the first upload: a refused file must not leave others behind.
    for i, p in enumerate(items):
        if i in chosen and p.ref.data is not None:
            transport.check_file_size(len(p.ref.data), p.input)
    for i, p in enumerate(items):
        if p.ref.file_id is not None:
            p.record.setdefault("transport", "upload")
            p.record.setdefault("file_id", p.ref.file_id)
            continue
        if i in chosen and not ctx.settings.dry_run:
            assert p.ref.data is not None
            file_id = upload_media(p, ctx)
            p.ref = MediaRef(p.ref.kind, p.ref.mime, file_id=file_id)
            p.record.update(transport="upload", file_id=file_id)
        else:
            p.record.update(transport="upload" if i in chosen else "inline", file_id=None)


def upload_media(p: Prepared, ctx: Context) -> str:
    """Upload one prepared medium, reusing an earlier upload of the same bytes (uploads.py)."""
    from kimi_vision_cli.api.uploads import UploadCache, upload_bytes

    assert p.ref.data is not None
    cache = UploadCache.for_env(ctx.term.env)
    try:
        up = upload_bytes(
            ctx.client, cache, p.ref.data, p.ref.kind, p.ref.mime,
            base_url=ctx.settings.base_url, name=p.input, reuse=not ctx.settings.no_cache,
        )  # fmt: skip
    except KimiVisionError as err:
        raise err.with_input(p.input) from None
    p.record["cached"] = up.cached
    return up.file_id


# -- one request ------------------------------------------------------------------


def run_request(
    ctx: Context,
    result: Result,
    media: list[Prepared],
    prompt: str,
    *,
    renderer: Renderer | None = None,
    history: list[dict[str, Any]] | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """Build the body, stream it into `result` (and `renderer` when live). Returns the body."""
    messages = build_messages(ctx.settings, [p.ref for p in media], prompt, history=history, prefix=prefix)
    body = build_body(ctx.settings, messages)
    if ctx.settings.dry_run:
        return body
    if prefix and renderer:
        renderer.content(prefix)
    started = time.monotonic()
    attempt = 0
    # A cut stream is retried here, not in client.stream_chat: only this loop knows
    # whether part of the answer already reached the user. Once it has, a retry would
    # print a second answer after half of the first, so the cut is reported instead.
    while True:
        result.text, result.reasoning = prefix or "", ""
        shown = _stream_into(ctx, result, body, renderer)
        if shown is None:
            break
        err, printed = shown
        if printed:
            raise TruncatedError(
                f"the answer was cut after {len(result.text)} characters: {err.message}",
                hint="the text printed above is incomplete; rerun to get the whole answer",
            )
        if attempt >= ctx.settings.retries:
            raise TemporaryError(
                f"{err.message}, {attempt + 1} time(s)",
                hint="the connection keeps dropping; rerun to finish (or raise --retries)",
            )
        attempt += 1
        ctx.diag.warn(
            f"{result.input or 'request'}: {err.message}, nothing shown yet; "
            f"retrying ({attempt}/{ctx.settings.retries})"
        )
    if ctx.settings.verbose:
        ctx.diag.note(
            f"{result.input or 'request'}: {len(result.text)} characters in {time.monotonic() - started:.2f}s, "
            f"finish_reason {result.finish_reason}, usage {json.dumps(result.usage)}"
        )
    if result.finish_reason == "length":
        raise TruncatedError(
            "the answer was cut at the max_tokens limit",
            hint="raise --max-tokens to get the whole answer",
        )
    if result.finish_reason == "content_filter":
        raise ContentFilterError(
            "the answer was stopped by Moonshot's content filter",
            hint="the input or prompt was judged high-risk",
        )
    return body


def _stream_into(
    ctx: Context, result: Result, body: dict[str, Any], renderer: Renderer | None
) -> tuple[StreamCutError, bool] | None:
    """Stream one attempt into `result`; None when it finished, else (the cut, whether
    answer text had already been shown live)."""
    printed = False
    try:
        for event in ctx.client.stream_chat(body):
            if event.kind == "reasoning":
                result.reasoning += event.text
                if renderer:
                    renderer.reasoning(event.text)
            elif event.kind == "content":
                result.text += event.text
                if renderer:
                    renderer.content(event.text)
                    printed = True
            else:
                result.finish_reason = event.finish_reason
                result.usage = event.usage
    except StreamCutError as err:
        return err, printed
    return None


# -- describe ---------------------------------------------------------------------


@dataclass
class Summary:
    exit_code: ExitCode = ExitCode.OK
    done: int = 0
    failed: int = 0
    skipped: int = 0


def describe_one(
    source: Source, ctx: Context, renderer: Renderer | None
) -> tuple[Result, dict[str, Any] | None]:
    result = Result(input=source.display, model=ctx.settings.model)
    body = None
    try:
        prepared = prepare_source(source, ctx)
        result.media = [prepared.record]
        check_settings(ctx.settings, [prepared.ref.kind])
        prompt = ctx.settings.prompt or default_prompt([prepared.ref.kind])
        place_media([prepared], ctx, fixed=len(prompt.encode()) + len(ctx.settings.system or ""))
        if renderer:
            renderer.begin(result.input)
        body = run_request(ctx, result, [prepared], prompt, renderer=renderer)
    except KimiVisionError as err:
        result.error = err.with_input(result.input)
    return result, body


def _print_dry_run(ctx: Context, body: dict[str, Any]) -> None:
    from kimi_vision_cli.request import shorten_for_display

    shown = shorten_for_display(body)
    text = json.dumps(shown, ensure_ascii=False, indent=None if ctx.settings.format == "jsonl" else 2)
    ctx.term.stdout.write(text + "\n")
    ctx.term.stdout.flush()


# -- ask --------------------------------------------------------------------------


def ask(
    question: str,
    sources: Iterable[Source],
    ctx: Context,
    renderer: Renderer,
    *,
    prefix: str | None = None,
    followups: Callable[[], str | None] | None = None,
) -> Summary:
    """One request holding every input. Any bad input fails the whole request (exit 2)."""
    summary = Summary()
    result = Result(input="", model=ctx.settings.model)
    try:
        prepared = []
        for source in sources:
            prepared.append(prepare_source(source, ctx))
        result.input = ", ".join(p.input for p in prepared)
        result.media = [p.record for p in prepared]
        check_settings(ctx.settings, [p.ref.kind for p in prepared])
        if not ctx.settings.dry_run:
            ctx.client  # noqa: B018 - missing key: exit 3 before any upload
        place_media(prepared, ctx, fixed=len(question.encode()))
        streaming = ctx.settings.format == "text"
        renderer.begin(result.input)
        body = run_request(
            ctx, result, prepared, question, renderer=renderer if streaming else None, prefix=prefix
        )
        if ctx.settings.dry_run:
            _print_dry_run(ctx, body)
            return summary
        (renderer.end if streaming else renderer.result)(result)
    except KimiVisionError as err:
        result.error = err
        if ctx.settings.format != "text":
            renderer.result(result)
        else:
            renderer.end(result)
        ctx.diag.error(err)
        summary.exit_code = err.exit_code
        summary.failed = 1
        return summary
    summary.done = 1
    if followups is not None:
        from kimi_vision_cli.request import user_message

        # The first turn exactly as sent: uploaded media stay ms:// references (never
        # re-uploaded), inline media are re-sent since the API keeps no conversation state.
        history = [
            user_message([p.ref for p in prepared], question),
            {"role": "assistant", "content": result.text},
        ]
        _converse(ctx, renderer, result.input, history, followups, summary)
    return summary


def _converse(
    ctx: Context,
    renderer: Renderer,
    label: str,
    history: list[dict[str, Any]],
    followups: Callable[[], str | None],
    summary: Summary,
) -> None:
    """`ask -i`: each follow-up question is one more request carrying the whole history.
    A failed turn is reported and left out of the history; auth/quota errors end the talk."""
    from kimi_vision_cli.errors import stops_run, worst

    streaming = ctx.settings.format == "text"
    while (question := followups()) is not None:
        result = Result(input=label, model=ctx.settings.model)
        try:
            renderer.begin(label)
            run_request(ctx, result, [], question, renderer=renderer if streaming else None, history=history)
        except KimiVisionError as err:
            result.error = err
            ctx.diag.error(err)
            summary.exit_code = worst(summary.exit_code, err.exit_code)
            summary.failed += 1
        (renderer.end if streaming else renderer.result)(result)
        if result.error is not None:
            if stops_run(result.error):
                return
            continue
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": result.text}]
        summary.done += 1
