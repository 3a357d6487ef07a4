"""Chat completions over the SDK's HTTP layer (httpx2), without importing the SDK.

Why not `openai.OpenAI().chat.completions`: `import openai` builds every pydantic type of
the whole OpenAI API and costs about 0.5 s, most of a one-image `describe` (issue 12,
item 4: measured 0.5 s of a 0.64 s goal). A chat completion is one POST whose answer we
parse ourselves (api/stream.py `parse_sse`), so the SDK's only work on this path was its
retry loop. That loop is kept here, rule for rule (openai-python `_base_client.py`:
`_should_retry`, `_calculate_retry_timeout`, `_parse_retry_after_header`), so a request
is retried exactly as the SDK retries the other endpoints, which still go through it.
tests/test_transport.py compares the two through the SDK's public surface (what it sends
and how long it sleeps), and openai is bounded below its next major release.
"""

from __future__ import annotations

import base64
import email.utils
import itertools
import json
import math
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx2

from kimi_vision_cli import __version__
from kimi_vision_cli.types import MediaRef

INITIAL_RETRY_DELAY = 0.5  # seconds; doubled per retry, as the SDK does
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is not waited for (the SDK's rule too)
RETRY_EXTENSION = "kimi_vision_retry"  # which attempt a request is, for --verbose
# The completion budget (max_tokens, sent or the model's default) a chat request carries to
# the pacer and the 429 hook: TPM counts it, and each request is weighed by its own, so the
# calls of one kv.Client with different max_tokens share a client without mixing them.
BUDGET_EXTENSION = "kimi_vision_budget"


def retry_after(headers: Any) -> float | None:
    """Seconds a response asks to wait: retry-after-ms, retry-after (seconds or a date).
    A number too big for a float counts as over MAX_RETRY_AFTER; a literal "inf" or
    "nan" passes through (neither finite: not waited for, and not refused either)."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity", "+infinity"):
            return MAX_RETRY_AFTER + 1
        return delay / divisor
    try:
        when = email.utils.parsedate_tz(headers.get("retry-after"))
        return None if when is None else float(email.utils.mktime_tz(when) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(response: Any) -> bool:
    """Whether an error answer is worth sending again (408, 409, 429, 5xx), unless the
    response says otherwise (`x-should-retry`, set by client.py's hook for quota and
    daily-limit 429s) or asks for a wait longer than MAX_RETRY_AFTER."""
    after = retry_after(response.headers)
    if after is not None and math.isfinite(after) and after > MAX_RETRY_AFTER:
        return False
    told: str | None = response.headers.get("x-should-retry")
    if told in ("true", "false"):
        return told == "true"
    status = int(response.status_code)
    return status in (408, 409, 429) or status >= 500


def backoff(retry: int, headers: Any | None) -> float:
    """Seconds before retry number `retry` (0-based): the server's wait when it names a
    reasonable one, else exponential backoff with up to 25% jitter."""
    after = retry_after(headers) if headers is not None else None
    if after is not None and math.isfinite(after) and 0 < after <= MAX_RETRY_AFTER:
        return after
    return min(INITIAL_RETRY_DELAY * 2.0 ** min(retry, 1000), MAX_RETRY_DELAY) * (1 - 0.25 * random.random())


class WireBody:
    """A JSON request body whose inline media (plan.MediaRef where a data URL goes) are
    base64-encoded a chunk at a time as the body is sent: a 60 MB video is held once, as
    its bytes, instead of also as base64, as a data-URL string, as JSON text and as the
    encoded body (issue 12, item 3). Small bodies are sent as one bytes object."""

    CHUNK = 3 * 256 * 1024  # raw bytes per piece: a multiple of 3, so pieces join as one base64 text
    WHOLE = 1 << 20  # below this many bytes the body is joined and sent in one piece

    def __init__(self, body: dict[str, Any]):
        media: list[MediaRef] = []
        marker = f"@kimi-vision-media-{uuid.uuid4().hex}@"

        def hole(obj: object) -> str:
            if not isinstance(obj, MediaRef) or obj.data is None:
                raise TypeError(f"not JSON serializable: {type(obj).__name__}")
            media.append(obj)
            return marker

        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=hole)
        self._text = [piece.encode() for piece in text.split(marker)]
        self._media = media
        self.length = sum(map(len, self._text)) + sum(ref.inline_size for ref in media)
        self._whole = b"".join(self) if self.length < self.WHOLE else None

    def __iter__(self) -> Iterator[bytes]:
        yield self._text[0]
        for ref, after in zip(self._media, self._text[1:], strict=True):
            assert ref.data is not None
            yield f"data:{ref.mime};base64,".encode()
            view = memoryview(ref.data)
            for start in range(0, len(view), self.CHUNK):
                yield base64.b64encode(view[start : start + self.CHUNK])
            yield after

    def content(self) -> bytes | Iterable[bytes]:
        """What one attempt sends: the bytes, or this body, iterated afresh each time it is
        read (a retry, or a 307/308 redirect, sends it again)."""
        return self._whole if self._whole is not None else self


class ChatTransport:
    """POSTs one chat completion body and yields the streamed response, retrying what
    the SDK would retry. Errors come out as httpx2 exceptions or, for an error answer
    the retries did not cure, through `status_error` (the Translator's). `more`: further
    clients (each its own connection pool) that the sending threads are spread over."""

    def __init__(
        self,
        http: httpx2.Client,
        *,
        more: Sequence[httpx2.Client] = (),
        base_url: str,
        api_key: str,
        retries: int,
        timeout: float,
        status_error: Callable[[int, Any], Exception],
        sleep: Callable[[float], None] = time.sleep,
        budget: int | None = None,
    ):
        self._clients = [http, *more]
        self._budget = budget  # every request's completion budget (BUDGET_EXTENSION)
        self._local = threading.local()
        self._turns = itertools.count()
        self._url = httpx2.URL(base_url.rstrip("/") + "/chat/completions")  # parsed once, not per request
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": f"kimi-vision/{__version__}",
        }
        self._retries = retries
        self._timeout = httpx2.Timeout(timeout)
        self._status_error = status_error
        self._sleep = sleep

    @contextmanager
    def stream(self, body: dict[str, Any]) -> Iterator[httpx2.Response]:
        response = self._send(WireBody(body))
        try:
            yield response
        finally:
            response.close()

    def _client(self) -> httpx2.Client:
        """The client this thread sends on, the same for all its requests: threads take the
        clients in turn. httpcore scans every connection and queued request of a pool, under
        the pool's lock, when a request starts and when it ends; with one pool for -j 256
        that was the largest CPU cost per request (issue 24, item 5)."""
        client: httpx2.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._clients[next(self._turns) % len(self._clients)]
        return client

    def _send(self, body: WireBody) -> httpx2.Response:
        headers = {**self._headers, "Content-Length": str(body.length)}
        http = self._client()
        for retry in range(self._retries + 1):
            last = retry == self._retries
            request = http.build_request(
                "POST",
                self._url,
                content=body.content(),
                headers=headers,
                timeout=self._timeout,
                extensions={RETRY_EXTENSION: retry, BUDGET_EXTENSION: self._budget},
            )
            try:
                response = http.send(request, stream=True)
            except (httpx2.RequestError, ssl.SSLError) as exc:  # what the SDK retries: timeouts too
                if not last:
                    self._sleep(backoff(retry, None))
                    continue
                if isinstance(exc, ssl.SSLError):
                    raise httpx2.ConnectError(str(exc)) from exc
                raise
            if response.status_code < 400:
                return response
            if not last and should_retry(response):
                response.close()
                self._sleep(backoff(retry, response.headers))
                continue
            response.read()
            response.close()
            raise self._status_error(response.status_code, response)
        raise AssertionError("unreachable: the last attempt returns or raises")
