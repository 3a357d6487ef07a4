"""The value types the peer layers share (issue 21, item 4): inputs, media, plan, api and
output each import these from here, never from one another. This module is the floor:
at run time it imports nothing of ours (errors.py only as a type hint).

- `Source`, `display_name`: an input as discovered (inputs/) and as named in output/.
- `MediaRef`: one piece of media as it goes into a request (plan.py builds, api/ sends).
- `ModelInfo`: a model and what it can see (api/catalog.py reads, output/ prints).
- `Thumb`: a report's thumbnail (media/thumbnail.py makes, output/report.py draws).
- `MEDIA_EXTENSIONS`: the names a directory walk picks up (inputs/): the formats media/
  reads, including those it converts.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a hint only: at run time this module imports nothing of ours
    from kimi_vision_cli.errors import KimiVisionError

# Extensions a recursive directory walk picks up. Explicitly named files are sniffed
# whatever their name; a walk needs a name filter so sidecars and notes are skipped.
MEDIA_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif",
        ".mp4", ".m4v", ".mpeg", ".mpg", ".mov", ".avi", ".flv", ".webm", ".wmv", ".3gp",
        ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif",
    }
)  # fmt: skip


# `https://user:password@host/...`: the credentials are a secret like the API key.
_URL_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def display_name(text: str) -> str:
    """A name safe to print: undecodable bytes (surrogate escapes) shown as \\xNN,
    a URL's user:password as ***."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    try:
        text.encode("utf-8")
        safe = text
    except UnicodeEncodeError:
        safe = os.fsencode(text).decode("utf-8", "backslashreplace")
    if safe.isprintable():  # the common case, checked in C: no character to escape
        return safe
    # Control characters would let a file name move the cursor or fake a line.
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in safe)


def counted(n: int, noun: str) -> str:
    """`1 input`, `2 inputs`, `1,234 inputs`, `3 batches`: a count for a message, its
    noun in the plural unless there is one (so no summary says "1 inputs")."""
    if n == 1:
        return f"1 {noun}"
    return f"{n:,} {noun}{'es' if noun.endswith(('ch', 'sh', 's', 'x')) else 's'}"


@dataclass(frozen=True)
class Source:
    kind: str  # "path" | "stdin" | "file_id" | "url" | "object" (s3://, gs://, az://, hf://) | "bytes"
    value: str  # the path, "-", the file id, the URL, or the label of bytes given
    error: KimiVisionError | None = None  # discovery failed for this input
    # kind "bytes": media the Python API was given in memory (bytes, a PIL image).
    data: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def display(self) -> str:
        if self.kind == "bytes":
            return self.value
        if self.kind == "file_id":
            return f"ms://{self.value}"
        if self.kind == "stdin":
            return "-"
        return display_name(self.value)

    @property
    def path(self) -> Path | None:
        return Path(self.value) if self.kind == "path" else None


@dataclass(frozen=True)
class MediaRef:
    """One piece of media as it goes into the request: inline bytes or an uploaded id."""

    kind: str  # "image" | "video"
    mime: str
    data: bytes | bytearray | None = None  # inline; a bytearray when read from a local file
    file_id: str | None = None  # uploaded
    placeholder: str | None = None  # --dry-run: what stands where bytes it did not fetch go

    @property
    def url(self) -> str:
        if self.placeholder is not None:
            return self.placeholder
        if self.file_id is not None:
            return f"ms://{self.file_id}"
        assert self.data is not None
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def inline_size(self) -> int:
        """Bytes this part adds to the JSON body when inlined (base64 grows by 4/3)."""
        if self.data is None:
            return len(self.url)
        return len(f"data:{self.mime};base64,") + 4 * ((len(self.data) + 2) // 3)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_length: int | None
    image: bool
    video: bool
    known: bool  # the capability came from the API (False: from our fallback list)
    # Its JSON record (without `known`) is output/records.py model_record.


@dataclass(frozen=True)
class Thumb:
    jpeg: bytes | None  # None: no picture, and `why` says so
    width: int = 0
    height: int = 0
    why: str | None = None
    kind: str = "image"  # "image" | "video" | "" (unknown)
