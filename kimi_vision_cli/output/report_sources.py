"""What `kimi-vision report SOURCE...` reads, as report entries (output/report.py).

A SOURCE is one of:
- a file of records, as `describe --format jsonl` (one object a line) or `--format json`
  (one array) wrote them, `batch results` too; `-` reads them from standard input;
- a manifest (`describe --manifest`): `metadata.jsonl` (objects with `file_name`,
  `text` and a structured answer's fields) or `metadata.csv` (`file_name,text`), whose
  file names are relative to the manifest's directory;
- a directory of JSON sidecars (`describe --sidecar json`), walked recursively.

Where the picture is: a manifest row's file is under the manifest's directory; a
sidecar's input is the sidecar's own name less `.json` when that file is there (the
sidecar lies beside its input); any other record names its input as it was given to
describe, so a relative name is looked for from the current directory, then from the
records file's directory. URLs, `ms://` ids and `-` have no local file: their card says so.

Untrusted input throughout: a record is read only through the keys and types of the
JSON contract (docs/output.md), and anything else is skipped with one line naming the
source and the line.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from kimi_vision_cli.errors import InputError, KimiVisionError, UsageError
from kimi_vision_cli.output.report import Entry, Thumbnails
from kimi_vision_cli.schema import answer_caption, answer_keywords

Problem = Callable[[KimiVisionError], object]  # Tally.error: its answer is not used
_ENC = ("utf-8", "surrogateescape")


def read_source(
    arg: str, stdin: Callable[[], bytes], problem: Problem, note: Callable[[str], None]
) -> Iterator[Entry]:
    """The entries of one SOURCE; what cannot be read goes to `problem` (exit 2), the run
    goes on with the next line or source."""
    cwd = Path.cwd()
    if arg == "-":
        yield from _parse(stdin().decode(*_ENC), "standard input", [cwd], problem)
        return
    path = Path(arg)
    if path.is_dir():
        yield from _sidecars(path, problem, note)
        return
    try:
        text = path.read_bytes().decode(*_ENC)
    except OSError as exc:
        problem(UsageError(f"cannot read it: {exc.strerror or exc}", input=arg, hint=_HINT))
        return
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(text, path, problem)
    else:
        yield from _parse(text, arg, [cwd, path.parent], problem)


_HINT = "pass a describe --format jsonl/json output, a --manifest file or a directory of --sidecar json files"


def unique(entries: Iterable[Entry]) -> list[Entry]:
    """One card per input: an input met again (a rerun's records after the first run's)
    shows its last record, in the place of its first."""
    found: dict[str, Entry] = {}
    for entry in entries:
        found[entry.media or entry.name] = entry
    return list(found.values())


# -- records, from a file or stdin -----------------------------------------------------


def _parse(text: str, label: str, bases: Sequence[Path], problem: Problem) -> Iterator[Entry]:
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None  # JSON lines (or not JSON): read line by line below
        if isinstance(whole, list):
            for n, obj in enumerate(whole, 1):
                yield from _one(obj, label, f"item {n}: ", bases, problem)
            return
        if isinstance(whole, dict):
            yield from _one(whole, label, "", bases, problem)
            return
    if not text.strip():
        problem(UsageError("holds no records", input=label, hint=_HINT))
        return
    read = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            if not read:  # not JSON lines at all (an image, a text file): one line, not one a line
                problem(InputError(f"is not a records file (line {n} is not JSON)", input=label, hint=_HINT))
                return
            problem(InputError(f"line {n}: is not a JSON object", input=label, hint=_HINT))
            continue
        read += 1
        yield from _one(obj, label, f"line {n}: ", bases, problem)


def _one(obj: Any, label: str, at: str, bases: Sequence[Path], problem: Problem) -> Iterator[Entry]:
    """One record or row; `at` says where in `label` ('line 2: '), so the name stays a name."""
    if isinstance(obj, dict) and isinstance(obj.get("input"), str):
        yield entry_from_record(obj, bases)
    elif isinstance(obj, dict) and isinstance(obj.get("file_name"), str):
        # a metadata.jsonl row: relative to the manifest's directory, the last base
        yield entry_from_row(obj, bases[-1])
    else:
        problem(InputError(f"{at}is not a record (no input) nor a manifest row (no file_name)", input=label))


def entry_from_record(obj: dict[str, Any], bases: Sequence[Path], media: str | None = None) -> Entry:
    """A record of the JSON contract (docs/output.md) as a card; `media`: its file, when known."""
    name = obj["input"]
    data = obj.get("data") if isinstance(obj.get("data"), dict) else None
    text = _str(obj.get("text"))
    entry = Entry(name=name, caption=answer_caption(text, data), keywords=answer_keywords(data))
    if media is not None:
        entry.media = media
    else:
        entry.media, entry.no_media = locate(name, bases)
    entry.model = obj.get("model") if isinstance(obj.get("model"), str) else None
    entry.tokens = _tokens(obj.get("usage"))
    cost = obj.get("cost")
    if isinstance(cost, dict) and _number(cost.get("amount")) and isinstance(cost.get("currency"), str):
        entry.cost, entry.currency = float(cost["amount"]), cost["currency"]
    error = obj.get("error")
    if error:  # null, or {code, message}; any other truthy value is taken as a message
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        message = str(message) if message is not None else "failed"
        entry.error_code = code if isinstance(code, str) else "error"
        entry.error = message.removeprefix(f"{name}: ")  # the card is titled with the name already
    return entry


def entry_from_row(row: dict[str, Any], root: Path) -> Entry:
    """A manifest row: its file under `root`, its caption, a structured answer's keywords."""
    name = row["file_name"]
    return Entry(
        name=name, media=str(root / name), caption=_str(row.get("text")), keywords=answer_keywords(row)
    )


def locate(name: str, bases: Sequence[Path]) -> tuple[str | None, str | None]:
    """(the local file of an input as a record names it, or None and why there is none)."""
    if name == "-":
        return None, "read from standard input, no file to show"
    if name.startswith("ms://"):
        return None, "an uploaded file (ms://), no local copy"
    if "://" in name:
        return None, "a URL, not downloaded for the report"
    path = Path(name)
    candidates = [path] if path.is_absolute() else [base / path for base in bases]
    for candidate in candidates:
        if os.path.lexists(candidate):
            return str(candidate), None
    return str(candidates[0]), None  # the thumbnail says: file not found


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tokens(usage: Any) -> int | None:
    if not isinstance(usage, dict):
        return None
    total = usage.get("total_tokens")
    if _number(total):
        return int(total)
    parts = [int(p) for p in (usage.get("prompt_tokens"), usage.get("completion_tokens")) if _number(p)]
    return sum(parts) if parts else None


# -- manifests (CSV) ---------------------------------------------------------------------


def _csv_rows(text: str, path: Path, problem: Problem) -> Iterator[Entry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["file_name", "text"]:
        problem(
            UsageError("is not a manifest: its header is not file_name,text", input=str(path), hint=_HINT)
        )
        return
    for fields in reader:
        if fields and fields[0]:
            yield entry_from_row({"file_name": fields[0], "text": fields[1] if len(fields) > 1 else ""},
                                 path.parent)  # fmt: skip


# -- a directory of JSON sidecars ----------------------------------------------------------


def _sidecars(root: Path, problem: Problem, note: Callable[[str], None]) -> Iterator[Entry]:
    found = others = 0
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(".json"):
                continue
            path = Path(directory, name)
            try:
                obj = json.loads(path.read_bytes().decode(*_ENC))
            except (OSError, ValueError):
                obj = None
            if not (isinstance(obj, dict) and isinstance(obj.get("input"), str)):
                others += 1
                continue
            found += 1
            beside = str(path)[: -len(".json")]  # photo.png.json lies beside photo.png
            media = beside if os.path.lexists(beside) else None
            yield entry_from_record(obj, [Path.cwd()], media=media)
    if others:
        note(f"{root}: skipped {others} JSON files that are not kimi-vision sidecars")
    if not found:
        problem(
            UsageError(
                "holds no JSON sidecars",
                input=str(root),
                hint="describe --sidecar json writes them beside each input",
            )
        )


# -- describe --report ---------------------------------------------------------------------


class RunReport:
    """`describe --report FILE.html`: the run's records, kept (text only) as each input
    ends, written as one page when the run ends, however it ends."""

    def __init__(self, path: Path, thumbs: Thumbnails):
        self.path = path
        self.thumbs = thumbs  # flows/report.py entry_thumb: media/ makes them, not output/
        self.base = Path.cwd()  # the run's inputs are named as given, from here
        self.entries: list[Entry] = []

    def add(self, result: Any) -> None:
        """One input's record (output.records.Result), done or failed or never started."""
        self.entries.append(entry_from_record(result.to_dict(), [self.base]))

    def write(self) -> str:
        """The page, written; the line that says so."""
        from kimi_vision_cli.output.report import summary, write_report

        entries = unique(self.entries)
        write_report(self.path, entries, thumbs=self.thumbs)
        return summary(self.path, entries)
