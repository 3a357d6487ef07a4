"""The only module that imports openai (with api/errors.py). It streams chat
completions, uploads and lists files, estimates tokens, lists models and drives the
Batch API; every SDK call runs under the one Translator (api/errors.py), which turns
openai/httpx exceptions into ours (STYLE rules 5 and 6).

Retries are the SDK's (exponential backoff, Retry-After). What Moonshot needs on
top is done in a response hook: "please try again after N seconds" becomes a
Retry-After header, and a quota 429 is marked not-retryable.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kimi_vision_cli.api.errors import QUOTA, StreamCutError, Translator, moonshot_error
from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    BatchMissingError,
    ContentFilterError,
    FileMissingError,
    InputError,
    KimiVisionError,
)
from kimi_vision_cli.settings import Settings

__all__ = ["MoonshotClient", "RateLimitObserver", "StreamCutError", "StreamEvent"]

_AFTER_SECONDS = re.compile(r"after\s+(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)


@dataclass
class StreamEvent:
    kind: str  # "reasoning" | "content" | "finish"
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


@dataclass
class RateLimitObserver:
    """Told of every rate-limit 429 the SDK sees (even those it then retries)."""

    callbacks: list[Callable[[float | None], None]] = field(default_factory=list)

    def __call__(self, wait: float | None) -> None:
        for cb in self.callbacks:
            cb(wait)


class MoonshotClient:
    def __init__(
        self,
        settings: Settings,
        observer: RateLimitObserver | None = None,
        log: Callable[[str], None] | None = None,
    ):
        if not settings.api_key:
            raise AuthError(
                "no API key",
                hint="set MOONSHOT_API_KEY (or pass --api-key); get one at platform.moonshot.ai",
            )
        import openai

        self._settings = settings
        self._key = settings.api_key
        self.observer = observer or RateLimitObserver()
        self._log = log
        self._errors = Translator(settings, self.redact)
        hooks: dict[str, list[Callable[[Any], None]]] = {"response": [self._on_response]}
        if log is not None:  # --verbose: one line per HTTP attempt, never a header's value but ids
            hooks = {"request": [self._log_request], "response": [self._log_response, self._on_response]}
        http = openai.DefaultHttpxClient(event_hooks=hooks)
        self._sdk = openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            max_retries=settings.retries,
            timeout=settings.timeout,
            http_client=http,
        )

    # -- --verbose ------------------------------------------------------------------
    def _log_request(self, request: Any) -> None:
        request.extensions["kimi_vision_start"] = time.monotonic()
        attempt = request.headers.get("x-stainless-retry-count", "0")
        retry = f" (retry {attempt})" if attempt not in ("", "0") else ""
        assert self._log is not None
        self._log(f"{request.method} {request.url.path}{retry}")

    def _log_response(self, response: Any) -> None:
        request = response.request
        started = request.extensions.get("kimi_vision_start")
        took = f" in {time.monotonic() - started:.2f}s" if started else ""
        rid = response.headers.get("x-request-id") or response.headers.get("msh-request-id")
        ident = f", request id {rid}" if rid else ""
        assert self._log is not None
        self._log(self.redact(f"{request.method} {request.url.path} -> HTTP {response.status_code}{took}{ident}"))

    # -- Moonshot specifics on top of the SDK's retry loop ------------------------
    def _on_response(self, response: Any) -> None:
        if response.status_code != 429:
            return
        response.read()
        try:
            kind, message = moonshot_error(json.loads(response.content))
        except ValueError:
            return
        if kind == QUOTA:
            # Waiting does not refill a balance: tell the SDK not to retry.
            response.headers["x-should-retry"] = "false"
            return
        match = _AFTER_SECONDS.search(message)
        wait = float(match.group(1)) if match else None
        if wait is not None and "retry-after" not in response.headers:
            response.headers["retry-after"] = str(wait)
        self.observer(wait)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    # -- chat --------------------------------------------------------------------
    def stream_chat(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        """Yield reasoning/content deltas, then one finish event. A stream that ends
        without `data: [DONE]` raises TruncatedError (SPEC: it is not a success)."""
        known = {"model", "messages", "max_tokens", "temperature", "response_format", "stream"}
        kwargs = {k: v for k, v in body.items() if k in known}
        extra = {k: v for k, v in body.items() if k not in known}
        kwargs["stream"] = True
        with (
            self._errors(),
            self._sdk.chat.completions.with_streaming_response.create(**kwargs, extra_body=extra or None) as response,
            self._errors(streaming=True),  # once the answer has started, a transport error is a cut stream
        ):
            yield from self._parse_sse(response.iter_lines())

    def _parse_sse(self, lines: Iterator[str]) -> Iterator[StreamEvent]:
        finish: str | None = None
        usage: dict[str, Any] | None = None
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                yield StreamEvent("finish", finish_reason=finish, usage=usage)
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise APIError(
                    "the API sent a malformed stream chunk (not JSON)",
                    hint="rerun; if it persists, report it to Moonshot",
                ) from None
            if isinstance(chunk, dict) and "error" in chunk:
                kind, message = moonshot_error(chunk)
                if kind == "content_filter":
                    raise ContentFilterError(
                        self.redact(f"refused by Moonshot's content filter: {message}"),
                        hint="the input or prompt was judged high-risk",
                    )
                raise APIError(self.redact(f"error in stream: {message} ({kind})"))
            for choice in (chunk.get("choices") or []) if isinstance(chunk, dict) else []:
                delta = choice.get("delta") or {}
                if delta.get("reasoning_content"):
                    yield StreamEvent("reasoning", str(delta["reasoning_content"]))
                if delta.get("content"):
                    yield StreamEvent("content", str(delta["content"]))
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                # Moonshot puts usage in choices[0].usage of the last chunk.
                if choice.get("usage"):
                    usage = choice["usage"]
            if isinstance(chunk, dict) and chunk.get("usage"):
                usage = chunk["usage"]
        raise StreamCutError(
            "the answer stream ended before [DONE]",
            hint="the connection was cut; rerun to get the whole answer",
        )

    # -- files, tokens, models -------------------------------------------------------
    def upload(self, data: bytes, filename: str, purpose: str) -> str:
        try:
            with self._errors():
                obj = self._sdk.files.create(file=(filename, data), purpose=purpose)  # type: ignore[arg-type]
        except KimiVisionError as err:
            raise self._upload_error(err) from None
        return str(obj.id)

    def _upload_error(self, err: KimiVisionError) -> KimiVisionError:
        """Name the way out of Moonshot's account limits (1,000 files, 10 GB)."""
        text = err.message.lower()
        if "1000" in text or "1,000" in text or "too many files" in text or "10gb" in text:
            err.hint = "free room with `kimi-vision files prune` (or `kimi-vision files delete ID...`)"
        elif "100mb" in text or "file size" in text:
            return InputError(
                "over Moonshot's 100 MB file limit", hint="shorten or downscale it (see --downscale-video)"
            )
        return err

    def _id_call(self, call: Callable[[], Any], missing: Callable[[], KimiVisionError]) -> Any:
        """A call on one file or batch id: a 404 means that id is unknown, not the model
        (which is what a chat 404 is read as)."""
        with self._errors(missing=missing):
            return call()

    def _file_call(self, file_id: str, call: Callable[[], Any]) -> Any:
        return self._id_call(
            call,
            lambda: FileMissingError(
                f"file {file_id} not found on the server",
                input=f"ms://{file_id}",
                hint="it was deleted or belongs to another account; run `kimi-vision files list`",
            ),
        )

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        obj = self._file_call(file_id, lambda: self._sdk.files.retrieve(file_id))
        return _as_dict(obj)

    def delete_file(self, file_id: str) -> None:
        self._file_call(file_id, lambda: self._sdk.files.delete(file_id))

    def list_files(self) -> list[dict[str, Any]]:
        body = self._get_json("/files")
        data = body.get("data", []) if isinstance(body, dict) else []
        return [f for f in data if isinstance(f, dict)]

    def estimate_tokens(self, model: str, messages: list[dict[str, Any]]) -> int:
        body = self._post_json("/tokenizers/estimate-token-count", {"model": model, "messages": messages})
        try:
            return int(body["data"]["total_tokens"])
        except (KeyError, TypeError, ValueError):
            raise APIError("unexpected answer from the token estimate endpoint") from None

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        with self._errors():
            return self._sdk.post(path, body=body, cast_to=object)

    def _get_json(self, path: str) -> Any:
        with self._errors():
            return self._sdk.get(path, cast_to=object)

    def list_models(self) -> list[dict[str, Any]]:
        body = self._get_json("/models")
        data = body.get("data", []) if isinstance(body, dict) else []
        return [m for m in data if isinstance(m, dict)]

    # -- Batch API (OpenAI-compatible: /v1/batches) ---------------------------------
    def batch_create(self, input_file_id: str, completion_window: str) -> dict[str, Any]:
        with self._errors():
            obj = self._sdk.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window=completion_window,  # type: ignore[arg-type]  # Moonshot takes 12h..7d
            )
        return dict(obj.model_dump())

    def _batch_call(self, batch_id: str, fn: Callable[[str], Any]) -> dict[str, Any]:
        obj = self._id_call(
            lambda: fn(batch_id),
            lambda: BatchMissingError(
                f"batch {batch_id} not found",
                input=batch_id,
                hint="check the id `batch submit` printed; a batch belongs to the key that made it",
            ),
        )
        return dict(obj.model_dump())

    def batch_retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._batch_call(batch_id, self._sdk.batches.retrieve)

    def batch_cancel(self, batch_id: str) -> dict[str, Any]:
        return self._batch_call(batch_id, self._sdk.batches.cancel)

    def file_content(self, file_id: str) -> bytes:
        with self._errors():
            return bytes(self._sdk.files.content(file_id).content)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dict(dump()) if dump else dict(vars(obj))
