"""Object storage access that inputs/ (reading, walking) and output/ (sidecars and
manifests written back) share (issue 24; issue 21, item 4: neither peer imports the
other): the schemes and the extras that serve them, the fsspec filesystem of a URL,
secrets scrubbed from a backend's messages, and a backend's exception as one of ours.
fsspec is imported on first use only (start-up, tests/test_structure.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kimi_vision_cli.errors import AuthError, InputError, KimiVisionError, TemporaryError, UsageError

# scheme -> (the extra that installs its backend, the backend's package)
SCHEMES = {
    "s3": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("azure", "adlfs"),
    "abfs": ("azure", "adlfs"),
    "hf": ("hf", "huggingface_hub"),
}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Typer hands --output-dir/--manifest over as a Path, which folds `s3://b/k` to `s3:/b/k`.
_FOLDED = re.compile(r"^(" + "|".join(SCHEMES) + r"):/(?!/)")
# Environment variables whose values are secrets of a backend's chain: never printed.
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
)  # fmt: skip


def scheme_of(text: str) -> str | None:
    """The object-storage scheme of `text` (lower case), or None for anything else."""
    m = _URL.match(text)
    scheme = m.group(1).lower() if m else None
    return scheme if scheme in SCHEMES else None


def unfold(value: object) -> str | None:
    """An --output-dir/--manifest value as an object URL, or None when it is a local path."""
    if value is None:
        return None
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if scheme_of(text):
        return text
    m = _FOLDED.match(text)
    return f"{m.group(1)}://{text[m.end() :]}" if m else None


def scrub(text: str, env: Mapping[str, str] | None = None) -> str:
    """A backend's message without any secret of its credential chain."""
    env = os.environ if env is None else env
    for name in SECRET_ENV:
        value = env.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for an object URL. UsageError naming the extra
    to install when the backend is missing: no input of that scheme could be read."""
    scheme = scheme_of(url) or ""
    extra, package = SCHEMES[scheme]
    try:
        import fsspec  # noqa: F401  (the error below names what to install)
        from fsspec.core import url_to_fs

        # No listing cache: a walk keeps one level's listing, not the whole tree.
        fs, root = url_to_fs(url, use_listings_cache=False)
        return fs, str(root)
    except ImportError:
        raise UsageError(
            f"{scheme}:// needs the {package} package",
            input=url,
            hint=f"pip install 'kimi-vision[{extra}]'",
        ) from None


def require_backends(urls: Iterable[str]) -> None:
    """Up front: the backend of every object URL given is installed (UsageError, exit 2)."""
    for url in urls:
        if scheme_of(url):
            filesystem(url)


def failure(exc: BaseException, name: str, what: str = "object") -> KimiVisionError:
    """A backend's exception as one of ours, scrubbed: missing -> InputError; denied or no
    credentials -> AuthError naming the chain (SPEC: permission is exit 3 and stops the
    run: every other object would fail the same way); anything else (network, 5xx)
    temporary."""
    message = scrub(str(exc) or type(exc).__name__)
    if isinstance(exc, KimiVisionError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return InputError(f"no such {what}", input=name, hint="check the bucket and key")
    if isinstance(exc, IsADirectoryError):
        return InputError("is a prefix", input=name, hint="pass -r to walk it")
    if isinstance(exc, PermissionError) or "credential" in type(exc).__name__.lower():
        return AuthError(
            f"cannot access object storage: {message}",
            input=name,
            hint="check the store's credentials (for S3: the AWS_* variables, AWS_PROFILE); docs/storage.md",
        )
    return TemporaryError(f"object storage failed: {message}", input=name, hint="rerun later")
