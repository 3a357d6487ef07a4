"""The one translation of API failures into our typed errors (STYLE rule 5).

`moonshot_error` reads Moonshot's error body `{"error": {"type", "message"}}` wherever
one turns up (an HTTP error, a stream chunk, a Batch API output line), and
`Translator` is the one context manager every SDK call in client.py runs under: an
openai/httpx exception comes out as a KimiVisionError naming what to do, with the key
redacted. A quota 429 is not a rate 429 (SPEC "What the API requires").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    ContentFilterError,
    InputError,
    KimiVisionError,
    ModelNotFoundError,
    QuotaError,
    TemporaryError,
    TruncatedError,
    UnreachableError,
)
from kimi_vision_cli.moonshot import FIELD_FLAGS, completion_budget, flag_and_field
from kimi_vision_cli.settings import Settings

REGION_HINT = (
    "check MOONSHOT_API_KEY; keys from platform.moonshot.ai work only with api.moonshot.ai "
    "and keys from platform.moonshot.cn only with api.moonshot.cn (try --region cn or --region global)"
)
QUOTA = "exceeded_current_quota_error"


@dataclass(frozen=True)
class RateLimit:
    """What a rate-limit 429 says: which limit was hit, its value, when to try again.
    Moonshot words them "... request reached max organization concurrency: 1, please try
    again after 1 seconds", "... reached organization max RPM: 3, ...", the same for TPM,
    and "... reached organization TPD rate limit, current: 1526210, limit: 1500000"."""

    kind: str | None = None  # "concurrency" | "rpm" | "tpm" | "tpd"; None: not named
    limit: int | None = None
    wait: float | None = None  # seconds, from "try again after N seconds"
    current: int | None = None  # TPD: the tokens already used today

    def describe(self) -> str:
        """The limit as the message names it (`max RPM: 3`), for an error line."""
        if self.kind is None:
            return "rate limit"
        name = "concurrency" if self.kind == "concurrency" else self.kind.upper()
        return f"max {name}: {self.limit:,}" if self.limit is not None else f"{name} limit"


_AFTER = re.compile(r"after\s+(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_KINDS = (("concurrency", "concurrency"), ("rpm", "RPM"), ("tpm", "TPM"), ("tpd", "TPD"))


def _number(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, re.IGNORECASE)
    return int(m.group(1).replace(",", "")) if m else None


def parse_rate_limit(message: str) -> RateLimit:
    """The one reading of a rate-limit 429's message (the hook that paces requests and the
    error a run ends with both use it)."""
    after = _AFTER.search(message)
    wait = float(after.group(1)) if after else None
    for kind, word in _KINDS:
        at = re.search(rf"\b{word}\b", message, re.IGNORECASE)
        if at is None:
            continue
        rest = message[at.end() :]
        # "limit: N" when the message gives current and limit, else the first number after it.
        limit = _number(r"\blimit:\s*([\d,]+)", rest) or _number(r"^\D{0,40}?(\d[\d,]*)", rest)
        return RateLimit(kind, limit, wait, _number(r"\bcurrent:\s*([\d,]+)", rest))
    return RateLimit(None, None, wait)


class StreamCutError(TruncatedError):
    """The stream stopped before `[DONE]` (EOF or a transport error mid-stream). The SDK
    cannot retry it (its response had started); runner/send.py decides, because only it
    knows whether part of the answer is already on the user's screen."""


def moonshot_error(body: Any) -> tuple[str, str]:
    """(type, message) of a Moonshot error body `{"error": {"type", "message"}}`; an
    OpenAI-style `code` stands in for a missing `type`. ("", "") when there is none."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return _printable(err.get("type") or err.get("code") or ""), _printable(err.get("message") or "")
        if isinstance(err, str):
            return "", _printable(err)
    return "", ""


def _printable(text: object) -> str:
    """The server's text as one printable line: an escape sequence in an error message
    must not reach the terminal (control characters shown as \\xNN, like file names)."""
    return "".join(c if c.isprintable() else (" " if c in "\n\r\t" else repr(c)[1:-1]) for c in str(text))


def is_sdk_error(exc: BaseException) -> bool:
    """Errors from the SDK or its HTTP layer (openai.*, httpx*): translated, not tracebacks."""
    openai = sys.modules.get("openai")  # not imported: no SDK call was made, none can have failed
    if openai is not None and isinstance(exc, openai.OpenAIError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("httpx", "httpcore", "openai", "h11"))


class Translator:
    """Turns SDK exceptions into ours for one client (its endpoint, retries, model, key)."""

    def __init__(self, settings: Settings, redact: Callable[[str], str]):
        self.settings = settings
        self.redact = redact

    @contextmanager
    def __call__(
        self, *, missing: Callable[[], KimiVisionError] | None = None, streaming: bool = False
    ) -> Iterator[None]:
        """Run SDK calls under this. `missing`: the error a 404 means (an unknown file or
        batch id, not the model). `streaming`: the answer has started, so a transport
        error is a cut stream."""
        try:
            yield
        except KimiVisionError:
            raise
        except Exception as exc:
            if not is_sdk_error(exc):
                raise  # a bug: keeps its traceback
            raise self.translate(exc, missing=missing, streaming=streaming) from None

    def translate(
        self, exc: Exception, *, missing: Callable[[], KimiVisionError] | None = None, streaming: bool = False
    ) -> KimiVisionError:
        import httpx2

        s = self.settings
        if streaming:
            kind = "stalled" if "timeout" in type(exc).__name__.lower() else "was cut"
            return StreamCutError(
                self.redact(f"the answer stream {kind} before [DONE] ({type(exc).__name__})"),
                hint="rerun to get the whole answer",
            )
        # The chat transport raises httpx2's exceptions; the SDK wraps the same ones.
        openai = sys.modules.get("openai")
        status = (
            getattr(exc, "status_code", None) if openai and isinstance(exc, openai.APIStatusError) else None
        )
        if missing is not None and status == 404:
            return missing()
        if isinstance(exc, httpx2.TimeoutException) or (openai and isinstance(exc, openai.APITimeoutError)):
            return TemporaryError(
                f"timed out after {s.connection.timeout:g}s waiting for {s.connection.base_url}",
                hint="rerun, or raise --timeout",
            )
        if isinstance(exc, httpx2.RequestError) or (openai and isinstance(exc, openai.APIConnectionError)):
            cause = exc.__cause__ or exc
            # No connection at all (refused, DNS, TLS): the server is not there. An answer
            # that broke (a protocol error, too many redirects) is a temporary error.
            unreachable = isinstance(exc, httpx2.ConnectError) or (
                openai and isinstance(exc.__cause__, httpx2.ConnectError)
            )
            return (UnreachableError if unreachable else TemporaryError)(
                f"cannot reach {s.connection.base_url}: {self.redact(str(cause)) or 'connection failed'}",
                hint="check the network or --base-url, then rerun",
            )
        if status is not None:
            return self.status_error(status, getattr(exc, "response", None))
        return APIError(self.redact(f"unexpected error from the API: {exc}"))

    def status_error(self, status: int, response: Any) -> KimiVisionError:
        try:
            body = response.json()
        except Exception:
            body = None
        kind, message = moonshot_error(body)
        message = self.redact(message)
        if not message:
            message = f"HTTP {status}"
            if "html" in response.headers.get("content-type", "") or body is None:
                message = f"HTTP {status} (the server answered with a non-JSON page)"
        return self._by_status(status, kind, message, f"{message} ({kind})" if kind else message)

    def _by_status(self, status: int, kind: str, message: str, label: str) -> KimiVisionError:
        s = self.settings
        if status == 401:
            return AuthError(f"authentication failed: {label}", hint=REGION_HINT)
        if status == 403:
            return AuthError(f"permission denied: {label}", hint="check the key's permissions")
        if status == 413:
            return InputError(
                "request body too large for the API (over Moonshot's 100 MiB limit)",
                hint="use --upload auto (the default) or --upload always, or lower --max-size "
                "for images, use --downscale-video (describe: or --segment) for videos",
            )
        if status == 429 and kind == QUOTA:
            return QuotaError(
                f"quota or balance exhausted: {label}",
                hint="top up the account at platform.moonshot.ai; retrying will not help",
            )
        if status == 429 and kind == "engine_overloaded_error":
            return TemporaryError(
                f"Moonshot is overloaded after {s.connection.retries} retries: {label}",
                hint="the service is busy, not your limits; rerun later",
            )
        if status == 429:
            budget = completion_budget(s.spec, s.request.max_tokens)
            field = s.spec.family.limit_param
            return rate_limit_error(parse_rate_limit(message), label, s.connection.retries, budget, field)
        if status == 400 and (kind == "content_filter" or "content_filter" in message):
            return ContentFilterError(
                f"refused by Moonshot's content filter: {label}",
                hint="the input or prompt was judged high-risk",
            )
        if status == 404 or "not found the model" in message.lower():
            return ModelNotFoundError(
                f"model {s.request.model!r} not found or not allowed: {label}",
                hint="run `kimi-vision models` to list the models your key can use",
            )
        if status >= 500:
            return TemporaryError(
                f"server error after {s.connection.retries} retries: {label}",
                hint="Moonshot is having trouble; rerun later",
            )
        if _TOKEN_LIMIT.search(message):
            return APIError(f"request refused: {label}", hint=token_limit_hint(s))
        if (found := _FIELD.search(message)) is not None:  # a 400 about a field a flag sets
            named = flag_and_field(found.group(1))
            return APIError(f"request refused: {label}", hint=f"it is about {named}: change or drop it")
        return APIError(f"request refused: {label}")


# The first request field a flag sets that a 400's message names (moonshot.FIELD_FLAGS),
# the longest first so `max_completion_tokens` is not read as a shorter name.
_FIELD = re.compile(r"\b(" + "|".join(sorted(FIELD_FLAGS, key=len, reverse=True)) + r")\b")


# "Your request exceeded model token limit: 8192 (requested: 12285)": the input (media
# tokens) plus max_tokens passed the model's context window (issue 19, item 19).
_TOKEN_LIMIT = re.compile(r"token limit|context (length|window)", re.IGNORECASE)


def token_limit_hint(s: Settings) -> str:
    """What makes a request fit the model's context: smaller media, a smaller completion
    budget, or a model with a larger context."""
    shrink = "lower --max-size (images) or pass --segment (videos)"
    limit = flag_and_field(s.spec.family.limit_param)
    budget = (
        f"lower {limit}, now {s.request.max_tokens:,}"
        if s.request.max_tokens is not None
        else f"set a smaller {limit}"
    )
    return f"{shrink}, {budget}, or pick a model with a larger context (-m; see `kimi-vision models`)"


class OverTPMError(APIError):
    """One request reserves more tokens (its max_tokens, which TPM counts whole) than the
    account's tokens-per-minute limit: no wait lets it through, so it is not retried
    (client.py), and the run stops, since every request reserves as much (issue 19.25)."""

    code = "rate_limit"
    stops = True


def over_tpm(limit: RateLimit, budget: int | None) -> bool:
    """Can no request of this run ever fit this TPM limit?"""
    return limit.kind == "tpm" and bool(limit.limit) and budget is not None and budget >= (limit.limit or 0)


def rate_limit_error(
    limit: RateLimit, label: str, retries: int, budget: int | None = None, field: str = "max_tokens"
) -> TemporaryError | OverTPMError:
    """A rate limit that outlasted the retries, naming the limit and what to do. `field`:
    the request field of the completion budget (TPM counts it), named with its flag."""
    named = flag_and_field(field)
    if over_tpm(limit, budget):
        return OverTPMError(
            f"rate limited ({limit.describe()}): a request's {field} ({budget:,}) alone is over it, "
            f"so no wait can let it through: {label}",
            hint=f"lower {named} well below {limit.limit:,}, which TPM counts whole, or top up to a higher tier",
        )
    if limit.kind == "tpd":
        # A daily budget: waiting seconds does not help, so it is not retried (client.py).
        return TemporaryError(
            f"daily token limit reached: {label}",
            hint="Moonshot's tokens-per-day limit resets daily; rerun later or top up to a higher tier",
        )
    hint = "rerun later; a higher tier (cumulative top-up) raises the limits"
    if limit.kind == "tpm":
        hint = f"lower {named}, which TPM counts whole, and rerun; a higher tier raises the limits"
    return TemporaryError(f"rate limited ({limit.describe()}) after {retries} retries: {label}", hint=hint)
