"""Download an http(s) URL input (the API takes no URLs): size cap, timeout,
redirects followed only to http(s). The bytes are then sniffed like a file's."""

from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import IO, Any

from kimi_vision_cli.errors import InputError, TemporaryError
from kimi_vision_cli.moonshot import FILE_LIMIT
from kimi_vision_cli.types import display_name

# Moonshot takes at most 100 MB per request or file: a bigger download cannot be sent.
MAX_URL_BYTES = FILE_LIMIT  # nothing larger could be sent or uploaded as it is
# Env override of the cap in bytes (tests use a small one; documented in the README).
MAX_DOWNLOAD_ENV = "KIMI_VISION_MAX_DOWNLOAD"
_CHUNK = 1 << 16


def max_download(env: Mapping[str, str]) -> int:
    raw = env.get(MAX_DOWNLOAD_ENV, "").strip()
    if not raw:
        return MAX_URL_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{MAX_DOWNLOAD_ENV}={raw!r} is not a positive number of bytes")
    return value


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """urllib follows ftp:// redirects and reports file:// ones as a bare HTTP 302;
    both are refused here, by name, before anything is opened."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> Any:  # the base's own return type (typeshed: Any)
        location = headers.get("location") or headers.get("uri") or ""
        newurl = urllib.parse.urljoin(req.full_url, location.strip())
        if not newurl.lower().startswith(("http://", "https://")):
            raise InputError(
                f"redirected to a non-http(s) URL ({display_name(newurl)})",
                input=display_name(req.full_url),
                hint="only http(s) redirects are followed",
            )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _too_big(name: str, size: str, max_bytes: int) -> InputError:
    return InputError(
        f"download is {size}over the {max_bytes:,}-byte cap",
        input=name,
        hint="download it yourself and pass the file",
    )


def _request(url: str) -> urllib.request.Request:
    """urllib cannot take `user:password@` in a URL: send it as Basic auth instead, as an
    unredirected header so a redirect to another host never receives it."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url, headers={"User-Agent": "kimi-vision"})
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    request = urllib.request.Request(
        parts._replace(netloc=netloc).geturl(), headers={"User-Agent": "kimi-vision"}
    )
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _check_url(url: str, name: str) -> None:
    """A URL that cannot work is a bad input (exit 2), not a network error to rerun (75)."""
    if not url.lower().startswith(("http://", "https://")):
        raise InputError("unsupported URL scheme", input=name, hint="use http(s)://")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InputError(
            "URL holds spaces or control characters", input=name, hint="percent-encode them (%20)"
        )
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError as exc:
        raise InputError(f"invalid URL: {exc}", input=name, hint="check the URL") from None
    if not host:
        raise InputError("URL has no host", input=name, hint="e.g. https://example.com/photo.jpg")


def _read_body(resp: Any, name: str, max_bytes: int, deadline: float, slow: TemporaryError) -> bytearray:
    """The response's body, up to one byte over `max_bytes`; `slow` once past `deadline`."""
    length = resp.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise _too_big(name, f"{int(length):,} bytes, ", max_bytes)
    data = bytearray()
    while len(data) <= max_bytes:
        if time.monotonic() > deadline:
            raise slow
        chunk = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
        if not chunk:
            break
        data += chunk
    return data


def fetch_url(
    url: str, *, timeout: float = 60.0, total: float | None = None, max_bytes: int = MAX_URL_BYTES
) -> bytes:
    """The body of `url`. `timeout` bounds connecting and each read; `total` (default:
    `timeout`) the whole download: a server trickling a byte a second must not hold the run."""
    total = timeout if total is None else total
    name = display_name(url)
    _check_url(url, name)
    deadline = time.monotonic() + total
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    try:
        request = _request(url)
    except ValueError as exc:  # a bad port, say
        raise InputError(f"invalid URL: {exc}", input=name) from None
    # A timeout is temporary, like a 5xx (issue 11): rerunning may finish, so exit 75, not "bad input".
    slow = TemporaryError(
        f"download took longer than {total:g}s", input=name, hint="rerun, or raise --timeout"
    )
    try:
        with opener.open(request, timeout=timeout) as resp:
            data = _read_body(resp, name, max_bytes, deadline, slow)
    except (InputError, TemporaryError):
        raise
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise TemporaryError(
                f"download failed: HTTP {exc.code}", input=name, hint="rerun later"
            ) from None
        raise InputError(f"download failed: HTTP {exc.code}", input=name, hint="check the URL") from None
    except TimeoutError:
        raise slow from None
    except ValueError as exc:  # http.client.InvalidURL and friends
        raise InputError(f"invalid URL: {exc}", input=name) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise slow from None
        raise TemporaryError(f"download failed: {reason}", input=name, hint="check the network") from None
    if len(data) > max_bytes:
        raise _too_big(name, "", max_bytes)
    return bytes(data)
