"""Control characters in model text (issue 19, item 12).

An image's content steers the model's answer, so an answer can hold `ESC]0;title BEL`
or `ESC[2J`: written raw to a terminal, it retitles or clears it. Two treatments:

- on a terminal (answers and --show-thinking reasoning): every C0/C1 control but
  newline and tab is *shown*, as `\\x1b`, so the user sees that it was there;
- everywhere else (pipes, JSON/JSONL, sidecars, manifests, subtitles): it is
  *removed*, so files keep the text and never carry a control; a CR before a newline
  goes with it (`\\r\\n` becomes `\\n`).

DEL (0x7f) counts as a control here, as in ECMA-48 practice.
"""

from __future__ import annotations

import re
from typing import TypeVar

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

T = TypeVar("T")


def strip_controls(text: str) -> str:
    """The text without C0/C1 controls other than newline and tab."""
    if not _CONTROL.search(text):
        return text  # the common case: no copy
    return _CONTROL.sub("", text)


def show_controls(text: str) -> str:
    """The text with each C0/C1 control other than newline and tab spelled `\\xNN`; a
    CR before a newline is a line end, not shown."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


def strip_in(value: T) -> T:
    """strip_controls over every string in a JSON value (a --schema answer's `data`)."""
    if isinstance(value, str):
        return strip_controls(value)  # type: ignore[return-value]
    if isinstance(value, list):
        return [strip_in(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {strip_in(k): strip_in(v) for k, v in value.items()}  # type: ignore[return-value]
    return value
