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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.settings import cache_dir

if TYPE_CHECKING:
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.errors import KimiVisionError

CACHE_NAME = "uploads.json"
_LOCK = threading.Lock()  # describe -j N uploads from several threads


def cache_key(data: bytes | bytearray, purpose: str, base_url: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest}:{purpose}:{base_url.rstrip('/')}"


@dataclass
class Uploaded:
    file_id: str
    purpose: str
    bytes: int
    cached: bool


class UploadCache:
    """The record of uploads. It is also what `files prune` deletes, so a damaged or
    unwritable file is said (once per run, through `warn`), never silently dropped: a
    damaged file is moved aside, not overwritten."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None):
        self.path = path
        self._warn = warn
        self._said: set[str] = set()

    @classmethod
    def for_env(cls, env: dict[str, str], warn: Callable[[str], None] | None = None) -> UploadCache:
        return cls(cache_dir(env) / CACHE_NAME, warn)

    def _say(self, text: str) -> None:
        if self._warn is not None and text not in self._said:
            self._said.add(text)
            self._warn(text)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._say(
                f"cannot read the upload cache {self.path}: {exc.strerror or exc}; uploads are not reused"
            )
            return {}
        try:
            doc = json.loads(raw)
            entries = doc["entries"] if isinstance(doc, dict) else None
            if not isinstance(entries, dict):
                raise ValueError("no entries table")
        except (ValueError, KeyError):
            self._set_aside()
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict) and v.get("file_id")}

    def _set_aside(self) -> None:
        """A damaged cache still names files this tool uploaded: keep it for the user."""
        aside = self.path.with_name(self.path.name + ".damaged")
        try:
            self.path.replace(aside)
        except OSError:
            aside = self.path
        self._say(
            f"the upload cache {self.path} was damaged (kept as {aside}); "
            "`files prune` cannot see the uploads it recorded (`files list` shows every file)"
        )

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        try:
            doc = {"version": 1, "entries": entries}
            replace_file(self.path, json.dumps(doc, indent=1, sort_keys=True).encode(), private=True)
        except OSError as exc:
            # The upload itself succeeded; only its record is lost: said, not fatal.
            self._say(
                f"cannot write the upload cache {self.path}: {exc.strerror or exc}; "
                "`files prune` will not find this run's uploads"
            )

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

    def record(self, file_id: str, purpose: str, base_url: str, what: str) -> None:
        """A file of this tool's that no bytes will be matched against (a batch's request
        JSONL, the output and error files its batches produced): recorded so that
        `files prune` deletes it too (issue 19.10). Recording it again changes nothing."""
        key = f"{file_id}#{purpose}:{base_url.rstrip('/')}"  # ends ":<base>", as file_ids() reads
        with _LOCK:
            entries = self._load()
            if key in entries:
                return
            entries[key] = {"file_id": file_id, "purpose": purpose, "input": what, "uploaded_at": time.time()}
            self._save(entries)

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
    data: bytes | bytearray,
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


# DELETEs in flight at once for `files delete` and `files prune`: a thousand deletions
# at a network round trip each take minutes one by one. Kept small because Moonshot's
# rate limits are per account; a 429 is retried by the SDK like any other call.
DELETE_WORKERS = 4


def delete_files(
    client: MoonshotClient, ids: list[str], *, stop: Callable[[], bool], workers: int = DELETE_WORKERS
) -> Iterator[tuple[str, KimiVisionError | None]]:
    """Delete `ids`, `workers` at a time; yield (id, None) or (id, the error) in the order
    given. Once `stop()` is true no new deletion starts: those in flight finish and are
    still yielded (a file deleted must be reported and leave the upload cache)."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from kimi_vision_cli.errors import KimiVisionError

    def one(fid: str) -> KimiVisionError | None:
        try:
            client.delete_file(fid)
        except KimiVisionError as err:
            return err
        return None

    todo = iter(ids)
    window: deque[tuple[str, Future[KimiVisionError | None]]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kimi-vision-delete")
    try:
        while True:
            # At most `workers` submitted ahead: a stop (or Ctrl-C) leaves nothing queued.
            while len(window) < workers and not stop():
                fid = next(todo, None)
                if fid is None:
                    break
                window.append((fid, pool.submit(one, fid)))
            if not window:
                return
            fid, done = window.popleft()
            yield fid, done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
