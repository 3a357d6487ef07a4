"""A loopback stand-in for Moonshot's API, for tests and benchmarks.

A real HTTP server on 127.0.0.1 (port 0) in a thread. It speaks SSE like Moonshot
(reasoning first, usage in `choices[0].usage` of the last chunk, then `[DONE]`),
refuses what Moonshot documents as refused, records every request, and injects
faults on demand. This module is the HTTP side; the rest lives beside it:
- tests/fake_state.py: the account (`FakeState`) and what tests inject (`Fault`, `Limits`);
- tests/fake_models.py: the models served and GET /v1/models;
- tests/fake_chat.py: what a chat request is refused for, rate limits included;
- tests/fake_answers.py: the fake model's answers (captions of the media it received);
- tests/fake_files.py, tests/fake_batches.py, tests/fake_tokenizer.py: those endpoints.
Tests import `FakeMoonshot`, `Fault`, `Limits` and `FakeState` from here.

Readings we chose where Moonshot's docs are unclear (each marked READING; the others
are with the code they explain, in the modules above):
- Bodies over 100 MB: a 413 with an HTML page, as a front proxy would send.
- Token estimate (`POST /v1/tokenizers/estimate-token-count`): validated like chat and
  refusing keys other than model/messages; the count (28x28 pixel patches per image, a
  quarter token per text character) is a stand-in: see tests/fake_tokenizer.py.
- Files endpoints (upload, list, retrieve, delete, content, the 100 MB and 1,000-file
  errors): see tests/fake_files.py for the shapes and the READINGs chosen there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

if __name__ == "__main__":  # run as a script, `tests.*` is importable only from the repo root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fake_answers import completion_object, compose_answer, video_parts, video_seconds
from tests.fake_chat import rate_limit, validate_chat
from tests.fake_models import listing
from tests.fake_state import FakeState, Fault, Limits, Recorded

__all__ = ["FakeMoonshot", "FakeState", "Fault", "Limits", "Recorded"]

# Moonshot says "100 MB" without saying which; read as 100 MiB, as moonshot.py does.
BODY_LIMIT = 100 * 1024 * 1024
HOLD_CAP = 60.0  # a Fault held for requests that never come is answered then (its test fails)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real HTTP servers set: headers and body (and each SSE chunk) go out
    # as separate writes, and with Nagle each one after the first waited for the client's
    # delayed ACK, 40 ms a response on loopback (issue 12: `files prune` of 1,000 files
    # measured 45 s, all of it this wait).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, type_: str, message: str) -> None:
        self._send_json(status, {"error": {"type": type_, "message": message}})

    def _html(self, status: int, text: str) -> None:
        data = f"<html><head><title>{status}</title></head><body><h1>{text}</h1></body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    @property
    def state(self) -> FakeState:
        return self.server.state

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_LIMIT:
            # Drain without keeping it, then refuse like a front proxy would.
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._html(413, "413 Request Entity Too Large")
            return None
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {self.state.api_key}":
            self._error(
                401,
                "invalid_authentication_error",
                "Invalid Authentication",
            )
            return False
        return True

    def _record(self, raw: bytes, parsed: Any) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        videos = []
        if self.path == "/v1/chat/completions" and self.state.record_bodies:
            videos = [video_seconds(data) for data in video_parts(parsed, self.state)]
        with self.state.lock:
            self.state.requests.append(
                Recorded(
                    self.command,
                    self.path,
                    headers,
                    parsed if self.state.record_bodies else None,
                    len(raw),
                    videos,
                )
            )

    def _take_fault(self) -> Fault | None:
        with self.state.lock:
            for i, f in enumerate(self.state.faults):
                if self.path.startswith(f.path):
                    del self.state.faults[i]
                    return f
        return None

    def _apply_fault_status(self, fault: Fault | None) -> bool:
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            if fault.html:
                self._html(fault.status, f"{fault.status} {fault.message or 'Error'}")
            else:
                self._error(fault.status, fault.type, fault.message)
            return True
        return False

    # -- routes --------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._authorized():
            return
        self._record(b"", None)
        fault = self._take_fault()
        if self._apply_fault_status(fault):
            return
        if self.path.rstrip("/") == "/v1/models":
            return self._send_json(200, {"object": "list", "data": self.server.models()})
        if self._files_route("GET") or self._batches_route("GET", None):
            return
        self._error(404, "resource_not_found_error", f"no route {self.path}")

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        self._record(b"", None)
        if self._apply_fault_status(self._take_fault()):
            return
        if not self._files_route("DELETE"):
            self._error(404, "resource_not_found_error", f"no route {self.path}")

    def _batches_route(self, method: str, body: Any) -> bool:
        from tests.fake_batches import route

        answer = route(self.state, method, self.path, body)
        if answer is None:
            return False
        self._send_json(*answer)
        return True

    def _files_route(self, method: str) -> bool:
        from tests.fake_files import route

        answer = route(self.state, method, self.path)
        if answer is None:
            return False
        status, obj = answer
        if isinstance(obj, bytes):
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(obj)))
            self.end_headers()
            self.wfile.write(obj)
        else:
            self._send_json(status, obj)
        return True

    def do_POST(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        if not self._authorized():
            return
        ctype = self.headers.get("Content-Type", "")
        parsed: Any = raw
        if ctype.startswith("application/json"):
            try:
                parsed = json.loads(raw) if raw else {}  # e.g. POST /v1/batches/{id}/cancel
            except ValueError:
                return self._error(400, "invalid_request_error", "Invalid JSON body")
        form: dict[str, Any] | None = None
        if ctype.startswith("multipart/form-data"):
            from tests.fake_files import parse_multipart

            form = parse_multipart(raw, ctype)
            # Recorded without the file bytes: uploads reach 100 MB.
            parsed = {k: v for k, v in form.items() if k != "file"}
            parsed["bytes"] = len(form.get("file") or b"")
        self._record(raw, parsed)
        if self.path == "/v1/chat/completions":
            _count(self.state, "chats_arrived")
        fault = self._take_fault()
        if self._apply_fault_status(fault):
            return
        if self.path == "/v1/chat/completions":
            return self._chat(parsed, fault)
        if self.path == "/v1/tokenizers/estimate-token-count":
            return self._estimate(parsed)
        if self._batches_route("POST", parsed):
            return
        if self.path.rstrip("/") == "/v1/files" and form is not None:
            from tests.fake_files import create

            return self._send_json(*create(self.state, form))
        self._error(404, "resource_not_found_error", f"no route {self.path}")

    # -- token estimate (counting rules: tests/fake_tokenizer.py) ---------------------
    def _estimate(self, body: Any) -> None:
        from tests.fake_tokenizer import count_tokens

        problem = validate_chat(body, self.state)
        if problem is None and set(body) - {"model", "messages"}:
            problem = (
                400,
                "invalid_request_error",
                f"unexpected keys {sorted(set(body) - {'model', 'messages'})}",
            )
        if problem:
            return self._error(*problem)
        self._send_json(200, {"data": {"total_tokens": count_tokens(body, self.state)}})

    # -- chat ------------------------------------------------------------------------
    def _chat(self, body: Any, fault: Fault | None) -> None:
        problem = validate_chat(body, self.state)
        if problem:
            status, type_, message = problem
            return self._error(status, type_, message)
        with self.state.lock:
            refusal = rate_limit(body, self.state)
            if refusal is None:
                self.state.in_flight += 1
                self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        if refusal is not None:
            return self._error(429, "rate_limit_reached_error", refusal)
        # The state it was counted in: a reset() during this request (the next test) must
        # not see its decrement.
        self._counted: FakeState | None = self.state
        state = self.state
        try:
            if self.state.latency:
                time.sleep(self.state.latency)
            if fault:
                _hold(state, fault)
            self._answer(body, fault)
        finally:
            self._done()
            _count(state, "chats_ended")

    def _done(self) -> None:
        """The request stops counting as in flight (once: before [DONE] or on the way out)."""
        counted: FakeState | None = getattr(self, "_counted", None)
        if counted is not None:
            self._counted = None
            with counted.lock:
                counted.in_flight -= 1

    def _answer(self, body: dict[str, Any], fault: Fault | None) -> None:
        model = body["model"]
        words, reasoning, finish, usage = compose_answer(body, self.state)
        if fault and fault.finish_reason:
            finish = fault.finish_reason
        if not body.get("stream"):
            return self._send_json(200, completion_object(model, words, reasoning, finish, usage))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: Any = None) -> None:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            if usage:
                choice["usage"] = usage
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
            }
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()
            if self.state.chunk_delay:
                time.sleep(self.state.chunk_delay)

        try:
            chunk({"role": "assistant", "content": ""})
            for piece in reasoning.split(" ") if reasoning else []:
                if piece:
                    chunk({"reasoning_content": piece + " "})
            for i, word in enumerate(words):  # i: the words sent so far
                if fault and fault.cut_after is not None and i >= fault.cut_after:
                    self.close_connection = True
                    return  # cut: no finish_reason, no [DONE]
                if fault and fault.malformed and i == 1:
                    self.wfile.write(b"data: {this is not json\n\n")
                    self.wfile.flush()
                chunk({"content": word + (" " if i < len(words) - 1 else "")})
            chunk({}, finish, usage)
            self._done()  # the client may start its next request as soon as it reads [DONE]
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def _count(state: FakeState, name: str) -> None:
    with state.chats:
        setattr(state, name, getattr(state, name) + 1)
        state.chats.notify_all()


def _hold(state: FakeState, fault: Fault) -> None:
    """Fault.hold_until_arrived/_ended: wait until that many chat requests have arrived /
    ended on the account (tests/test_output_order.py fixes an order of finishing so)."""
    with state.chats:
        state.chats.wait_for(
            lambda: (
                state.chats_arrived >= fault.hold_until_arrived
                and state.chats_ended >= fault.hold_until_ended
            ),
            timeout=HOLD_CAP,
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: FakeState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def models(self) -> list[dict[str, Any]]:
        return listing()


class FakeMoonshot:
    """Start with `with FakeMoonshot() as fake:`; point the tool at `fake.base_url`."""

    def __init__(self, api_key: str | None = None):
        self.state = FakeState(api_key=api_key or "sk-fake-" + uuid.uuid4().hex)
        self._server = _Server(self.state)
        # A short poll: shutdown() waits for it, and the suite starts and stops servers often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._baseline = dict(vars(self._server))

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeMoonshot:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeMoonshot:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self) -> FakeMoonshot:
        """A new account on the same server: a fresh key, no files, faults or records.
        The test suite shares one server and resets it before each test."""
        self.state = FakeState(api_key="sk-fake-" + uuid.uuid4().hex)
        self._server.state = self.state
        for name in set(vars(self._server)) - set(self._baseline) - {"state"}:
            delattr(self._server, name)  # what a test patched in (e.g. a models() answer)
        return self

    # -- test helpers ---------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def requests_to(self, path: str, method: str = "POST") -> list[Recorded]:
        with self.state.lock:
            return [r for r in self.state.requests if r.path.startswith(path) and r.method == method]

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/v1/chat/completions")


if __name__ == "__main__":  # a manual server: python tests/fake_moonshot.py
    with FakeMoonshot(api_key=sys.argv[1] if len(sys.argv) > 1 else None) as fake:
        print(f"MOONSHOT_BASE_URL={fake.base_url}\nMOONSHOT_API_KEY={fake.api_key}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
