"""The chat transport's retry rules (api/transport.py), written again from the SDK's so
that `describe` need not import openai: each rule pinned here, so a drift fails."""

from __future__ import annotations

import email.utils
import socket
import time

import httpx2
import pytest

from kimi_vision_cli.api.transport import MAX_RETRY_AFTER, ChatTransport, backoff, retry_after, should_retry


def answer(status: int, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, headers=headers)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses(status: int) -> None:
    assert should_retry(answer(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not should_retry(answer(status))


def test_the_response_can_say_otherwise() -> None:
    assert not should_retry(answer(429, **{"x-should-retry": "false"}))  # quota: set by client.py's hook
    assert should_retry(answer(400, **{"x-should-retry": "true"}))


def test_a_wait_past_the_maximum_is_not_retried() -> None:
    assert not should_retry(answer(503, **{"retry-after": str(MAX_RETRY_AFTER + 1)}))
    assert should_retry(answer(503, **{"retry-after": str(MAX_RETRY_AFTER)}))


def test_retry_after_forms() -> None:
    assert retry_after(answer(429, **{"retry-after-ms": "1500"}).headers) == 1.5
    assert retry_after(answer(429, **{"retry-after": "2"}).headers) == 2.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    after = retry_after(answer(429, **{"retry-after": when}).headers)
    assert after is not None and 25 < after <= 31
    assert retry_after(answer(429, **{"retry-after": "soon"}).headers) is None
    assert retry_after(answer(429).headers) is None


def test_backoff_uses_the_servers_wait_else_doubles_with_jitter() -> None:
    assert backoff(0, answer(429, **{"retry-after": "0.001"}).headers) == 0.001  # client.py's hook sets this
    for retry, base in ((0, 0.5), (1, 1.0), (2, 2.0), (5, 8.0), (50, 8.0)):
        waits = [backoff(retry, None) for _ in range(50)]
        assert all(0.75 * base <= w <= base for w in waits), (retry, min(waits), max(waits))


def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    transport = ChatTransport(
        httpx2.Client(),
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="sk-test",
        retries=2,
        timeout=5,
        status_error=lambda status, response: AssertionError("no answer expected"),
        sleep=slept.append,
    )
    with pytest.raises(httpx2.ConnectError), transport.stream({"model": "m", "messages": []}):
        pass
    assert len(slept) == 2 and all(w > 0 for w in slept)
