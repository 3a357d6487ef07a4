"""The only module that imports openai (with api/errors.py). It streams chat
completions (api/transport.py: one POST, without importing the SDK), uploads and lists
files, estimates tokens, lists models and drives the Batch API; every call runs under the
one Translator (api/errors.py), which turns openai/httpx exceptions into ours (STYLE
rules 5 and 6).

Retries are the SDK's (exponential backoff, Retry-After), and the chat transport keeps
the same rules. What Moonshot needs on top is done in a response hook: a rate-limit 429
is read (which limit, what value, "try again after N seconds") and taught to the Gate
(api/ratelimit.py), which holds every chat request attempt, retries included, until the
account's limits allow it; a quota 429 and a tokens-per-day 429 are marked not-retryable
(waiting does not help).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kimi_vision_cli.api.errors import (
    QUOTA,
    RateLimit,
    StreamCutError,
    Translator,
    moonshot_error,
    over_tpm,
    parse_rate_limit,
)
from kimi_vision_cli.api.ratelimit import Gate
from kimi_vision_cli.api.transport import RETRY_EXTENSION, ChatTransport
from kimi_vision_cli.buffers import MediaBytes, ViewReader
from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    BatchMissingError,
    ContentFilterError,
    FileMissingError,
    InputError,
    KimiVisionError,
)
from kimi_vision_cli.moonshot import ESTIMATE_PATH, completion_budget, usage_tokens
from kimi_vision_cli.settings import Settings

__all__ = ["MoonshotClient", "RateLimit", "RateLimitObserver", "StreamCutError", "StreamEvent"]


@dataclass
class StreamEvent:
    kind: str  # "reasoning" | "content" | "finish"
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


@dataclass
class RateLimitObserver:
    """Told of every rate-limit 429 the SDK sees (even those it then retries)."""

    callbacks: list[Callable[[RateLimit], None]] = field(default_factory=list)

    def __call__(self, limit: RateLimit) -> None:
        for cb in self.callbacks:
            cb(limit)


class MoonshotClient:
    def __init__(
        self,
        settings: Settings,
        observer: RateLimitObserver | None = None,
        log: Callable[[str], None] | None = None,
        notice: Callable[[str], None] | None = None,
    ):
        if not settings.api_key:
            raise AuthError(
                "no API key",
                hint="set MOONSHOT_API_KEY (or pass --api-key); get one at platform.moonshot.ai",
            )
        self._settings = settings
        self._key = settings.api_key
        self.observer = observer or RateLimitObserver()
        self._log = log
        # Without -v: each limit learned, said once (issue 19.22); _noticed: a 429 naming none.
        self._notice = notice
        self._noticed = threading.Lock()
        self._errors = Translator(settings, self.redact)
        self.gate = Gate(budget=completion_budget(settings.spec, settings.max_tokens))
        hooks: dict[str, list[Callable[[Any], None]]] = {"response": [self._on_response]}
        if log is not None:  # --verbose: one line per HTTP attempt, never a header's value but ids
            hooks = {"request": [self._log_request], "response": [self._log_response, self._on_response]}
        on_failure = self._log_failure if log is not None else None
        ssl_context = default_ssl_context()  # loading the CA certificates once, for every pool
        self._http = gated_http_client(self.gate, hooks, on_failure, ssl_context)
        # One connection pool for every POOL_SHARE requests in flight (transport.py _client).
        more = [
            gated_http_client(self.gate, hooks, on_failure, ssl_context)
            for _ in range(1, pools_for(settings.concurrency))
        ]
        self._chat = ChatTransport(
            self._http,
            more=more,
            base_url=settings.base_url,
            api_key=settings.api_key,
            retries=settings.retries,
            timeout=settings.timeout,
            status_error=self._errors.status_error,
        )
        self._sdk_made: Any = None
        self._sdk_lock = threading.Lock()

    @property
    def _sdk(self) -> Any:
        """The openai client, made (and openai imported, ~0.5 s) on the first call that is
        not a chat completion: files, batches, models, token estimates."""
        with self._sdk_lock:
            if self._sdk_made is None:
                import openai

                self._sdk_made = openai.OpenAI(
                    api_key=self._settings.api_key,
                    base_url=self._settings.base_url,
                    max_retries=self._settings.retries,
                    timeout=self._settings.timeout,
                    http_client=self._http,
                )
            return self._sdk_made

    # -- --verbose ------------------------------------------------------------------
    def _log_request(self, request: Any) -> None:
        request.extensions["kimi_vision_start"] = time.monotonic()
        attempt = str(
            request.extensions.get(RETRY_EXTENSION, request.headers.get("x-stainless-retry-count", "0"))
        )
        retry = f" (retry {attempt})" if attempt not in ("", "0") else ""
        assert self._log is not None
        self._log(f"{request.method} {request.url.path}{retry}")

    def _log_failure(self, request: Any, exc: BaseException) -> None:
        """An attempt with no response (refused, timed out): its outcome line too."""
        started = request.extensions.get("kimi_vision_start")
        took = f" in {time.monotonic() - started:.2f}s" if started else ""
        assert self._log is not None
        self._log(self.redact(f"{request.method} {request.url.path} -> {type(exc).__name__}{took}"))

    def _log_response(self, response: Any) -> None:
        request = response.request
        started = request.extensions.get("kimi_vision_start")
        took = f" in {time.monotonic() - started:.2f}s" if started else ""
        rid = response.headers.get("x-request-id") or response.headers.get("msh-request-id")
        ident = f", request id {rid}" if rid else ""
        assert self._log is not None
        self._log(
            self.redact(f"{request.method} {request.url.path} -> HTTP {response.status_code}{took}{ident}")
        )

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
        limit = parse_rate_limit(message)
        if limit.kind == "tpd" or over_tpm(limit, self.gate.budget):
            # A daily budget: seconds do not refill it. A request over the whole TPM: no
            # minute lets it through (waiting a minute per retry was minutes of silence).
            response.headers["x-should-retry"] = "false"
        elif limit.wait is not None and "retry-after" not in response.headers:
            # The Gate holds the retry until Moonshot's "after N seconds" (and the learned
            # pacing) on its clock; the SDK only needs to send it again.
            response.headers["retry-after"] = "0.001"
        learned = self.gate.learn(limit)
        if learned and self._log is not None:
            self._log(learned)
        elif limit.kind != "tpd" and not over_tpm(limit, self.gate.budget):
            self._pacing_notice(limit, learned)
        self.observer(limit)

    def _pacing_notice(self, limit: RateLimit, learned: str | None) -> None:
        """Without -v, pacing is not silent (issue 19.22): each limit a 429 teaches is said
        once on stderr, what the 429 named and how requests go from now on; a 429 naming
        no limit is said the first time only."""
        if self._notice is None:
            return
        if learned:
            what = "from now on " + learned.removeprefix("rate limit: ").replace(
                " — pacing starts", ", starts"
            )
        elif limit.kind is None and self._noticed.acquire(blocking=False):
            wait = f"waiting {limit.wait:g} s as it asked, " if limit.wait is not None else ""
            what = wait + "with fewer requests at a time"
        else:
            return
        named = f"named {limit.describe()}" if limit.kind else "named no limit"
        self._notice(f"rate limited: Moonshot's 429 {named} — {what} (-v shows more)")

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    # -- chat --------------------------------------------------------------------
    def stream_chat(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        """Yield reasoning/content deltas, then one finish event. A stream that ends
        without `data: [DONE]` raises TruncatedError (SPEC: it is not a success)."""
        with (
            self._errors(),
            self._chat.stream({**body, "stream": True}) as response,
            self._errors(streaming=True),  # once the answer has started, a transport error is a cut stream
        ):
            for event in self._parse_sse(response.iter_lines()):
                if event.usage:  # what the next requests likely send, for TPM pacing
                    self.gate.note_usage(usage_tokens(event.usage)[0])
                yield event

    def _chunk(self, data: str) -> Any:
        """One stream chunk's JSON; an error chunk or one that is not JSON raises."""
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
        return chunk

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
            chunk = self._chunk(data)
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
    def upload(self, data: MediaBytes, filename: str, purpose: str) -> str:
        # A file over the bytes, not a bytes() copy of a bytearray (a local file's read):
        # the multipart body is read from it a piece at a time, and rewound for a retry.
        try:
            with self._errors():
                obj = self._sdk.files.create(file=(filename, ViewReader(data)), purpose=purpose)
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
                "over Moonshot's 100 MiB file limit",
                hint="lower --max-size for an image; shorten a video or use --downscale-video",
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
        body = self._post_json(ESTIMATE_PATH, {"model": model, "messages": messages})
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
    def batch_create(
        self, input_file_id: str, completion_window: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        with self._errors():
            obj = self._sdk.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window=completion_window,  # Moonshot takes 12h..7d
                metadata=metadata,
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
        # Only the fields Moonshot sent: the SDK's Batch type would add null for the rest, and
        # `batch status --format json` is the object as Moonshot returns it (docs/output.md).
        return dict(obj.model_dump(exclude_unset=True))

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


POOL_SHARE = 16  # chat requests in flight per connection pool (transport.py ChatTransport._client)


def pools_for(concurrency: int) -> int:
    """How many connection pools (clients) the chat requests of a run are spread over."""
    return max(1, -(-concurrency // POOL_SHARE))


def default_ssl_context() -> Any:
    """What httpx makes for each client by default (verify=True, the environment's
    SSL_CERT_FILE/SSL_CERT_DIR honoured), made once to share between the run's clients."""
    import httpx2

    return httpx2.create_ssl_context()


def gated_http_client(
    gate: Gate,
    hooks: dict[str, list[Callable[[Any], None]]],
    on_failure: Callable[[Any, BaseException], None] | None = None,
    verify: Any = True,
) -> Any:
    """The one HTTP client (chat transport and SDK share its connections), with each chat
    completion attempt held by `gate` until it may start and counted in flight until its
    answer stream is closed (an error answer: at once)."""
    import httpx2

    class Releasing(httpx2.SyncByteStream):
        def __init__(self, inner: Any, release: Callable[[], None]):
            self.inner, self.release = inner, release

        def __iter__(self) -> Iterator[bytes]:
            yield from self.inner

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                self.release()

    class GatedClient(httpx2.Client):
        def send(self, request: Any, **kwargs: Any) -> Any:
            try:
                return self._gated(request, **kwargs)
            except Exception as exc:  # no response, so no response hook: --verbose says it here
                if on_failure is not None:
                    on_failure(request, exc)
                raise

        def _gated(self, request: Any, **kwargs: Any) -> Any:
            if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
                return super().send(request, **kwargs)
            gate.acquire()
            release = gate.releaser()
            try:
                response = super().send(request, **kwargs)
            except BaseException:
                release()
                raise
            if response.status_code != 200 or response.is_closed or not kwargs.get("stream"):
                release()  # an error answer, or one read whole: the request is over
            else:
                response.stream = Releasing(response.stream, release)
            return response

    # The SDK's own defaults (openai.DefaultHttpxClient), written here so that making the
    # client does not import openai.
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0)
    return GatedClient(event_hooks=hooks, limits=limits, follow_redirects=True, verify=verify)
