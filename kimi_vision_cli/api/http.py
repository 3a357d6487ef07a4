"""The one HTTP client of the api layer: the chat transport and the SDK share its
connections, and the Gate (api/ratelimit.py) holds each chat completion attempt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kimi_vision_cli.api.ratelimit import Gate


def gated_http_client(
    gate: Gate,
    hooks: dict[str, list[Callable[[Any], None]]],
    on_failure: Callable[[Any, BaseException], None] | None = None,
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
    return GatedClient(event_hooks=hooks, limits=limits, follow_redirects=True)
