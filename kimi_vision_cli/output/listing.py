"""The one listing writer: the rows of `models`, `files list`, `estimate`, `upload` and
`batch submit/status/cancel` as text, JSON or JSONL. Commands pick a Listing and feed
it rows; how each format looks is declared here, as data (STYLE: commands pick, never
format).

text: one line per row, written as the row arrives (`cut`/`awk` friendly: tab-separated
and headerless), or, for a listing that declares a table and stdout is a terminal, a rich
table at the end. json: the records as one indented array (or the document the command
wraps them in) at the end: one JSON document per run, whatever the command and however
many rows (docs/output.md). jsonl: one record per line as each row arrives, so a long run
loses nothing already printed. The records themselves come from output/records.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from kimi_vision_cli.moonshot import MAX_FILES, bills_in_cny
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.records import (
    Cost,
    Estimate,
    UploadRecord,
    batch_record,
    file_record,
    model_record,
)
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import ModelInfo

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Format

T = TypeVar("T")
Justify = Literal["left", "right", "center"]


@dataclass(frozen=True)
class Column(Generic[T]):
    name: str  # the table header; for lines, the name docs/output.md gives the field
    cell: Callable[[T], object]
    justify: Justify = "left"
    width: int = 0  # lines only: pad the cell to this width (0: as it is)


@dataclass(frozen=True)
class Listing(Generic[T]):
    """How one command's rows look in each format."""

    record: Callable[[T], Any]  # the JSON object of a row
    lines: tuple[Column[T], ...]  # text: one line per row, cells joined by `sep`
    table: tuple[Column[T], ...] = ()  # text on a terminal: a table of these instead
    sep: str = "\t"
    shown: Callable[[T], bool] = lambda _row: True  # rows text shows (failures: on stderr only)
    jsonl: Literal["rows", "document"] = "rows"  # document: --format jsonl writes close()'s document
    indent: int | None = 2  # of the --format json document
    ensure_ascii: bool = False
    default: Callable[[Any], Any] | None = None  # json.dumps default, for API objects
    table_note: Callable[[int], str] | None = None  # a stderr note under the table, from the row count


class ListingWriter(Generic[T]):
    """Write one Listing's rows in the format asked for: `row()` per row, then `close()`."""

    def __init__(self, listing: Listing[T], fmt: Format, term: Terminal, diag: Diagnostics | None = None):
        self.listing = listing
        self.fmt = fmt
        self.term = term
        self.diag = diag
        self.as_table = fmt == "text" and bool(listing.table) and term.stdout_isatty
        self._rows: list[T] = []  # for the table, printed whole at the end
        self._records: list[Any] = []  # for the json document

    def row(self, item: T) -> None:
        listing, fmt = self.listing, self.fmt
        if fmt == "jsonl" and listing.jsonl == "document":
            return
        if fmt == "jsonl":
            self._write(self._dumps(listing.record(item), None) + "\n")
        elif fmt == "json":
            self._records.append(listing.record(item))
        elif not listing.shown(item):
            return
        elif self.as_table:
            self._rows.append(item)
        else:
            self._write(line_of(listing, *(c.cell(item) for c in listing.lines)) + "\n")

    def close(self, document: Callable[[list[Any]], Any] | None = None, footer: Sequence[str] = ()) -> None:
        """Write what waits for the end: the table (and its note), the json document, or
        for jsonl declared as a document, that document on one line. `footer` lines
        follow the rows in text only (a total, a cost)."""
        listing, fmt = self.listing, self.fmt
        if fmt == "json":
            doc = document(self._records) if document else self._records
            self._write(self._dumps(doc, listing.indent) + "\n")
        elif fmt == "jsonl" and listing.jsonl == "document" and document is not None:
            self._write(self._dumps(document([]), None) + "\n")
        elif fmt == "text":
            if self.as_table:
                self._print_table()
            for text in footer:
                self._write(text + "\n")
        self.term.stdout.flush()

    def _print_table(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        color = self.term.color
        table = Table(box=None, header_style="bold" if color else "", pad_edge=False)
        for col in self.listing.table:
            table.add_column(col.name, justify=col.justify)
        for item in self._rows:
            # Text, never a str: a file name like "[/x].png" is not rich markup (STYLE rule 4).
            table.add_row(*(Text(str(col.cell(item))) for col in self.listing.table))
        console = Console(
            file=self.term.stdout, force_terminal=True, no_color=not color, width=self.term.width
        )
        console.print(table)
        if self.listing.table_note is not None and self.diag is not None:
            self.diag.note(self.listing.table_note(len(self._rows)))

    def _dumps(self, doc: Any, indent: int | None) -> str:
        return json.dumps(
            doc, indent=indent, ensure_ascii=self.listing.ensure_ascii, default=self.listing.default
        )

    def _write(self, text: str) -> None:
        self.term.stdout.write(text)
        self.term.stdout.flush()


def line_of(listing: Listing[Any], *cells: object) -> str:
    """Cells laid out as the listing's text lines lay out theirs (also a total row)."""
    cols = listing.lines
    parts = [_justify(str(cell), col.width, col.justify) for col, cell in zip(cols, cells, strict=True)]
    return listing.sep.join(parts)


def _justify(text: str, width: int, how: Justify) -> str:
    if not width:
        return text
    if how == "right":
        return text.rjust(width)
    if how == "center":
        return text.center(width)
    return text.ljust(width)


# -- the listings ------------------------------------------------------------------------


def _kinds(m: ModelInfo) -> str:
    return ",".join(k for k, on in (("image", m.image), ("video", m.video)) if on) or "text"


MODELS: Listing[ModelInfo] = Listing(
    record=model_record,
    lines=(
        Column("id", lambda m: m.id),
        Column("context_length", lambda m: m.context_length or ""),
        Column("inputs", _kinds),
    ),
    table=(
        Column("model", lambda m: m.id),
        Column("context", lambda m: f"{m.context_length:,}" if m.context_length else "?", "right"),
        Column("image", lambda m: "yes" if m.image else "-", "center"),
        Column("video", lambda m: "yes" if m.video else "-", "center"),
    ),
    ensure_ascii=True,
)


def _when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(int(ts)))
    except (TypeError, ValueError):
        return "?"


def iso_time(ts: Any) -> str:
    """Epoch seconds as ISO 8601 with its zone, in UTC (`2026-12-03T13:22:34+00:00`): what a
    script can sort and parse, unlike bare epoch seconds (issue 19.23); "" when unknown."""
    import datetime

    try:
        return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _field(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda obj: obj.get(key)


# Rows are Moonshot's file objects (dicts).
FILES: Listing[dict[str, Any]] = Listing(
    record=file_record,
    lines=(
        *(Column(k, _field(k)) for k in ("id", "purpose", "bytes")),
        Column("created_at", lambda f: iso_time(f.get("created_at"))),
        Column("filename", _field("filename")),
    ),
    table=(
        Column("id", lambda f: f.get("id")),
        Column("purpose", lambda f: f.get("purpose")),
        Column("bytes", lambda f: f"{f.get('bytes') or 0:,}", "right"),
        Column("created", lambda f: _when(f.get("created_at"))),
        Column("filename", lambda f: f.get("filename")),
    ),
    ensure_ascii=True,
    table_note=lambda n: f"{n} of {MAX_FILES:,} files",
)

ESTIMATES: Listing[Estimate] = Listing(
    record=Estimate.to_dict,
    lines=(Column("tokens", lambda e: e.tokens, "right", 10), Column("input", lambda e: e.input)),
    sep="  ",
    shown=lambda e: e.error is None,
)

# A failed input is a record in JSON/JSONL; in text, its error line on stderr only.
UPLOADS: Listing[UploadRecord] = Listing(
    record=UploadRecord.to_dict, lines=(Column("url", lambda u: u.url),), shown=lambda u: u.error is None
)
# More than one input: `ms://ID<TAB>INPUT`, so that the lines still match their inputs
# once one has failed (issue 11). The input is a display name: it holds no tab.
UPLOADS_NAMED: Listing[UploadRecord] = Listing(
    record=UploadRecord.to_dict,
    lines=(Column("url", lambda u: u.url), Column("input", lambda u: u.input)),
    shown=lambda u: u.error is None,
)


def _counts(batch: dict[str, Any]) -> dict[str, Any]:
    return batch.get("request_counts") or {}


# Rows are Moonshot's batch objects, each whole: jsonl a line each as it comes, json one
# array of them (one document per run, as every command: issue 21 item 7).
BATCHES: Listing[dict[str, Any]] = Listing(
    record=batch_record,
    lines=(
        Column("id", lambda b: b.get("id")),
        Column("state", lambda b: b.get("status")),
        Column("done/total", lambda b: f"{_counts(b).get('completed', 0)}/{_counts(b).get('total', 0)} done"),
        Column("failed", lambda b: f"{_counts(b).get('failed', 0)} failed"),
    ),
    default=str,
)

# `files delete` and `files prune`: a line per file as it goes (they take no --format).
DELETED: Listing[str] = Listing(
    record=lambda file_id: {"id": file_id},
    lines=(Column("deleted", lambda file_id: f"deleted ms://{file_id}"),),
)

# `batch submit`: the batch ids as lines; json and jsonl: one object (records.Submitted).
SUBMITTED: Listing[str] = Listing(
    record=lambda batch_id: batch_id,
    lines=(Column("id", lambda batch_id: batch_id),),
    jsonl="document",
    indent=None,
)


# -- estimate's text beyond the rows -------------------------------------------------------


def estimate_footer(rows: int, total: int, cost: Cost, model: str, base_url: str) -> list[str]:
    """Text after the rows: a total when there are several, then the cost."""
    return ([line_of(ESTIMATES, total, "total")] if rows > 1 else []) + [cost_line(cost, model, base_url)]


def cost_line(cost: Cost, model: str, base_url: str) -> str:
    if cost.price is None:
        why = "the China platform bills in CNY" if bills_in_cny(base_url) else f"no price for {model}"
        return f'cost: unknown ({why}; set [prices."{model}"] input/output in config.toml)'
    origin = "config.toml price" if cost.price.source == "config" else "published price"
    return (
        f"cost: {cost.amount:.6f} {cost.currency} "
        f"({model} input at {cost.price.input:g} {cost.currency} per 1M tokens, {origin})"
    )


def worst_line(worst: Cost | None, budget: int | None, batch: bool) -> list[str]:
    """The worst case after the cost: every request's whole completion budget at the
    output price (what --max-cost should allow for); none without a price or budget."""
    if worst is None or worst.price is None:
        return []
    where = ", Batch API price (60%)" if batch else ""
    return [
        f"worst case: {worst.amount:.6f} {worst.currency} (input plus {budget} output tokens per request "
        f"at {worst.price.output:g} {worst.currency} per 1M{where})"
    ]


def budget_note(budget: int | None, cost: Cost) -> str:
    what = f"max_tokens ({budget} per request)" if budget else "each request's max_tokens (--max-tokens)"
    text = f"note: input tokens only; rate limits (TPM) also count {what}, and output is billed on top"
    if cost.price is not None:
        text += f" at {cost.price.output:g} {cost.currency} per 1M tokens"
    return text
