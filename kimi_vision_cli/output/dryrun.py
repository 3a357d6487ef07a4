"""--dry-run: the requests that would be sent, written instead of sent.

A renderer of plans (plan.py), not a branch inside the flows: the command hands each
planned request here. Base64 payloads are cut short; a body never holds the key (it
travels in a header the dry run never builds).

- text: each body pretty-printed as it comes (as it would be sent); with several inputs
  each under a `==> INPUT <==` header, as describe's text answers are (issue 19, item 25);
- jsonl: one `{"input", "body"}` object per line, as each comes;
- json: one document at the end: an array of `{"input", "body"}` (describe), the one
  object (ask), or what `document` makes of the array: estimate's `{"model", "inputs"}`,
  the shape of `estimate --format json` (one meaning of --format json, issue 21 item 7).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kimi_vision_cli.settings_types import Format


class Planned(Protocol):
    """What is shown of a planned request (plan.Planned): output/ does not import plan.py."""

    @property
    def input(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


def shorten_for_display(body: Any, keep: int = 48) -> Any:
    """Copy of a body with each base64 payload cut to `keep` chars."""
    if isinstance(body, dict):
        return {k: shorten_for_display(v, keep) for k, v in body.items()}
    if isinstance(body, list):
        return [shorten_for_display(v, keep) for v in body]
    if isinstance(body, str) and body.startswith("data:") and ";base64," in body:
        head, data = body.split(";base64,", 1)
        if len(data) > keep:
            return f"{head};base64,{data[:keep]}...<{len(data):,} base64 chars>"
    return body


class DryRunWriter:
    def __init__(
        self,
        fmt: Format,
        out: IO[str],
        *,
        single: bool = False,
        multi: bool = False,
        document: Callable[[list[dict[str, Any]]], Any] | None = None,
    ):
        self.fmt = fmt
        self.out = out
        self.single = single  # json: one object (ask), not an array
        self.document = document  # json: the document around the items (estimate)
        self.multi = multi  # several inputs: text bodies get ==> INPUT <== headers
        self.items: list[dict[str, Any]] = []
        self._bodies = 0  # text bodies written: a blank line goes between two

    def add(self, input: str, body: dict[str, Any]) -> None:
        shown = shorten_for_display(body)
        if self.fmt == "json":
            self.items.append({"input": input, "body": shown})
            return
        if self.fmt == "jsonl":
            text = json.dumps({"input": input, "body": shown}, ensure_ascii=False)
        else:
            text = json.dumps(shown, ensure_ascii=False, indent=2)
            if self.multi:
                sep = "\n" if self._bodies else ""
                text = f"{sep}==> {input} <==\n{text}"
            self._bodies += 1
        self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.fmt != "json" or (self.single and not self.items):
            return
        doc: Any = self.items[0] if self.single else self.items
        if self.document is not None:
            doc = self.document(self.items)
        self.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        self.out.flush()


def write_plans(
    plans: Iterable[Planned], fmt: Format, out: IO[str], *, single: bool = False, multi: bool = False
) -> None:
    """Write each planned request's body (what describe/ask would send) as it comes."""
    writer = DryRunWriter(fmt, out, single=single, multi=multi)
    try:
        for planned in plans:
            writer.add(planned.input, planned.body)
    finally:
        writer.close()
