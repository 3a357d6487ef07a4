"""Control characters in model text (issue 19, item 12).

An image's content steers the model's answer, so an answer can hold `ESC]0;title BEL`
or `ESC[2J`: written raw to a terminal, it retitles or clears it. Two treatments:

- on a terminal (answers and --show-thinking reasoning): every C0/C1 control but
  newline and tab is *shown*, as `\\x1b`, so the user sees that it was there;
- everywhere else (pipes, JSON/JSONL, sidecars, manifests, subtitles): it is
  *removed*, so files keep the text and never carry a control; a CR before a newline
  goes with it (`\\r\\n` becomes `\\n`).

DEL (0x7f) counts as a control here, as in ECMA-48 practice. So do the Unicode bidi
controls (embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, the marks
U+200E, U+200F and U+061C): they reorder what follows, so an answer holding U+202E
shows text other than what it says ("Trojan Source", CVE-2021-42574). Shown as
`\\u202e` on a terminal, removed elsewhere. File names get the same through
types.display_name, which escapes every character Python deems unprintable.
"""

from __future__ import annotations

import re
from typing import TypeVar

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

T = TypeVar("T")


def strip_controls(text: str) -> str:
    """The text without C0/C1 controls other than newline and tab, nor bidi controls."""
    if not _CONTROL.search(text):
        return text  # the common case: no copy
    return _CONTROL.sub("", text)


def show_controls(text: str) -> str:
    """The text with each C0/C1 control other than newline and tab spelled `\\xNN`, and
    each bidi control `\\uNNNN`; a CR before a newline is a line end, not shown."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_spelled, text.replace("\r\n", "\n"))


def _spelled(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def strip_in(value: T) -> T:
    """strip_controls over every string in a JSON value (a --schema answer's `data`)."""
    if isinstance(value, str):
        return strip_controls(value)  # type: ignore[return-value]
    if isinstance(value, list):
        return [strip_in(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {strip_in(k): strip_in(v) for k, v in value.items()}  # type: ignore[return-value]
    return value
