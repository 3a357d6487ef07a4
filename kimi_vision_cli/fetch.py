"""Download an http(s) URL input (the API takes no URLs): size cap, timeout,
redirects followed only to http(s)."""

from __future__ import annotations

import urllib.error
import urllib.request

from kimi_vision_cli.discover import display_name
from kimi_vision_cli.errors import InputError, TemporaryError

MAX_URL_BYTES = 100 * 1024 * 1024


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not newurl.lower().startswith(("http://", "https://")):
            raise InputError(
                f"redirected to a non-http(s) URL ({display_name(newurl)})",
                input=display_name(req.full_url),
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(url: str, *, timeout: float = 60.0, max_bytes: int = MAX_URL_BYTES) -> bytes:
    name = display_name(url)
    if not url.lower().startswith(("http://", "https://")):
        raise InputError("unsupported URL scheme", input=name, hint="use http(s)://")
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": "kimi-vision"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise InputError(
                    f"download is {int(length):,} bytes, over the {max_bytes:,}-byte cap",
                    input=name,
                    hint="download it yourself and pass the file",
                )
            data = resp.read(max_bytes + 1)
    except InputError:
        raise
    except urllib.error.HTTPError as exc:
        raise InputError(f"download failed: HTTP {exc.code}", input=name) from None
    except TimeoutError:
        raise InputError(f"download timed out after {timeout:g}s", input=name) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise InputError(f"download timed out after {timeout:g}s", input=name) from None
        raise TemporaryError(f"download failed: {reason}", input=name) from None
    if len(data) > max_bytes:
        raise InputError(
            f"download is over the {max_bytes:,}-byte cap",
            input=name,
            hint="download it yourself and pass the file",
        )
    return data
