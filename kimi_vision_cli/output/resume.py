"""What a rerun finds of an input's outputs, for the writers (output/writers.py): what
made the sidecar, row or embedded caption already there, and a missing manifest row
filled from its sidecar with no request (issue 19 item 5: that answer was paid for once).

Each is read once per input: what `Writers.done()` read when it picked an input to
describe is kept (`Found`) and taken by `Writers.write()` when its answer comes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source

if TYPE_CHECKING:
    from kimi_vision_cli.output.embed import Embed
    from kimi_vision_cli.output.manifest import Manifest
    from kimi_vision_cli.output.sidecar import SidecarSpec

UNKNOWN = Provenance("", "")  # ours, but it does not say how it was made: current
Made = tuple[Provenance | None, Provenance | None, Provenance | None]  # sidecar, row, embedded


class Outputs(Protocol):
    """The outputs a run asks for (output/writers.Writers), as fill_row reads them."""

    sidecar: SidecarSpec | None
    manifest: Manifest | None
    embed: Embed | None
    structured: bool  # --schema: a txt sidecar holds the answer's JSON object
    fill_rows: bool  # False in a dry run: nothing written


class Found:
    """What done() read for the inputs it chose to describe, taken by write() so that a
    sidecar, row or embedded XMP is read once per input (an ExifTool read, a GET from
    object storage). Bounded: an input never written (it failed; estimate, a dry run)
    drops out after `size` others, and write() then reads again."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._made: dict[tuple[str, str], Made] = {}
        self._lock = threading.Lock()  # done() in the main thread, write() in workers

    def keep(self, source: Source, made: Made) -> None:
        with self._lock:
            self._made[(source.kind, source.value)] = made
            if len(self._made) > self.size:
                del self._made[next(iter(self._made))]

    def take(self, source: Source) -> Made | None:
        with self._lock:
            return self._made.pop((source.kind, source.value), None)


def embed_made(source: Source) -> Provenance | None:
    """What made the caption embedded in the input itself; None when it holds none of ours."""
    if source.kind != "path":
        return None
    from kimi_vision_cli.output.xmp import xmp_provenance

    try:
        return xmp_provenance(Path(source.value))
    except (OSError, KimiVisionError):
        return None


def sidecar_made(spec: SidecarSpec, source: Source) -> tuple[Provenance | None, dict[str, Any] | None]:
    """What made the input's sidecar (None when there is none of ours) and, for a JSON
    sidecar, its record: read and parsed once, for the row it may fill."""
    try:
        path = spec.path_for(source)
        if spec.kind == "xmp":  # ours, not another program's (issue 19 item 1)
            from kimi_vision_cli.output.xmp import xmp_provenance

            return xmp_provenance(path), None
        if not spec.exists(path):
            return None, None
    except (OSError, ValueError):  # name too long, no permission: the write will say so
        return None, None
    if spec.kind != "json":
        return UNKNOWN, None  # txt, vtt, srt: no room to say
    # A JSON file there that says nothing (an older sidecar, or not one of ours at
    # all) is kept, as any sidecar that exists is.
    record = _json_file(path, spec.read)
    return Provenance.from_dict(record.get("provenance")) or UNKNOWN, record


def fill_row(w: Outputs, source: Source, record: dict[str, Any] | None) -> Provenance | None:
    """The row for an input whose sidecar is there, from that sidecar's caption: a JSON
    sidecar's text and data (`record`, as sidecar_made parsed it), a txt sidecar's text,
    or the caption of ours an XMP sidecar or --embed wrote (without --schema: XMP holds
    no answer's fields). None when there is no caption to take (vtt, srt): the input is
    described again. Nothing written when `w.fill_rows` is off (a dry run)."""
    assert w.manifest is not None
    from kimi_vision_cli.schema import answer_caption

    if w.sidecar is None or w.sidecar.kind not in ("txt", "json"):
        return _fill_row_from_xmp(w, source)
    made: Provenance | None = None
    if w.sidecar.kind == "txt":
        try:
            raw = w.sidecar.read(w.sidecar.path_for(source))
        except OSError:
            return None
        text = raw.decode("utf-8", "surrogateescape").removesuffix("\n")
        # the row a --schema answer gets: its caption field, its fields
        data = _json_object(text) if w.structured else None
    elif record is not None and isinstance(record.get("text"), str):
        text, data = record["text"], record.get("data") if isinstance(record.get("data"), dict) else None
        made = Provenance.from_dict(record.get("provenance"))
    else:
        return None
    if w.fill_rows:
        w.manifest.add(w.manifest.file_name(source), answer_caption(text, data), data, provenance=made)
    return made or UNKNOWN


def _fill_row_from_xmp(w: Outputs, source: Source) -> Provenance | None:
    assert w.manifest is not None
    if w.structured:
        return None
    from kimi_vision_cli.output.xmp import xmp_caption

    if w.sidecar is not None and w.sidecar.kind == "xmp":
        path = w.sidecar.path_for(source)
    elif w.embed is not None and source.kind == "path":
        path = Path(source.value)
    else:
        return None
    found = xmp_caption(path)
    if found is None:
        return None
    caption, made = found
    if w.fill_rows:
        w.manifest.add(w.manifest.file_name(source), caption, None, provenance=made or None)
    return made


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_file(path: Path, read: Callable[[Path], bytes] = Path.read_bytes) -> dict[str, Any]:
    """A JSON sidecar's record; {} when it cannot be read or is not one."""
    try:
        record = json.loads(read(path))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
