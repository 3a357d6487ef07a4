"""Chat completions over the SDK's HTTP layer (httpx2), without importing the SDK.

Why not `openai.OpenAI().chat.completions`: `import openai` builds every pydantic type of
the whole OpenAI API and costs about 0.5 s, most of a one-image `describe` (issue 12,
item 4: measured 0.5 s of a 0.64 s goal). A chat completion is one POST whose answer we
parse ourselves (client.py `_parse_sse`), so the SDK's only work on this path was its
retry loop. That loop is kept here, rule for rule (openai-python `_base_client.py`:
`_should_retry`, `_calculate_retry_timeout`, `_parse_retry_after_header`), so a request
is retried exactly as the SDK retries the other endpoints, which still go through it.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

from kimi_vision_cli import __version__

INITIAL_RETRY_DELAY = 0.5  # seconds; doubled per retry, as the SDK does
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is not waited for (the SDK's rule too)
RETRY_EXTENSION = "kimi_vision_retry"  # which attempt a request is, for --verbose


def retry_after(headers: Any) -> float | None:
    """Seconds a response asks to wait: retry-after-ms, retry-after (seconds or a date)."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        return delay / divisor if math.isfinite(delay) else MAX_RETRY_AFTER + 1
    try:
        when = email.utils.parsedate_tz(headers.get("retry-after"))
        return None if when is None else float(email.utils.mktime_tz(when) - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def should_retry(response: Any) -> bool:
    """Whether an error answer is worth sending again (408, 409, 429, 5xx), unless the
    response says otherwise (`x-should-retry`, set by client.py's hook for quota and
    daily-limit 429s) or asks for a wait longer than MAX_RETRY_AFTER."""
    after = retry_after(response.headers)
    if after is not None and after > MAX_RETRY_AFTER:
        return False
    told = response.headers.get("x-should-retry")
    if told in ("true", "false"):
        return told == "true"
    status = int(response.status_code)
    return status in (408, 409, 429) or status >= 500


def backoff(retry: int, headers: Any | None) -> float:
    """Seconds before retry number `retry` (0-based): the server's wait when it names a
    reasonable one, else exponential backoff with up to 25% jitter."""
    after = retry_after(headers) if headers is not None else None
    if after is not None and 0 < after <= MAX_RETRY_AFTER:
        return after
    return min(INITIAL_RETRY_DELAY * 2.0 ** min(retry, 1000), MAX_RETRY_DELAY) * (1 - 0.25 * random.random())


class ChatTransport:
    """POSTs one chat completion body and yields the streamed response, retrying what
    the SDK would retry. Errors come out as httpx2 exceptions or, for an error answer
    the retries did not cure, through `status_error` (the Translator's)."""

    def __init__(
        self,
        http: httpx2.Client,
        *,
        base_url: str,
        api_key: str,
        retries: int,
        timeout: float,
        status_error: Callable[[int, Any], Exception],
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
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
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        response = self._send(content)
        try:
            yield response
        finally:
            response.close()

    def _send(self, content: bytes) -> httpx2.Response:
        for retry in range(self._retries + 1):
            last = retry == self._retries
            request = self._http.build_request(
                "POST",
                self._url,
                content=content,
                headers=self._headers,
                timeout=self._timeout,
                extensions={RETRY_EXTENSION: retry},
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx2.TransportError:  # timeouts included: the SDK retries both
                if last:
                    raise
                self._sleep(backoff(retry, None))
                continue
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
