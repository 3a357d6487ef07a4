"""`--manifest FILE.jsonl|FILE.csv`: a Hugging Face `imagefolder` metadata file.

One row per finished input, written as it finishes: `file_name` (the input's path
relative to FILE's directory, `/`-separated, as imagefolder resolves it), `text` (the
caption), and in JSONL the fields of a structured answer (--schema) after them. CSV has
the header `file_name,text`. Name the file `metadata.jsonl` / `metadata.csv` in the
dataset's root for `load_dataset("imagefolder", data_dir=...)` to find it.

Rules:
- every input must be a file under FILE's directory: anything else is a usage error
  before any request (`check`);
- a rerun adds no duplicate: rows already there are kept and not rewritten
  (`__contains__`); with `overwrite=True` a new row replaces the old one in place;
- no half row, ever: a new row is one append-mode write() then fsync; a row that
  replaces one rewrites the file atomically (atomic.replace_file); and a tail torn by a
  crash mid-write (no final newline, or an open CSV quote) is cut off when the file is
  opened again, before anything is read or added.
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

from kimi_vision_cli.atomic import replace_file
from kimi_vision_cli.errors import OutputError, UsageError
from kimi_vision_cli.inputs.discover import Source

KINDS = {".jsonl": "jsonl", ".csv": "csv"}
CSV_HEADER = ("file_name", "text")
_ENC = ("utf-8", "surrogateescape")  # file names with undecodable bytes keep their bytes


class Manifest:
    def __init__(self, path: Path, *, overwrite: bool = False):
        kind = KINDS.get(path.suffix.lower())
        if kind is None:
            raise UsageError(f"--manifest {path}: unknown kind", hint="name it FILE.jsonl or FILE.csv")
        self.path = path
        self.kind = kind
        self.overwrite = overwrite
        self.root = Path(os.path.abspath(path.parent))
        self.repaired = 0  # bytes of a torn last row cut off when opening
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._names = self._load()

    # -- inputs -------------------------------------------------------------------------
    def file_name(self, source: Source, *, root_ok: bool = False) -> str:
        """The row's file_name for an input; UsageError when it cannot be one.
        root_ok: the manifest's directory itself is fine (a directory walked with -r)."""
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
        return rel.replace(os.sep, "/")

    def check(self, sources: Iterable[Source]) -> None:
        """Up front, before any request: every input given (a file, or a directory to
        walk) is under the manifest's directory."""
        for source in sources:
            self.file_name(source, root_ok=source.kind == "path" and os.path.isdir(source.value))

    def __contains__(self, file_name: object) -> bool:
        return file_name in self._names

    # -- rows ---------------------------------------------------------------------------
    def row(self, file_name: str, text: str, data: dict[str, Any] | None = None) -> bytes:
        if self.kind == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([file_name, text])
            return buf.getvalue().encode(*_ENC)
        obj: dict[str, Any] = {"file_name": file_name, "text": text}
        for key, value in (data or {}).items():
            obj.setdefault(key, value)
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode(*_ENC)

    def add(self, file_name: str, text: str, data: dict[str, Any] | None = None) -> bool:
        """Write the row for one finished input; False when a row was there and is kept."""
        line = self.row(file_name, text, data)
        with self._lock:
            try:
                if file_name not in self._names:
                    self._append(line)
                elif self.overwrite:
                    self._replace(file_name, line)
                else:
                    return False
            except OSError as exc:
                raise OutputError(
                    f"cannot write manifest {self.path}: {exc.strerror or exc}", input=file_name,
                    hint="check the disk and the directory's permissions",
                ) from None  # fmt: skip
            self._names.add(file_name)
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
            head = (",".join(CSV_HEADER) + "\n").encode() if self.kind == "csv" else b""
            self._close_fd()
            replace_file(self.path, head + line)
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def _replace(self, file_name: str, line: bytes) -> None:
        """The file rewritten with `line` where the row(s) for file_name were."""
        out: list[bytes] = []
        placed = False
        for name, raw in self._rows(self._read()):
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

    def _load(self) -> set[str]:
        """The file_names already there, after cutting off a torn last row."""
        try:
            raw = self._read()
        except OSError as exc:
            raise UsageError(f"--manifest {self.path}: cannot read it: {exc.strerror or exc}") from None
        keep = _whole_rows(raw, self.kind)
        if keep < len(raw):
            self.repaired = len(raw) - keep
            try:
                os.truncate(self.path, keep)
            except OSError as exc:
                raise UsageError(f"--manifest {self.path}: cannot repair it: {exc.strerror or exc}") from None
            raw = raw[:keep]
        return {name for name, _ in self._rows(raw) if name}

    def _rows(self, raw: bytes) -> list[tuple[str, bytes]]:
        """(file_name, the row's bytes) for every row; the CSV header is kept as a row
        named ''. UsageError names the first row that is not one of ours."""
        if self.kind == "csv":
            return _csv_rows(raw, self.path)
        rows = []
        for n, line in enumerate(raw.splitlines(keepends=True), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode(*_ENC))
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("file_name"), str):
                raise UsageError(
                    f"--manifest {self.path}: line {n} is not a JSON object with a file_name",
                    hint="point --manifest at a metadata.jsonl file (or a new one)",
                )
            rows.append((obj["file_name"], line))
        return rows


def _whole_rows(raw: bytes, kind: str) -> int:
    """How many leading bytes hold whole rows: up to the last newline that ends a row
    (in CSV, one outside quotes: a caption may hold newlines)."""
    end = raw.rfind(b"\n") + 1
    if kind == "csv":
        while end and raw.count(b'"', 0, end) % 2:
            end = raw.rfind(b"\n", 0, end - 1) + 1
    return end


def _csv_rows(raw: bytes, path: Path) -> list[tuple[str, bytes]]:
    if not raw:
        return []
    text = raw.decode(*_ENC)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header[:2]) != CSV_HEADER:
        raise UsageError(
            f"--manifest {path}: the header is not file_name,text",
            hint="point --manifest at a metadata.csv this tool wrote (or a new one)",
        )
    rows: list[tuple[str, bytes]] = [("", (",".join(header) + "\n").encode(*_ENC))]
    for fields in reader:
        if not fields:
            continue
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(fields)
        rows.append((fields[0], buf.getvalue().encode(*_ENC)))
    return rows
