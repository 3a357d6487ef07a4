"""`--manifest FILE.jsonl|FILE.csv`: a Hugging Face `imagefolder` metadata file.

One row per finished input, written as it finishes: `file_name` (the input's path
relative to FILE's directory, `/`-separated, as imagefolder resolves it), `text` (the
caption), then what produced it (provenance.py): in JSONL a `provenance` object
`{"model", "prompt_hash"}` and the fields of a structured answer (--schema); in CSV
the columns `model,prompt_hash` after `file_name,text`. Name the file `metadata.jsonl` /
`metadata.csv` in the dataset's root for `load_dataset("imagefolder", data_dir=...)`.

Rules:
- every input must be a file under FILE's directory, and FILE must be writable: else
  an error before any request (`check`);
- a rerun adds no duplicate: rows already there are kept and not rewritten
  (`__contains__`); with `overwrite=True` (or `add(replace=True)`: --on-exists stale)
  a new row replaces the old one in place;
- no half row, ever: a new row is one append-mode write() then fsync; a row that
  replaces one rewrites the file atomically (atomic.replace_file). A last row without
  its final newline is kept (the newline added) when it parses, and set aside in
  FILE.torn when it does not (a crash mid-write), before anything is read or added
  (issue 19 item 4);
- a manifest that cannot be written stops the run (errors.OutputBlockedError): every
  input's row goes to the same file, so every later answer would be lost (item 3);
- always valid UTF-8 (item 13): a file name that is not (bytes Python decodes as
  surrogates, PEP 383) is spelled with each such byte as `\\xNN`; a CSV that starts
  with a byte order mark (spreadsheets write one) is read as UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kimi_vision_cli.atomic import check_directory_exists, check_writable, replace_file
from kimi_vision_cli.errors import OutputBlockedError, UsageError
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source

KINDS = {".jsonl": "jsonl", ".csv": "csv"}
CSV_HEADER = ("file_name", "text")  # what a CSV manifest must start with
CSV_COLUMNS = (*CSV_HEADER, "model", "prompt_hash")  # what a new one has
BOM = b"\xef\xbb\xbf"
_READ = ("utf-8", "surrogateescape")  # an older manifest's raw bytes are read, not refused
_WRITE = ("utf-8", "backslashreplace")  # what is written is valid UTF-8, always


def spell(name: str) -> str:
    """A file name as a manifest writes it: as it is when it is valid UTF-8, else each
    byte that is not (a surrogate, PEP 383) as `\\xNN` (Python's backslashreplace)."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name has: escape it too
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


class Manifest:
    def __init__(self, path: Path, *, overwrite: bool = False):
        kind = KINDS.get(path.suffix.lower())
        if kind is None:
            raise UsageError(f"--manifest {path}: unknown kind", hint="name it FILE.jsonl or FILE.csv")
        self.path = path
        self.kind = kind
        self.overwrite = overwrite
        self.root = Path(os.path.abspath(path.parent))
        self.columns: tuple[str, ...] = CSV_COLUMNS  # CSV: an existing file's header decides
        self.set_aside = 0  # bytes of a torn last row moved to `torn` when opening
        self.torn = path.with_name(path.name + ".torn")
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._names = self._load()

    # -- inputs -------------------------------------------------------------------------
    def file_name(self, source: Source, *, root_ok: bool = False) -> str:
        """The row's file_name for an input; UsageError when it cannot be one.
        root_ok: the manifest's directory itself is fine (a directory walked with -r)."""
        if source.kind == "object":  # named by its URL: no local directory holds it (issue 24)
            return spell(source.value)
        if source.kind != "path":
            raise UsageError(
                "--manifest takes files only", input=source.display,
                hint="save the input as a file under the manifest's directory",
            )  # fmt: skip
        rel = os.path.relpath(os.path.abspath(source.value), self.root)
        if (rel == os.curdir and not root_ok) or rel.split(os.sep)[0] == os.pardir:
            raise UsageError(
                f"is outside {self.root}, the directory of --manifest {self.path}",
                input=source.display, hint="put the manifest in the dataset's root directory",
            )  # fmt: skip
        return spell(rel.replace(os.sep, "/"))

    def check(self, sources: Iterable[Source]) -> None:
        """Up front, before any request: every input given (a file, or a directory to
        walk) is under the manifest's directory, which exists, and the manifest can be
        written."""
        for source in sources:
            self.file_name(source, root_ok=source.kind == "path" and os.path.isdir(source.value))
        # A missing directory is not made; a file where it should be fails reading the
        # manifest, in __init__.
        check_directory_exists(self.path, f"--manifest {self.path}", "another --manifest")
        # Its rows go through new files in its directory (the first row, a row replaced),
        # so the directory must take one: tried, not asked (access(2) says yes to root
        # where no file can be made). An existing file must be writable too.
        where = self.path.absolute()
        check_writable(
            where.parent,
            f"--manifest {self.path}",
            "check its permissions and the disk (or pick another --manifest); nothing was sent",
            file=where,
        )

    def __contains__(self, file_name: object) -> bool:
        return file_name in self._names

    def provenance(self, file_name: str) -> Provenance | None:
        """What made the row's caption; Provenance("", "") when the row does not say (a
        CSV with two columns, a row written before provenance was recorded); None when
        there is no row."""
        if file_name not in self._names:
            return None
        return self._names[file_name] or Provenance("", "")

    # -- rows ---------------------------------------------------------------------------
    def row(
        self,
        file_name: str,
        text: str,
        data: dict[str, Any] | None = None,
        provenance: Provenance | None = None,
    ) -> bytes:
        if self.kind == "csv":
            made = provenance.to_dict() if provenance is not None else {}
            cells = {"file_name": file_name, "text": text, **made}
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([cells.get(c, "") for c in self.columns])
            return buf.getvalue().encode(*_WRITE)
        obj: dict[str, Any] = {"file_name": file_name, "text": text}
        if provenance is not None:
            obj["provenance"] = provenance.to_dict()
        for key, value in (data or {}).items():
            obj.setdefault(key, value)
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode(*_WRITE)

    def add(
        self,
        file_name: str,
        text: str,
        data: dict[str, Any] | None = None,
        *,
        provenance: Provenance | None = None,
        replace: bool = False,
    ) -> bool:
        """Write the row for one finished input; False when a row was there and is kept
        (neither `replace` nor overwrite). OutputBlockedError when the file cannot be
        written: every later row would fail the same way."""
        line = self.row(file_name, text, data, provenance)
        with self._lock:
            try:
                if file_name not in self._names:
                    self._append(line)
                elif self.overwrite or replace:
                    self._replace(file_name, line)
                else:
                    return False
            except OSError as exc:
                raise OutputBlockedError(
                    f"cannot write manifest {self.path}: {exc.strerror or exc}", input=file_name,
                    hint="check the disk and the file's permissions; rerun to resume",
                ) from None  # fmt: skip
            self._names[file_name] = provenance
            return True

    def close(self) -> None:
        with self._lock:
            self._close_fd()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the file -----------------------------------------------------------------------
    def _append(self, line: bytes) -> None:
        if not self._names and self._size() == 0:
            # A new file: header and first row at once, atomically (and the directory
            # entry fsynced with it).
            head = (",".join(self.columns) + "\n").encode() if self.kind == "csv" else b""
            self._close_fd()
            replace_file(self.path, head + line)
            return
        self._write_tail(line)

    def _write_tail(self, data: bytes) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def _replace(self, file_name: str, line: bytes) -> None:
        """The file rewritten with `line` where the row(s) for file_name were."""
        out: list[bytes] = []
        placed = False
        for name, raw, _ in self._rows(self._read()):
            if name != file_name:
                out.append(raw)
            elif not placed:
                out.append(line)
                placed = True
        if not placed:
            out.append(line)
        self._close_fd()  # the append handle would point at the replaced file
        replace_file(self.path, b"".join(out))

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _load(self) -> dict[str, Provenance | None]:
        """The rows already there (file_name -> what made it), after mending the tail."""
        try:
            raw = self._mend(self._read())
        except OSError as exc:
            raise UsageError(
                f"--manifest {self.path}: cannot read or mend it: {exc.strerror or exc}"
            ) from None
        return {name: made for name, _, made in self._rows(raw) if name}

    def _mend(self, raw: bytes) -> bytes:
        """A last row without its final newline: kept, the newline added, when it parses
        (an editor or another tool wrote it so); else set aside in FILE.torn (a crash cut
        it) and cut off, so the input is described again and no byte is lost."""
        keep = _whole_rows(raw, self.kind)
        tail = raw[keep:]
        if not tail.strip():
            return raw
        if _parses(tail, self.kind, first=keep == 0):
            self._write_tail(b"\n")
            self._close_fd()
            return raw + b"\n"
        fd = os.open(self.torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, tail if tail.endswith(b"\n") else tail + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.truncate(self.path, keep)
        self.set_aside = len(tail)
        return raw[:keep]

    def _rows(self, raw: bytes) -> list[tuple[str, bytes, Provenance | None]]:
        """(file_name, the row's bytes, its provenance) for every row; the CSV header is
        kept as a row named ''. UsageError names the first row that is not one of ours."""
        if self.kind == "csv":
            return self._csv_rows(raw)
        rows = []
        for n, line in enumerate(raw.splitlines(keepends=True), 1):
            if not line.strip():
                continue
            obj = _json_row(line, first=n == 1)
            if obj is None:
                raise UsageError(
                    f"--manifest {self.path}: line {n} is not a JSON object with a file_name",
                    hint="point --manifest at a metadata.jsonl file (or a new one)",
                )
            rows.append((spell(obj["file_name"]), line, Provenance.from_dict(obj.get("provenance"))))
        return rows

    def _csv_rows(self, raw: bytes) -> list[tuple[str, bytes, Provenance | None]]:
        if not raw:
            return []
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig", "surrogateescape"), newline=""))
        header = next(reader, None)
        if header is None or tuple(header[:2]) != CSV_HEADER:
            raise UsageError(
                f"--manifest {self.path}: the header is not file_name,text",
                hint="point --manifest at a metadata.csv this tool wrote (or a new one)",
            )
        self.columns = tuple(header)
        bom = BOM if raw.startswith(BOM) else b""
        rows: list[tuple[str, bytes, Provenance | None]] = [("", bom + _csv_line(header), None)]
        for fields in reader:
            if fields:
                cells = dict(zip(header, fields, strict=False))
                rows.append((spell(fields[0]), _csv_line(fields), Provenance.from_dict(cells)))
        return rows


def _csv_line(fields: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().encode(*_READ)


def _json_row(line: bytes, *, first: bool) -> dict[str, Any] | None:
    """A JSONL row as an object with a file_name, or None. The first line may start with
    a byte order mark."""
    try:
        obj = json.loads(line.decode("utf-8-sig" if first else "utf-8", "surrogateescape"))
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("file_name"), str) else None


def _parses(tail: bytes, kind: str, *, first: bool) -> bool:
    """A last row without its newline is whole: JSON that parses, or CSV with its quotes
    closed and both fields there."""
    if kind == "jsonl":
        return _json_row(tail, first=first) is not None
    if tail.count(b'"') % 2:
        return False
    fields = next(csv.reader(io.StringIO(tail.decode(*_READ), newline="")), [])
    return len(fields) >= 2 and bool(fields[0])


def _whole_rows(raw: bytes, kind: str) -> int:
    """How many leading bytes hold whole rows: up to the last newline that ends a row
    (in CSV, one outside quotes: a caption may hold newlines)."""
    end = raw.rfind(b"\n") + 1
    if kind == "csv":
        while end and raw.count(b'"', 0, end) % 2:
            end = raw.rfind(b"\n", 0, end - 1) + 1
    return end
