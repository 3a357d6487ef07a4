"""The only module that imports openai (with api/errors.py). It streams chat
completions (api/transport.py: one POST, without importing the SDK), uploads and lists
files, estimates tokens, lists models and drives the Batch API; every call runs under the
one Translator (api/errors.py), which turns openai/httpx exceptions into ours (STYLE
rules 5 and 6).

Retries are the SDK's (exponential backoff, Retry-After), and the chat transport keeps
the same rules. What Moonshot needs on top is done in a response hook: a rate-limit 429
is read (which limit, what value, "try again after N seconds") and told to the client's
Pacer (api/gated.py; the runner's one pacing object, runner/pacing.py, given by the
caller), which holds every chat request attempt, retries included, until the account's
limits allow it; a quota 429 and a tokens-per-day 429 are marked not-retryable (waiting
does not help). The api reads what the server said; how to pace is not decided here.
"""

from __future__ import annotations

import copy
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
from kimi_vision_cli.api.gated import Pacer, Unpaced, gated_http_client
from kimi_vision_cli.api.stream import StreamEvent, parse_sse
from kimi_vision_cli.api.transport import BUDGET_EXTENSION, RETRY_EXTENSION, ChatTransport
from kimi_vision_cli.buffers import MediaBytes, ViewReader
from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    BatchMissingError,
    FileMissingError,
    InputError,
    KimiVisionError,
)
from kimi_vision_cli.moonshot import ESTIMATE_PATH, completion_budget, usage_tokens
from kimi_vision_cli.settings import Settings

__all__ = ["MoonshotClient", "Pacer", "RateLimit", "RateLimitObserver", "StreamCutError", "StreamEvent"]


@dataclass
class RateLimitObserver:
    """Told of every rate-limit 429 the SDK sees (even those it then retries)."""

    callbacks: list[Callable[[RateLimit], None]] = field(default_factory=list)

    def __call__(self, limit: RateLimit) -> None:
        for cb in list(self.callbacks):  # a copy: runs sharing a client add and remove theirs
            cb(limit)


class MoonshotClient:
    def __init__(
        self,
        settings: Settings,
        observer: RateLimitObserver | None = None,
        log: Callable[[str], None] | None = None,
        notice: Callable[[str, bool], None] | None = None,
        *,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not settings.connection.api_key:
            raise AuthError(
                "no API key",
                hint="set MOONSHOT_API_KEY (or pass --api-key); get one at platform.moonshot.ai",
            )
        self._settings = settings
        self._key = settings.connection.api_key
        self.observer = observer or RateLimitObserver()
        self._log = log
        # What the pacer says about a 429 (text, -v only), to stderr or the run's sink.
        self._notice = notice
        self._errors = Translator(settings, self.redact)
        self.pacer: Pacer = pacer or Unpaced()
        hooks: dict[str, list[Callable[[Any], None]]] = {"response": [self._on_response]}
        if log is not None:  # --verbose: one line per HTTP attempt, never a header's value but ids
            hooks = {"request": [self._log_request], "response": [self._log_response, self._on_response]}
        on_failure = self._log_failure if log is not None else None
        ssl_context = default_ssl_context()  # loading the CA certificates once, for every pool
        self._http = gated_http_client(self.pacer, hooks, on_failure, ssl_context)
        # One connection pool for every POOL_SHARE requests in flight (transport.py _client).
        self._more = [
            gated_http_client(self.pacer, hooks, on_failure, ssl_context)
            for _ in range(1, pools_for(settings.run.concurrency))
        ]
        self._sleep = sleep
        self._chat = self._transport()
        self._sdk_made: Any = None
        self._sdk_lock = threading.Lock()
        self._root = self  # for_settings() views share the root's one SDK client (issue 24)

    @property
    def settings(self) -> Settings:
        """The settings its requests and errors are made in (this view's)."""
        return self._settings

    def for_settings(self, settings: Settings) -> MoonshotClient:
        """This client for a run with other request settings (model, max_tokens): the same
        HTTP connections, SDK client, pacer and observer, its errors told in `settings`.
        The Python API's kv.Client keeps one client and runs each call on such a view, so
        the pacing learned in one call holds in the next (issue 24). The response hook is
        the root's: a 429's notices go to the root's `notice`; whether it is over the TPM
        is judged by the max_tokens its own request carries (BUDGET_EXTENSION), so views
        with different max_tokens may send at once."""
        view = copy.copy(self)
        view._settings = settings
        view._errors = Translator(settings, self.redact)
        view._chat = view._transport()
        return view

    def _transport(self) -> ChatTransport:
        """Chat completions over the one HTTP client, their errors told by self._errors,
        each request carrying its completion budget (TPM counts it) to the pacer and hook."""
        s = self._settings
        return ChatTransport(
            self._http, more=self._more, base_url=s.connection.base_url, api_key=self._key,
            retries=s.connection.retries, timeout=s.connection.timeout,
            status_error=self._errors.status_error, sleep=self._sleep,
            budget=completion_budget(s.spec, s.request.max_tokens),
        )  # fmt: skip

    def close(self) -> None:
        """Close the HTTP connections (the SDK client shares the first pool's)."""
        for http in (self._http, *self._more):
            http.close()

    @property
    def _sdk(self) -> Any:
        """The openai client, made (and openai imported, ~0.5 s) on the first call that is
        not a chat completion: files, batches, models, token estimates."""
        root = self._root
        with root._sdk_lock:
            if root._sdk_made is None:
                import openai

                root._sdk_made = openai.OpenAI(
                    api_key=root._settings.connection.api_key,
                    base_url=root._settings.connection.base_url,
                    max_retries=root._settings.connection.retries,
                    timeout=root._settings.connection.timeout,
                    http_client=root._http,
                )
            return root._sdk_made

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
        budget: int | None = response.request.extensions.get(BUDGET_EXTENSION)  # None: not a chat request
        if limit.kind == "tpd" or over_tpm(limit, budget):
            # A daily budget: seconds do not refill it. A request over the whole TPM: no
            # minute lets it through (waiting a minute per retry was minutes of silence).
            response.headers["x-should-retry"] = "false"
        elif limit.wait is not None and "retry-after" not in response.headers:
            # The pacer holds the retry until Moonshot's "after N seconds" (and the learned
            # pacing) on its clock; the SDK only needs to send it again.
            response.headers["retry-after"] = "0.001"
        for text, detail in self.pacer.rate_limited(limit, budget or 0):
            if self._notice is not None:
                self._notice(text, detail)
        self.observer(limit)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    # -- chat --------------------------------------------------------------------
    def stream_chat(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        """Yield reasoning/content deltas, then one finish event. A stream that ends
        without `data: [DONE]` raises StreamCutError (SPEC: it is not a success)."""
        with (
            self._errors(),
            self._chat.stream({**body, "stream": True}) as response,
            self._errors(streaming=True),  # once the answer has started, a transport error is a cut stream
        ):
            for event in parse_sse(response.iter_lines(), self.redact):
                if event.usage:  # what the next requests likely send, for TPM pacing
                    self.pacer.note_usage(usage_tokens(event.usage)[0])
                yield event

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
