"""The one HTTP client every call of api/client.py goes out on, with each chat completion
attempt (retries included) held by a Pacer until it may start and counted in flight
until its answer is read. The Pacer is the caller's (runner/pacing.py gives a run's);
the api only declares what it needs of one, so it does not import the runner."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from kimi_vision_cli.api.errors import RateLimit
from kimi_vision_cli.api.transport import BUDGET_EXTENSION


class Pacer(Protocol):
    """What paces chat requests (runner/pacing.py Pacing is the one a run gives): called
    from whichever thread sends, so it is thread-safe."""

    def acquire(self, budget: int = 0) -> None:
        """Block until one more chat attempt, reserving `budget` completion tokens (its
        max_tokens, which TPM counts), may start."""
        ...

    def release(self) -> None:
        """That attempt is over (its answer read, or an error answer)."""
        ...

    def rate_limited(self, limit: RateLimit, budget: int = 0) -> list[tuple[str, bool]]:
        """A rate-limit 429 said this to a request reserving `budget` completion tokens;
        what to tell the user: (text, shown with -v only)."""
        ...

    def note_usage(self, input_tokens: int) -> None:
        """An answer's input tokens (TPM pacing)."""
        ...


class Unpaced:
    """For a client made outside a run's Context (a test, a one-off call): nothing paces
    it, every attempt goes at once and a 429 is only retried."""

    def acquire(self, budget: int = 0) -> None:
        pass

    def release(self) -> None:
        pass

    def rate_limited(self, limit: RateLimit, budget: int = 0) -> list[tuple[str, bool]]:
        return []

    def note_usage(self, input_tokens: int) -> None:
        pass


def _once(release: Callable[[], None]) -> Callable[[], None]:
    """`release`, at most once (a response can be closed twice)."""
    once = threading.Lock()

    def release_once() -> None:
        if once.acquire(blocking=False):
            release()

    return release_once


def gated_http_client(
    pacer: Pacer,
    hooks: dict[str, list[Callable[[Any], None]]],
    on_failure: Callable[[Any, BaseException], None] | None = None,
    verify: Any = True,
) -> Any:
    """The one HTTP client (chat transport and SDK share its connections), with each chat
    completion attempt held by `pacer` until it may start and counted in flight until its
    answer stream is closed (an error answer: at once). `verify`: httpx's (an SSL context
    made once is shared by a run's pools: api/client.py default_ssl_context)."""
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
            pacer.acquire(request.extensions.get(BUDGET_EXTENSION) or 0)
            release = _once(pacer.release)
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
