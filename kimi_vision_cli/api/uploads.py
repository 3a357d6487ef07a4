"""Uploads remembered by content: the same prepared bytes are never sent twice.

A small JSON file under the user cache dir (`$XDG_CACHE_HOME/kimi-vision/uploads.json`)
maps sha256(prepared bytes) + purpose + base URL to the file id Moonshot gave. It is
also the record of what this tool uploaded, which `files prune` deletes.
Writes are atomic (temp file + rename), re-reading the file first so that two runs
at once lose no entry.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.settings import cache_dir

if TYPE_CHECKING:
    from kimi_vision_cli.api.client import MoonshotClient

CACHE_NAME = "uploads.json"
_LOCK = threading.Lock()  # describe -j N uploads from several threads


def cache_key(data: bytes, purpose: str, base_url: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest}:{purpose}:{base_url.rstrip('/')}"


@dataclass
class Uploaded:
    file_id: str
    purpose: str
    bytes: int
    cached: bool


class UploadCache:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_env(cls, env: dict[str, str]) -> UploadCache:
        return cls(cache_dir(env) / CACHE_NAME)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: a cache, so start again rather than fail
        entries = doc.get("entries") if isinstance(doc, dict) else None
        return {k: v for k, v in (entries or {}).items() if isinstance(v, dict) and v.get("file_id")}

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            doc = {"version": 1, "entries": entries}
            replace_file(self.path, json.dumps(doc, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # an unwritable cache only costs a re-upload next time

    def get(self, key: str) -> dict[str, Any] | None:
        with _LOCK:
            return self._load().get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with _LOCK:
            entries = self._load()
            entries[key] = entry
            self._save(entries)

    def forget(self, file_ids: set[str]) -> None:
        with _LOCK:
            entries = self._load()
            kept = {k: v for k, v in entries.items() if v.get("file_id") not in file_ids}
            if len(kept) != len(entries):
                self._save(kept)

    def file_ids(self, base_url: str) -> list[str]:
        """Ids this tool uploaded to this endpoint, oldest first."""
        base = base_url.rstrip("/")
        with _LOCK:
            entries = self._load()
        rows = [e for k, e in entries.items() if k.endswith(":" + base)]
        rows.sort(key=lambda e: e.get("uploaded_at", 0))
        return [str(e["file_id"]) for e in rows]


def upload_bytes(
    client: MoonshotClient,
    cache: UploadCache | None,
    data: bytes,
    purpose: str,
    mime: str,
    *,
    base_url: str,
    name: str = "",
    reuse: bool = True,
) -> Uploaded:
    """Upload `data` (or reuse the id of an earlier upload of the same bytes).
    `reuse=False` (--no-cache) uploads again but still records the id, under a key of
    its own, so that `files prune` finds it."""
    from kimi_vision_cli.errors import FileMissingError

    key = cache_key(data, purpose, base_url)
    if cache is not None and reuse:
        entry = cache.get(key)
        if entry is not None:
            try:
                # One cheap GET: an id deleted since (files prune, the web console) is re-uploaded.
                client.retrieve_file(str(entry["file_id"]))
                return Uploaded(str(entry["file_id"]), purpose, len(data), cached=True)
            except FileMissingError:
                cache.forget({str(entry["file_id"])})
    file_id = client.upload(data, upload_filename(mime), purpose)
    if cache is not None:
        cache.put(
            key if reuse else f"{file_id}#{key}",
            {
                "file_id": file_id, "purpose": purpose, "bytes": len(data), "mime": mime,
                "input": name, "uploaded_at": time.time(),
            },
        )  # fmt: skip
    return Uploaded(file_id, purpose, len(data), cached=False)


def upload_filename(mime: str) -> str:
    """A neutral name with the right extension: the local file name never leaves the machine."""
    ext = mime.split("/")[-1].replace("x-", "").replace("quicktime", "mov").replace("msvideo", "avi")
    return f"upload.{ext or 'bin'}"
