"""Object storage through fsspec (issue 24): `s3://`, `gs://`, `az://` and `hf://` inputs
(a key, or a prefix walked with -r), and the store that sidecars and manifests are
written to (output/objects.py). What both share (schemes, the filesystem of a URL,
scrubbing, failures) is in stores.py.

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

from collections.abc import Iterator
from typing import Any

from kimi_vision_cli.errors import InputError, KimiVisionError
from kimi_vision_cli.stores import failure, filesystem, scheme_of

_CHUNK = 1 << 20


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
