"""The only module that imports openai. It streams chat completions, uploads and
lists files, estimates tokens and lists models, and turns every openai/httpx
exception into one of ours (STYLE rules 5 and 6) in `_translate`.

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

from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    BatchMissingError,
    ContentFilterError,
    FileMissingError,
    InputError,
    KimiVisionError,
    QuotaError,
    TemporaryError,
    TruncatedError,
)
from kimi_vision_cli.settings import Settings

_AFTER_SECONDS = re.compile(r"after\s+(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_REGION_HINT = (
    "check MOONSHOT_API_KEY; keys from platform.moonshot.ai work only with api.moonshot.ai "
    "and keys from platform.moonshot.cn only with api.moonshot.cn (try --region cn or --region global)"
)


class StreamCutError(TruncatedError):
    """The stream stopped before `[DONE]` (EOF or a transport error mid-stream). The SDK
    cannot retry it (its response had started); pipeline.run_request decides, because
    only it knows whether part of the answer is already on the user's screen."""


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


def _moonshot_error(body: Any) -> tuple[str, str]:
    """(type, message) of a Moonshot error body `{"error": {"type", "message"}}`."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("type") or err.get("code") or ""), str(err.get("message") or "")
        if isinstance(err, str):
            return "", err
    return "", ""


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
            kind, message = _moonshot_error(json.loads(response.content))
        except ValueError:
            return
        if kind == "exceeded_current_quota_error":
            # Waiting does not refill a balance: tell the SDK not to retry.
            response.headers["x-should-retry"] = "false"
            return
        match = _AFTER_SECONDS.search(message)
        wait = float(match.group(1)) if match else None
        if wait is not None and "retry-after" not in response.headers:
            response.headers["retry-after"] = str(wait)
        self.observer(wait)

    # -- error translation, the one place ---------------------------------------
    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _translate(self, exc: Exception) -> KimiVisionError:
        import openai

        if isinstance(exc, KimiVisionError):
            return exc
        if isinstance(exc, openai.APITimeoutError):
            return TemporaryError(
                f"timed out after {self._settings.timeout:g}s waiting for {self._settings.base_url}",
                hint="rerun, or raise --timeout",
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return TemporaryError(
                f"cannot reach {self._settings.base_url}: {self.redact(str(cause)) or 'connection failed'}",
                hint="check the network or --base-url, then rerun",
            )
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc.status_code, exc.response)
        return APIError(self.redact(f"unexpected error from the API: {exc}"))

    def _status_error(self, status: int, response: Any) -> KimiVisionError:
        try:
            body = response.json()
        except Exception:
            body = None
        kind, message = _moonshot_error(body)
        message = self.redact(message)
        if not message:
            message = f"HTTP {status}"
            ctype = response.headers.get("content-type", "")
            if "html" in ctype or body is None:
                message = f"HTTP {status} (the server answered with a non-JSON page)"
        label = f"{message} ({kind})" if kind else message
        if status == 401:
            return AuthError(f"authentication failed: {label}", hint=_REGION_HINT)
        if status == 403:
            return AuthError(f"permission denied: {label}", hint="check the key's permissions")
        if status == 413:
            return InputError(
                "request body too large for the API (over 100 MB)",
                hint="use --upload auto (the default) or --upload always, or lower --max-size",
            )
        if status == 429:
            if kind == "exceeded_current_quota_error":
                return QuotaError(
                    f"quota or balance exhausted: {label}",
                    hint="top up the account at platform.moonshot.ai; retrying will not help",
                )
            return TemporaryError(
                f"rate limited after {self._settings.retries} retries: {label}",
                hint="rerun later or lower -j/--concurrency",
            )
        if status == 400 and (kind == "content_filter" or "content_filter" in message):
            return ContentFilterError(
                f"refused by Moonshot's content filter: {label}",
                hint="the input or prompt was judged high-risk",
            )
        if status == 404 or "not found the model" in message.lower():
            return APIError(
                f"model {self._settings.model!r} not found or not allowed: {label}",
                hint="run `kimi-vision models` to list the models your key can use",
            )
        if status >= 500:
            return TemporaryError(
                f"server error after {self._settings.retries} retries: {label}",
                hint="Moonshot is having trouble; rerun later",
            )
        return APIError(f"request refused: {label}")

    # -- chat --------------------------------------------------------------------
    def stream_chat(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        """Yield reasoning/content deltas, then one finish event. A stream that ends
        without `data: [DONE]` raises TruncatedError (SPEC: it is not a success)."""
        known = {"model", "messages", "max_tokens", "temperature", "response_format", "stream"}
        kwargs = {k: v for k, v in body.items() if k in known}
        extra = {k: v for k, v in body.items() if k not in known}
        kwargs["stream"] = True
        try:
            with self._sdk.chat.completions.with_streaming_response.create(
                **kwargs, extra_body=extra or None
            ) as response:
                yield from self._parse_sse(self._lines(response))
        except KimiVisionError:
            raise
        except Exception as exc:  # openai/httpx errors only reach here; see _translate
            if _is_ours(exc):
                raise self._translate(exc) from None
            raise

    def _lines(self, response: Any) -> Iterator[str]:
        """The body's lines; a transport error once the answer has started is a cut stream."""
        try:
            yield from response.iter_lines()
        except Exception as exc:
            if not _is_ours(exc):
                raise
            kind = "stalled" if "timeout" in type(exc).__name__.lower() else "was cut"
            raise StreamCutError(
                self.redact(f"the answer stream {kind} before [DONE] ({type(exc).__name__})"),
                hint="rerun to get the whole answer",
            ) from None

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
                kind, message = _moonshot_error(chunk)
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
            obj = self._sdk.files.create(file=(filename, data), purpose=purpose)  # type: ignore[arg-type]
        except Exception as exc:
            if _is_ours(exc):
                raise self._upload_error(self._translate(exc)) from None
            raise
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
        (which is what _status_error reads a chat 404 as)."""
        import openai

        try:
            return call()
        except openai.NotFoundError:
            raise missing() from None
        except Exception as exc:
            if _is_ours(exc):
                raise self._translate(exc) from None
            raise

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
        try:
            raw = self._sdk.post(path, body=body, cast_to=object)
        except Exception as exc:
            if _is_ours(exc):
                raise self._translate(exc) from None
            raise
        return raw

    def _get_json(self, path: str) -> Any:
        try:
            return self._sdk.get(path, cast_to=object)
        except Exception as exc:
            if _is_ours(exc):
                raise self._translate(exc) from None
            raise

    def list_models(self) -> list[dict[str, Any]]:
        body = self._get_json("/models")
        data = body.get("data", []) if isinstance(body, dict) else []
        return [m for m in data if isinstance(m, dict)]

    # -- Batch API (OpenAI-compatible: /v1/batches) ---------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call, turning its exceptions into ours."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _is_ours(exc):
                raise self._translate(exc) from None
            raise

    def batch_create(self, input_file_id: str, completion_window: str) -> dict[str, Any]:
        obj = self._call(
            self._sdk.batches.create,
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
        return bytes(self._call(self._sdk.files.content, file_id).content)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dict(dump()) if dump else dict(vars(obj))


def _is_ours(exc: Exception) -> bool:
    """Errors from the SDK or its HTTP layer (openai.*, httpx*): translated, not tracebacks."""
    import openai

    if isinstance(exc, openai.OpenAIError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("httpx", "httpcore", "openai", "h11"))
