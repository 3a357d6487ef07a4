"""The caption as XMP, through ExifTool (output/exiftool.py): `--sidecar xmp` writes or
merges into `photo.jpg.xmp`, and `--embed` (output/embed.py) into the photo itself.

The same fields in both (issue 22 items 1 and 2):
- `dc:description` (x-default): the caption, a structured answer's caption field when
  it has one (schema.answer_caption), else the answer;
- `Iptc4xmpCore:AltTextAccessibility`: a schema's `alt_text`, else the caption cut at a
  sentence boundary within 250 characters (IPTC's advice for alt text);
- `Iptc4xmpCore:ExtDescrAccessibility`: the whole caption;
- `dc:subject`: a schema's tags/keywords, added to the keywords already there;
- `kimivision:Tool/Model/PromptHash` (our namespace, kimi-vision.exiftool_config): what
  produced the caption, so a rerun knows a caption made another way (provenance.py).

An existing sidecar is merged into: ExifTool rewrites only these properties, every other
one (ratings, labels, darktable's history, namespaces it does not know) is kept, and the
file keeps its mode (atomic.replace_by). A file that is not XMP is refused (exit 2 for
that input) and left as it was. Characters XML cannot hold (C0 controls other than tab
and newline, lone surrogates, U+FFFE/U+FFFF) are dropped from the text first.
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kimi_vision_cli import __version__
from kimi_vision_cli.errors import InputError
from kimi_vision_cli.output import exiftool
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.schema import answer_caption, answer_keywords

ALT_TEXT_MAX = 250  # IPTC Photo Metadata 2021.1: alt text "should not exceed 250 characters"
TOOL = "kimi-vision"

# XML 1.0 section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*(?=\s|$)")
# What a read asks ExifTool for (-G1 names): ours, and the caption fields of others.
_READ_TAGS = (
    "-File:FileType", "-ExifTool:Error", "-ExifTool:Warning", "-XMP-x:XMPToolkit", "-XMP-kimivision:all", "-XMP-dc:Description",
    "-XMP-iptcCore:AltTextAccessibility", "-IPTC:Caption-Abstract",
)  # fmt: skip


@dataclass(frozen=True)
class Fields:
    description: str
    alt_text: str
    extended: str
    keywords: tuple[str, ...]
    provenance: Provenance | None  # None: unknown (a caption of ours all the same)


@dataclass(frozen=True)
class State:
    """What an existing XMP sidecar or media file holds, as far as captions go."""

    file_type: str  # ExifTool's FileType ("XMP", "JPEG"...), "" when it could not tell
    error: str | None  # why ExifTool cannot read it (not XMP, truncated...)
    ours: Provenance | None  # our caption's provenance; Provenance("", "") when unrecorded
    foreign: str | None  # a caption another program wrote (description, alt text)
    caption: str | None = None  # our caption (dc:description), when `ours` is not None


def clean_text(text: str) -> str:
    """The text without the characters XML 1.0 forbids; CRLF and CR as LF; stripped."""
    return _NOT_XML_CHAR.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def alt_text(caption: str, limit: int = ALT_TEXT_MAX) -> str:
    """The caption, or its sentences that fit in `limit` characters; with no sentence end
    in reach, its words that fit and an ellipsis."""
    text = " ".join(caption.split())
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit + 1) if m.end() <= limit]
    if ends:
        return text[: ends[-1]]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(" ,;:") + "\u2026"


def fields_of(text: str, data: dict[str, Any] | None, provenance: Provenance | None) -> Fields:
    """An answer's XMP fields (a --schema answer's caption, alt_text and tags/keywords)."""
    caption = clean_text(answer_caption(text, data))
    given = (data or {}).get("alt_text")
    short = clean_text(given) if isinstance(given, str) and given.strip() else ""
    keywords = tuple(w for w in (clean_text(k) for k in answer_keywords(data)) if w)
    return Fields(caption, short or alt_text(caption), caption, keywords, provenance)


def xmp_args(fields: Fields) -> list[str]:
    """ExifTool assignments (under -ec) for the XMP properties of `fields`."""
    v = exiftool.escape_value
    args = [
        f"-XMP-dc:Description={v(fields.description)}",
        f"-XMP-iptcCore:AltTextAccessibility={v(fields.alt_text)}",
        f"-XMP-iptcCore:ExtDescrAccessibility={v(fields.extended)}",
        f"-XMP-kimivision:Tool={TOOL} {__version__}",
    ]
    p = fields.provenance  # empty values delete: an unknown provenance leaves no stale one
    args += [f"-XMP-kimivision:Model={v(p.model) if p else ''}"]
    args += [f"-XMP-kimivision:PromptHash={v(p.prompt_hash) if p else ''}"]
    for word in fields.keywords:  # removed then added: added once, whatever was there
        args += [f"-XMP-dc:Subject-={v(word)}", f"-XMP-dc:Subject+={v(word)}"]
    return args


def read_state(path: Path, *, input: str) -> State:
    """What `path` holds (one ExifTool read, remembered while the file is unchanged)."""
    st = os.stat(path)  # ctime: any change (a write, a rename over it) moves it; utime cannot set it
    return _read(
        exiftool.file_arg(path, input=input), (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    )


@lru_cache(maxsize=256)
def _read(name: bytes, _version: tuple[int, int, int, int]) -> State:
    reply = exiftool.shared().execute(["-j", "-G1", "-charset", "utf8", *_READ_TAGS, name])
    try:
        tags: dict[str, Any] = json.loads(reply.out)[0] if reply.out.strip() else {}
    except (ValueError, IndexError):
        tags = {}
    errors = reply.errors()
    error: str | None = tags.get("ExifTool:Error") or (errors[0] if errors else None)
    warning = str(tags.get("ExifTool:Warning", ""))
    if error is None and "format error" in warning.lower():  # a broken packet: its write would fail
        error = warning
    if error is None and not tags.get("File:FileType"):
        error = "ExifTool cannot tell what this file is"
    ours = _ours(tags)
    caption = str(tags.get("XMP-dc:Description", "")).strip() if ours is not None else None
    return State(str(tags.get("File:FileType", "")), error, ours, _foreign(tags), caption)


def _ours(tags: dict[str, Any]) -> Provenance | None:
    caption = str(tags.get("XMP-dc:Description", "")).strip()
    if not caption:
        return None
    if tags.get("XMP-kimivision:Tool"):
        return Provenance.from_dict(
            {"model": tags.get("XMP-kimivision:Model"), "prompt_hash": tags.get("XMP-kimivision:PromptHash")}
        ) or Provenance("", "")
    if str(tags.get("XMP-x:XMPToolkit", "")).startswith(TOOL):  # a packet of versions before ExifTool
        return Provenance("", "")
    return None


def _foreign(tags: dict[str, Any]) -> str | None:
    if _ours(tags) is not None:
        return None
    for key in ("XMP-dc:Description", "XMP-iptcCore:AltTextAccessibility", "IPTC:Caption-Abstract"):
        value = str(tags.get(key, "")).strip()
        if value:
            return value
    return None


def xmp_provenance(path: Path) -> Provenance | None:
    """The provenance of our caption in the XMP sidecar or media file at `path`: None when
    it holds no caption of ours (no file, another program's file, not readable), and
    Provenance("", "") for a caption of ours whose provenance was not recorded.
    Read through the run's ExifTool process (UsageError when ExifTool is not installed;
    `--sidecar xmp` and `--embed` check that before any request)."""
    try:
        state = read_state(path, input=str(path))
    except (OSError, InputError):
        return None
    return None if state.error else state.ours


def xmp_caption(path: Path) -> tuple[str, Provenance] | None:
    """Our caption in the XMP sidecar or media file at `path`, with what made it
    (Provenance("", "") when unrecorded); None when it holds none of ours."""
    try:
        state = read_state(path, input=str(path))
    except (OSError, InputError):
        return None
    if state.error or state.ours is None or not state.caption:
        return None
    return state.caption, state.ours


def refusal(path: Path, *, input: str, replace: bool, what: str) -> InputError | None:
    """Why the caption cannot go into `path` (checked before the request): not readable
    as XMP/media, or holding a caption another program wrote (unless `replace`)."""
    try:
        exiftool.file_arg(path, input=input)  # a name ExifTool cannot be given, even for a new file
        if not path.exists() or path.stat().st_size == 0:
            return None
        state = read_state(path, input=input)
    except InputError as err:
        return err
    except OSError as exc:
        return InputError(f"cannot read {what} {path}: {exc.strerror or exc}", input=input)
    if state.error is not None or (what == "XMP sidecar" and state.file_type != "XMP"):
        why = state.error or f"it is a {state.file_type} file"
        wanted = "valid XMP" if what == "XMP sidecar" else "a file ExifTool can read"
        return InputError(
            f"{what} {path} is not {wanted} ({why}); it was left as it is",
            input=input, hint="move it away or repair it, then rerun",
        )  # fmt: skip
    if state.foreign is not None and not replace:
        shown = state.foreign if len(state.foreign) <= 40 else state.foreign[:39] + "\u2026"
        return InputError(
            f"{what} {path} already holds a caption another program wrote ({shown!r})",
            input=input, hint="pass --on-exists overwrite to replace it (every other field is kept)",
        )  # fmt: skip
    return None


def write(path: Path, args: list[str], *, input: str, keep_times: bool = False, new_type: str = "") -> None:
    """Rewrite `path` through ExifTool with `args` (under -ec), atomically: the old file or
    the new, its mode and owner kept. A missing (or empty) file is created from scratch,
    of the type `new_type` names by its extension ("xmp")."""
    from kimi_vision_cli.atomic import replace_by

    source = path.exists() and path.stat().st_size > 0
    name = exiftool.file_arg(path, input=input)

    def produce(tmp: Path) -> None:
        out = tmp.with_name(tmp.name + ("" if source else "." + new_type))
        cmd: list[str | bytes] = ["-ec", *args, "-o", exiftool.file_arg(out, input=input)]
        reply = exiftool.shared().execute([*cmd, name] if source else cmd)
        if reply.errors() or not out.exists():
            if out.exists():
                out.unlink()
            _disk_error(tmp.parent)  # ExifTool says "Error writing", not why: a full disk stops the run
            why = "; ".join(reply.errors()) or reply.err.strip() or "no file written"
            raise InputError(f"ExifTool could not write {path}: {why}", input=input)
        if out != tmp:
            os.replace(out, tmp)

    try:
        replace_by(path, produce, keep_times=keep_times and source)
    except OSError as exc:
        from kimi_vision_cli.output.sidecar import write_error

        what, hint = ("XMP sidecar", None) if new_type else ("into", "check the file's permissions")
        raise write_error(path, exc, input=input, what=what, hint=hint) from None


def _disk_error(directory: Path) -> None:
    """OSError(EROFS/ENOSPC) when `directory` is on a read-only or full file system."""
    try:
        fs = os.statvfs(directory)
    except (OSError, AttributeError):
        return
    if fs.f_flag & getattr(os, "ST_RDONLY", 1):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    if fs.f_bavail == 0:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def write_sidecar(path: Path, text: str, data: dict[str, Any] | None, provenance: Provenance | None,
                  *, input: str) -> None:  # fmt: skip
    """`--sidecar xmp`: the fields merged into `path`, or a new sidecar holding them."""
    if (err := refusal(path, input=input, replace=True, what="XMP sidecar")) is not None:
        raise err  # changed since the check before the request
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, xmp_args(fields_of(text, data, provenance)), input=input, new_type="xmp")
