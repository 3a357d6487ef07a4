"""Captions back to object storage (issue 24): `--output-dir s3://...` and
`--manifest s3://.../metadata.jsonl` (docs/storage.md says the design).

- A sidecar is one object, written whole by one PUT: a store shows the old object or the
  new one, never part of one (S3, GCS and Azure blob writes are atomic per object).
- Object stores have no append, so a manifest there is kept in memory and the whole
  object is rewritten at checkpoints: every `rows` new rows or `seconds` seconds,
  whichever comes first, and at the end of the run. A crash loses at most the rows since
  the last checkpoint; their inputs are described again by a rerun (or filled from their
  sidecars, with no request, when --output-dir was given too). Every checkpoint sends the
  whole manifest again: for millions of rows, give each --shard its own manifest.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from kimi_vision_cli import stores
from kimi_vision_cli.errors import KimiVisionError, OutputBlockedError, OutputError, UsageError, quote_name
from kimi_vision_cli.output.manifest import KINDS, Manifest, spell
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source, counted, display_name

CHECKPOINT_ROWS_ENV = "KIMI_VISION_CHECKPOINT_ROWS"  # tests and small runs: rows between rewrites
CHECKPOINT_ROWS = 500
CHECKPOINT_SECONDS = 30.0
WRITE_CHECK = ".kimi-vision-write-check"  # the key --output-dir's write check names (never made)


class ObjectDir:
    """A prefix in object storage that sidecars are written under."""

    def __init__(self, url: str, *, warn: Callable[[str], None] | None = None):
        """`warn`: where the write check says it left an upload open (see writable());
        None: that is raised as an error instead, never left unsaid."""
        self.url = url.rstrip("/")
        self.warn = warn
        self.fs, self.root = stores.filesystem(self.url)
        self.root = self.root.rstrip("/")

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def check(self, key: str = WRITE_CHECK) -> None:
        """Up front: the bucket can be reached with the credentials the chain gives, and
        `key` (under the prefix) can be written there: see writable()."""
        bucket = self.root.split("/", 1)[0]
        try:
            if not self.fs.exists(bucket):
                raise UsageError(
                    f"{display_name(self.url)}: no such bucket", hint="create it, or pick another"
                )
        except KimiVisionError:
            raise
        except Exception as exc:
            raise _blocked(exc, self.url) from None
        self.writable(key)

    def writable(self, rel: str) -> None:
        """OutputBlockedError unless `rel` can be written, found without writing it: an
        upload opened uncommitted (fsspec autocommit=False; in s3fs a multipart upload,
        which asks for s3:PutObject) and then discarded (the upload aborted). No object,
        version or delete marker is left, so a dry run writes nothing still. Done on S3
        only: another backend may commit such a file on close (docs/storage.md). When the
        abort is refused (it asks for s3:AbortMultipartUpload, not PutObject), the upload
        stays open and billed: said in one line, with how to abort it."""
        if not self.url.startswith("s3://"):
            return
        where = f"{self.url}/{rel}"
        try:
            probe = self.fs.open(self.full(rel), "wb", autocommit=False)
        except Exception as exc:
            raise _blocked(exc, where, start=True) from None
        try:
            probe.write(b"kimi-vision write check\n")
            probe.close()  # the upload is begun (and its part sent), not completed
        except Exception as exc:
            with contextlib.suppress(OutputBlockedError):  # why the check failed comes first
                self._discard(probe, rel)
            raise _blocked(exc, where, start=True) from None
        self._discard(probe, rel)

    def _discard(self, probe: Any, rel: str) -> None:
        """The probe's upload aborted. Discarding fails only once an upload was begun (s3fs
        aborts nothing before), so a failure leaves one open: warned, never silent."""
        upload = getattr(probe, "mpu", None) or {}  # s3fs: the upload begun (UploadId)
        try:
            probe.discard()
        except Exception as exc:
            bucket, key = (shlex.quote(display_name(x)) for x in self.full(rel).split("/", 1))
            said = (
                f"the write check left an unfinished upload of {display_name(f'{self.url}/{rel}')} "
                f"(its abort was refused: {stores.scrub(str(exc) or type(exc).__name__)}), billed "
                f"until aborted: aws s3api abort-multipart-upload --bucket {bucket} --key {key} "
                f"--upload-id {upload.get('UploadId', 'ID')} (aws s3api list-multipart-uploads "
                f"--bucket {bucket} lists them; allow s3:AbortMultipartUpload to avoid this)"
            )
            if self.warn is None:
                raise OutputBlockedError(said) from None
            self.warn(said)

    def exists(self, rel: str) -> bool:
        try:
            return bool(self.fs.exists(self.full(rel)))
        except Exception:
            return False  # the write will say why

    def read(self, rel: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self.full(rel)))
        except Exception as exc:
            raise OSError(stores.scrub(str(exc))) from None

    def write(self, rel: str, data: bytes, *, input: str) -> None:
        try:
            self.fs.pipe_file(self.full(rel), data)  # one PUT: whole or not there
        except Exception as exc:
            raise _blocked(exc, f"{self.url}/{rel}", input=input) from None


def _blocked(
    exc: BaseException, where: str, *, input: str | None = None, start: bool = False
) -> OutputBlockedError:
    """Every later write would fail the same way (credentials, bucket, network): stop.
    `start`: found by the check before any request."""
    return OutputBlockedError(
        f"cannot write {display_name(where)}: {stores.scrub(str(exc) or type(exc).__name__)}",
        input=input,
        hint="check the credentials and the bucket's policy; nothing was sent"
        if start
        else "check the credentials and the bucket; rerun to resume",
    )


class ObjectManifest(Manifest):
    """A Manifest whose file is an object, rewritten whole at checkpoints."""

    def __init__(
        self,
        url: str,
        *,
        overwrite: bool = False,
        rows: int | None = None,
        seconds: float = CHECKPOINT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        warn: Callable[[str], None] | None = None,
    ):
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if KINDS.get(os.path.splitext(name)[1].lower()) is None:
            raise UsageError(f"--manifest {url}: unknown kind", hint="name it FILE.jsonl or FILE.csv")
        self.url = url
        parent = url.rsplit("/", 1)[0]
        self.store = ObjectDir(parent, warn=warn)
        self.rel = name
        self.every_rows = rows or _rows_from_env()
        self.every_seconds, self.clock = seconds, clock
        self._lines: dict[str, bytes] = {}
        self._header = b""
        self._pending, self._last = 0, clock()
        self._unsaved: dict[str, None] = {}  # rows since the last checkpoint, in order
        super().__init__(PurePosixPath(name), overwrite=overwrite)  # type: ignore[arg-type]
        self.path = PurePosixPath(url)  # type: ignore[assignment]  # named in messages

    # -- inputs --------------------------------------------------------------------------
    def file_name(self, source: Source, *, root_ok: bool = False) -> str:
        """An object under the manifest's prefix: its key relative to it (what imagefolder
        resolves); any other object: its whole URL."""
        if source.kind != "object":
            raise UsageError(
                f"--manifest {self.url} takes object-storage inputs only", input=source.display,
                hint="write a manifest for local files to a local FILE.jsonl",
            )  # fmt: skip
        prefix = self.store.url + "/"
        if source.value.startswith(prefix) and len(source.value) > len(prefix):
            return spell(source.value[len(prefix) :].rstrip("/"))
        return spell(source.value.rstrip("/") if root_ok else source.value)

    def check(self, sources: Iterable[Source]) -> None:
        for source in sources:
            self.file_name(source, root_ok=True)
        self.store.check(self.rel)  # the manifest's own key can be written (not written)

    # -- the object ----------------------------------------------------------------------
    def _load(self) -> dict[str, Provenance | None]:
        """The rows already there, parsed once: kept in memory as they are (an object is
        written whole, never torn; another tool's last row without its newline gets one
        when rewritten), and their names with what made them."""
        try:
            raw = self.store.read(self.rel) if self.store.exists(self.rel) else b""
        except OSError as exc:
            raise UsageError(f"--manifest {self.url}: cannot read it: {exc}") from None
        names: dict[str, Provenance | None] = {}
        for name, line, made in self._rows(raw):
            line = line if line.endswith(b"\n") else line + b"\n"
            if name:
                self._lines[name], names[name] = line, made
            else:
                self._header = line  # the CSV header
        return names

    def add(
        self,
        file_name: str,
        text: str,
        data: dict[str, Any] | None = None,
        *,
        provenance: Provenance | None = None,
        replace: bool = False,
    ) -> bool:
        """The row kept in memory (a replaced one keeps its place); the object rewritten
        when a checkpoint is due. OutputBlockedError when it cannot be written."""
        line = self.row(file_name, text, data, provenance)
        with self._lock:
            if file_name in self._names and not (self.overwrite or replace):
                return False
            self._lines[file_name] = line
            self._names[file_name] = provenance
            self._unsaved[file_name] = None
            self._pending += 1
            if self._pending >= self.every_rows or self.clock() - self._last >= self.every_seconds:
                self._checkpoint()
            return True

    def _checkpoint(self) -> None:
        """The whole manifest written as one object (nothing when no row is new)."""
        if not self._pending:
            return
        head = self._header or ((",".join(self.columns) + "\n").encode() if self.kind == "csv" else b"")
        self.store.write(self.rel, head + b"".join(self._lines.values()), input=self.url)
        self._pending, self._last = 0, self.clock()
        self._unsaved.clear()

    def close(self) -> None:
        """The last checkpoint. Its inputs were counted done: when it fails, an OutputError
        (exit 1) names the rows that were not saved, for the command to report."""
        with self._lock:
            try:
                self._checkpoint()
            except OutputError as err:
                raise OutputError(
                    f"{err.message}: {_rows_lost(list(self._unsaved))}",
                    hint="their answers are in this run's output only; rerun to add their rows "
                    "(describe asks again for those with no sidecar under --output-dir)",
                ) from None

    def _close_fd(self) -> None:
        pass  # no file handle: the object is written whole


def _rows_lost(names: list[str], shown: int = 5) -> str:
    """`3 rows not saved (a, b, c)`: the first few named, then how many more."""
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    listed = ", ".join(quote_name(display_name(n)) for n in names[:shown])
    return f"{counted(len(names), 'row')} not saved ({listed}{more})"


def _rows_from_env() -> int:
    raw = os.environ.get(CHECKPOINT_ROWS_ENV, "").strip()
    try:
        value = int(raw) if raw else CHECKPOINT_ROWS
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{CHECKPOINT_ROWS_ENV}={raw!r} is not a positive number of rows")
    return value
