"""Object storage through fsspec (issue 24): `s3://`, `gs://`, `az://` and `hf://` inputs
(a key, or a prefix walked with -r), and the store that sidecars and manifests are
written to (output/objects.py).

- Each backend is its own package, installed as an extra (`[s3]` s3fs, `[gcs]` gcsfs,
  `[azure]` adlfs, `[hf]` huggingface_hub); fsspec is imported on first use only (start-up,
  tests/test_structure.py).
- Credentials come from the backend's own chain (for S3: the AWS_* environment, the
  profile, AWS_ENDPOINT_URL for compatible stores); they are never passed through here,
  and every message from a backend is scrubbed of the secrets the environment holds.
- A walk is streamed a "directory" level at a time (fsspec's walk with the listing cache
  off): what is held is the listings of the levels down to the current one, not the tree.
- A read obeys the same cap as a file (discover.MAX_READ_BYTES): the size is asked first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
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
_CHUNK = 1 << 20


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


def read_object(url: str, max_bytes: int, name: str) -> bytes:
    """The whole object, refused before it is read when it is over `max_bytes`."""
    fs, path = filesystem(url)
    try:
        size = fs.size(path)
        if size is None:
            size = 0
        if size > max_bytes:
            raise InputError(f"object is too large ({size:,} bytes)", input=name)
        if size == 0 and fs.isdir(path):
            raise IsADirectoryError(path)
        data = bytearray()
        with fs.open(path, "rb") as fh:
            while len(data) <= max_bytes:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                data += chunk
    except Exception as exc:  # a backend's own exceptions (botocore, aiohttp...): ours here
        raise failure(exc, name) from None
    if len(data) > max_bytes:  # it grew since its size was asked
        raise InputError(f"object is too large (over {max_bytes:,} bytes)", input=name)
    if not data:
        raise InputError("object is empty", input=name, hint="pass an image or video object")
    return bytes(data)


def is_prefix(url: str) -> bool:
    """A URL ending in `/`, or one the store says is a directory (asked with -r only)."""
    if url.endswith("/"):
        return True
    fs, path = filesystem(url)
    try:
        return bool(fs.isdir(path))
    except Exception as exc:
        raise failure(exc, url) from None


def walk_keys(url: str, skips: Any, wanted: Any) -> Iterator[str]:
    """The URLs of the objects under prefix `url`, sorted within each level, depth first.
    `skips(rel, name, is_dir)`: left out (--hidden, --exclude); `wanted(name)`: a media
    extension. Raises a KimiVisionError when the listing fails."""
    fs, root = filesystem(url)
    root = root.rstrip("/")
    scheme = scheme_of(url)
    try:
        for here, dirs, files in fs.walk(root, topdown=True, on_error="raise"):
            rel_here = here.rstrip("/")[len(root) :].lstrip("/")
            kept = sorted(d for d in dirs if not skips(_join(rel_here, d), d, True))
            dirs[:] = kept  # pruned in place: an excluded or hidden prefix is not listed
            for name in sorted(files):
                rel = _join(rel_here, name)
                if wanted(name) and not skips(rel, name, False):
                    yield f"{scheme}://{_join(root, rel)}"
    except FileNotFoundError:
        return  # nothing under it: the caller says "no image or video found"
    except KimiVisionError:
        raise
    except Exception as exc:
        raise failure(exc, url, "prefix") from None


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b
