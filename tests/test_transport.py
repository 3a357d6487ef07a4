"""The chat transport's retry rules (api/transport.py), written again from the SDK's so
that `describe` need not import openai: each rule pinned here, so a drift fails."""

from __future__ import annotations

import base64
import email.utils
import http.server
import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from kimi_vision_cli.api.transport import (
    MAX_RETRY_AFTER,
    ChatTransport,
    WireBody,
    backoff,
    retry_after,
    should_retry,
)
from kimi_vision_cli.types import MediaRef


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


def test_a_refused_connection_is_retried_then_raised(dead_url: str) -> None:
    slept: list[float] = []
    transport = ChatTransport(
        httpx2.Client(),
        base_url=dead_url,
        api_key="sk-test",
        retries=2,
        timeout=5,
        status_error=lambda status, response: AssertionError("no answer expected"),
        sleep=slept.append,
    )
    with pytest.raises(httpx2.ConnectError), transport.stream({"model": "m", "messages": []}):
        pass
    assert len(slept) == 2 and all(w > 0 for w in slept)


def _bodies(*refs: MediaRef) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body as sent, with MediaRefs; the same body with the data URLs written out)."""

    def body(url: Any) -> dict[str, Any]:
        parts = [{"type": "image_url", "image_url": {"url": url(r)}} for r in refs]
        text = {"type": "text", "text": 'ünï "quoted" \\ ' + "@kimi-vision-media-@"}
        return {
            "model": "kimi-k2.6",
            "messages": [{"role": "user", "content": [*parts, text]}],
            "stream": True,
        }

    return body(lambda r: r), body(lambda r: r.url)


@pytest.mark.parametrize("sizes", [(0,), (10,), (3 * 256 * 1024 * 2 + 1, 5), (1_500_001, 2_000_000)])
def test_wire_body_is_the_json_body_byte_for_byte(sizes: tuple[int, ...]) -> None:
    refs = [MediaRef("image", "image/png", data=os.urandom(n)) for n in sizes]
    wire, plain = _bodies(*refs)
    body = WireBody(wire)
    expected = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()
    sent = body.content()
    assert isinstance(sent, bytes) == (len(expected) < WireBody.WHOLE)  # big bodies go in pieces
    pieces = [sent] if isinstance(sent, bytes) else list(sent)
    if len(expected) >= WireBody.WHOLE:  # never the whole base64 text at once: a piece at a time
        assert max(map(len, pieces)) <= 4 * WireBody.CHUNK // 3
    first = b"".join(pieces)
    again = body.content()  # a retry sends it all again
    assert first == expected and body.length == len(expected)
    assert (again if isinstance(again, bytes) else b"".join(again)) == expected
    assert json.loads(first) == plain


def test_a_big_inline_image_arrives_whole_with_a_content_length(kv, fake, tmp_path: Path) -> None:
    """Issue 12, item 3: a body over 1 MiB is base64-encoded as it is sent; the loopback
    server reads exactly Content-Length bytes (a chunked body would arrive empty)."""
    from PIL import Image

    pixels = os.urandom(900 * 700 * 3)
    Image.frombytes("RGB", (900, 700), pixels).save(tmp_path / "noise.png")
    r = kv("describe", "--upload", "never", "--format", "jsonl", str(tmp_path / "noise.png"))
    assert r.returncode == 0, r.stderr
    assert "900x700 image/png" in json.loads(r.stdout)["text"]  # the server decoded what arrived
    sent = fake.chat_requests[-1]
    assert sent.size > WireBody.WHOLE and int(sent.headers["Content-Length"]) == sent.size
    assert "Transfer-Encoding" not in sent.headers
    url = sent.body["messages"][-1]["content"][0]["image_url"]["url"]
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).tobytes() == pixels


def test_a_redirected_big_body_is_sent_again_whole() -> None:
    """A 307/308 makes the HTTP client send the body again: a body sent in pieces must be
    readable twice (a one-shot generator failed with 'content already streamed')."""
    seen: list[tuple[str, int]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            seen.append((self.path, len(self.rfile.read(int(self.headers["Content-Length"])))))
            moved = self.path == "/v1/chat/completions"
            answer = b"" if moved else b"data: [DONE]\n\n"
            self.send_response(307 if moved else 200)
            if moved:
                self.send_header("Location", "/v2/chat/completions")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ref = MediaRef("image", "image/png", data=os.urandom(2_000_000))
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": ref}}]}],
    }
    transport = ChatTransport(
        httpx2.Client(follow_redirects=True),
        base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
        api_key="sk-test",
        retries=0,
        timeout=5,
        status_error=lambda status, response: AssertionError(f"HTTP {status}"),
    )
    try:
        with transport.stream(body) as response:
            assert response.status_code == 200
    finally:
        server.shutdown()
    size = WireBody(body).length
    assert size > WireBody.WHOLE and seen == [("/v1/chat/completions", size), ("/v2/chat/completions", size)]


_HEADERS = [
    {},
    {"retry-after": "2"},
    {"retry-after": "0"},
    {"retry-after": "-3"},
    {"retry-after": "120"},
    {"retry-after": "121"},
    {"retry-after": "1e400"},
    {"retry-after": "inf"},
    {"retry-after": "nan"},
    {"retry-after": "-inf"},
    {"retry-after": "soon"},
    {"retry-after-ms": "1500"},
    {"retry-after-ms": "inf"},
    {"retry-after-ms": "500", "retry-after": "9"},
    {"x-should-retry": "true"},
    {"x-should-retry": "false"},
    {"x-should-retry": "true", "retry-after": "500"},
]


def sdk_waits(status: int, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What openai's client does with this answer, seen through its public surface only
    (issue 21 item 6: no `_should_retry`): the answer comes from an httpx MockTransport,
    and the waits between the tries are its calls to time.sleep."""
    openai = pytest.importorskip("openai")
    body = {"error": {"message": "no", "type": "x"}}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, headers=headers, json=body))
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=4,
        http_client=httpx2.Client(transport=transport),
    )
    waits: list[float] = []
    with monkeypatch.context() as m:
        m.setattr(time, "sleep", waits.append)
        with pytest.raises(openai.APIStatusError):
            client.models.list()
    return waits


@pytest.mark.parametrize("status", [400, 404, 408, 409, 413, 429, 500, 503])
@pytest.mark.parametrize("headers", _HEADERS)
def test_the_same_rules_as_the_sdk(
    status: int, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compared with what openai's client does, so an SDK release that changes it fails here."""
    response = answer(status, **headers)
    waits = sdk_waits(status, headers, monkeypatch)
    assert should_retry(response) == bool(waits)
    for retry, wait in enumerate(waits):
        if wait == retry_after(response.headers):  # the server's wait: exactly
            assert backoff(retry, response.headers) == wait
        else:  # backoff with jitter: within the same bounds
            base = min(0.5 * 2**retry, 8.0)
            assert 0.75 * base <= wait <= base and 0.75 * base <= backoff(retry, response.headers) <= base


def test_an_upload_is_read_from_the_bytes_not_a_copy(monkeypatch) -> None:
    """A local file arrives as a bytearray; the SDK's multipart reads it through a file
    over it (a bytes() copy doubled an upload's memory)."""
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.settings import resolve

    seen: list[Any] = []

    class Files:
        def create(self, file: tuple[str, Any], purpose: str) -> Any:
            seen.append(file[1])
            return type("Obj", (), {"id": "file-1"})()

    client = MoonshotClient(resolve({}, {"MOONSHOT_API_KEY": "sk-test"}))
    client._sdk_made = type("SDK", (), {"files": Files()})()
    data = bytearray(os.urandom(1000))
    assert client.upload(data, "a.mp4", "video") == "file-1"
    (reader,) = seen
    assert not isinstance(reader, (bytes, bytearray)) and reader.read() == data


def test_verbose_names_the_outcome_of_an_attempt_that_got_no_response(
    kv, tmp_path: Path, dead_url: str
) -> None:
    """-v: every attempt has its outcome line, an error answer ('-> HTTP 500') or none at
    all (refused, timed out), for chat requests and SDK calls alike."""
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    env = {"MOONSHOT_BASE_URL": dead_url, "MOONSHOT_API_KEY": "sk-test"}
    r = kv("describe", "-v", "--retries", "1", "a.png", extra_env=env)
    assert r.returncode == 75, r.stderr
    assert r.stderr.count("POST /v1/chat/completions -> ConnectError in ") == 2
    assert "POST /v1/chat/completions (retry 1)" in r.stderr
    r = kv("files", "list", "-v", "--retries", "0", extra_env=env)
    assert r.returncode == 75, r.stderr
    assert "GET /v1/files -> ConnectError in " in r.stderr


def test_only_no_connection_is_unreachable() -> None:
    """'Cannot reach' that stops a run after three in a row means no connection at all; a
    server that answered badly (protocol error, redirects) is a temporary error."""
    from kimi_vision_cli.api.errors import Translator
    from kimi_vision_cli.errors import TemporaryError, UnreachableError
    from kimi_vision_cli.settings import resolve

    translate = Translator(resolve({}, {"MOONSHOT_API_KEY": "sk-test"}), str).translate
    assert isinstance(translate(httpx2.ConnectError("refused")), UnreachableError)
    for exc in (
        httpx2.RemoteProtocolError("bad"),
        httpx2.TooManyRedirects("loop"),
        httpx2.ReadError("reset"),
    ):
        err = translate(exc)
        assert isinstance(err, TemporaryError) and not isinstance(err, UnreachableError), exc


def test_sending_threads_are_spread_over_the_clients_each_keeping_its_own() -> None:
    """Issue 24, item 5: with -j 256 one connection pool cost more CPU per request than
    anything else (httpcore scans the whole pool as each request starts and ends), so the
    threads share several clients, each its own pool; a thread always sends on the same."""
    seen: dict[int, set[int]] = {}  # client -> the threads that sent on it
    lock = threading.Lock()

    def client(index: int) -> httpx2.Client:
        def handler(request: httpx2.Request) -> httpx2.Response:
            with lock:
                seen.setdefault(index, set()).add(threading.get_ident())
            return httpx2.Response(200, content=b"data: [DONE]\n\n")

        return httpx2.Client(transport=httpx2.MockTransport(handler))

    transport = ChatTransport(
        client(0),
        more=[client(1), client(2)],
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-test",
        retries=0,
        timeout=5,
        status_error=lambda status, response: AssertionError(f"HTTP {status}"),
    )
    start = threading.Barrier(6)

    def sender() -> None:
        start.wait()  # all alive at once: a thread id is not reused
        for _ in range(3):
            with transport.stream({"model": "m", "messages": []}) as response:
                assert response.status_code == 200

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(ids) for ids in seen.values()) == [2, 2, 2]  # each client: two threads
    assert len(set().union(*seen.values())) == 6  # and no thread on two clients


def test_one_pool_for_every_sixteen_requests_in_flight() -> None:
    from kimi_vision_cli.api.client import pools_for

    assert [pools_for(j) for j in (1, 4, 16, 17, 256, 1000)] == [1, 1, 1, 2, 16, 63]
