"""What a finished input leaves on disk besides stdout: its sidecar (--sidecar,
--output-dir) and its manifest row (--manifest). describe and `batch results` share
these writers, so a results run over a finished batch leaves the files a describe run
would have.

Resume (--on-exists skip, the default): an input is skipped when every output asked
for is there; when only some are (a run stopped between the sidecar and the row), it
is described again and only the missing ones are written: what is there is kept. A
missing row whose txt or JSON sidecar is there is filled from that sidecar, with no
request (issue 19 item 5): the answer was paid for once; so is one whose XMP sidecar or
embedded metadata holds our caption (not a --schema answer: XMP holds not its fields).
An XMP sidecar or an --embed file is "there" when it holds a caption of ours
(output/xmp.py), not merely when the file exists: another program's XMP is merged into.

What made a caption (provenance.py: the model and a hash of prompt, system message and
schema) is recorded in JSON sidecars, XMP sidecars and manifest rows. A caption made
otherwise than this run would make it is stale: `skip` keeps it and counts it (the
command says how many and how to redo them), `stale` describes it again and replaces
it. A caption whose provenance is unknown (txt sidecars, older files) counts as current.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import KimiVisionError, UsageError
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source

if TYPE_CHECKING:  # made by from_options when asked for: a run without them never loads them
    from kimi_vision_cli.output.embed import Embed
    from kimi_vision_cli.output.manifest import Manifest
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.settings import Settings
    from kimi_vision_cli.settings_types import OnExists, Sidecar

UNKNOWN = Provenance("", "")  # ours, but it does not say how it was made: current


@dataclass
class Writers:
    sidecar: SidecarSpec | None = None
    manifest: Manifest | None = None
    overwrite: bool = False  # --on-exists overwrite
    redo_stale: bool = False  # --on-exists stale
    provenance: Provenance | None = None  # what this run's captions are made with
    fill_rows: bool = True  # a missing row taken from its sidecar (not in a dry run)
    structured: bool = False  # --schema: a txt sidecar holds the answer's JSON object
    stale: int = 0  # inputs kept although made otherwise (--on-exists skip)
    embed: Embed | None = None  # --embed: the caption written into the input itself

    @classmethod
    def from_options(
        cls,
        sidecar: Sidecar | None,
        output_dir: Path | None,
        manifest: Path | None,
        on_exists: OnExists,
        sources: Iterable[Source],
        provenance: Provenance | None = None,
        *,
        embed: bool = False,
        touch: bool = False,
        warn: Callable[[str], None],
    ) -> Writers:
        """--sidecar/--output-dir/--manifest/--embed as Writers (describe, batch results).
        The inputs given (`sources`) are checked against the manifest's directory now,
        before any request. `provenance`: what this run's captions are made with (None:
        unknown, nothing is stale). `warn`: where a torn manifest row is reported."""
        kind = sidecar or ("txt" if output_dir is not None else None)
        overwrite = on_exists == "overwrite"
        writers = cls(overwrite=overwrite, redo_stale=on_exists == "stale", provenance=provenance)
        if touch and not embed:
            raise UsageError("--touch goes with --embed", hint="add --embed, or drop --touch")
        if embed:  # the only way an input is ever written to (issue 22)
            from kimi_vision_cli.output.embed import Embed

            writers.embed = Embed(touch=touch, overwrite=overwrite)
        from kimi_vision_cli.stores import unfold  # s3:// and the like (issue 24)

        if kind:  # imported only when asked for (issue 12: start-up)
            from kimi_vision_cli.output.sidecar import SidecarSpec

            if (remote_dir := unfold(output_dir)) is not None:
                from kimi_vision_cli.output.objects import ObjectDir

                writers.sidecar = SidecarSpec(kind, None, ObjectDir(remote_dir))
            else:
                writers.sidecar = SidecarSpec(kind, output_dir)
        if (remote_manifest := unfold(manifest)) is not None:
            from kimi_vision_cli.output.objects import ObjectManifest

            writers.manifest = ObjectManifest(remote_manifest, overwrite=overwrite)
        elif manifest is not None:
            from kimi_vision_cli.output.manifest import Manifest

            writers.manifest = Manifest(manifest, overwrite=overwrite)
        writers.check(sources)
        m = writers.manifest
        if m is not None and m.set_aside:
            warn(
                f"{manifest}: its last row was half-written (a crash?): set aside in {m.torn} "
                f"({m.set_aside} bytes); its input will be described again"
            )
        return writers

    def stale_warning(self) -> str | None:
        """What to say when captions made otherwise were kept (--on-exists skip), or None."""
        n = self.stale
        if not n:
            return None
        return (
            f"{n} caption{'s' if n != 1 else ''} kept {'were' if n != 1 else 'was'} made with another model, "
            "prompt, system message or schema — rerun with --on-exists stale to redo "
            f"{'them' if n != 1 else 'it'}"
        )

    def __bool__(self) -> bool:
        return self.sidecar is not None or self.manifest is not None or self.embed is not None

    @property
    def _exiftool(self) -> bool:
        return self.embed is not None or (self.sidecar is not None and self.sidecar.kind == "xmp")

    def check(self, sources: Iterable[Source]) -> None:
        """Up front, before any request: captions can go under --output-dir, and the
        manifest can be written and name every input given."""
        if self.sidecar is not None:
            self.sidecar.check()
        if self._exiftool:
            from kimi_vision_cli.output.exiftool import require

            require("--embed" if self.embed is not None else "--sidecar xmp")
        if self.manifest is not None:
            self.manifest.check(sources)

    def rejects(self, source: Source) -> KimiVisionError | None:
        """Why this input can have no output here (its sidecar is another file's, a
        manifest cannot name it), or None."""
        if source.error is not None:
            return None
        if self.sidecar is not None and (err := self.sidecar.conflict(source)) is not None:
            return err
        if (err := self._xmp_rejects(source)) is not None:
            return err
        if self.manifest is None:
            return None
        try:
            self.manifest.file_name(source)
        except KimiVisionError as err:
            return err
        return None

    def done(self, source: Source) -> bool:
        """Every output asked for exists and is to be kept: a resumed run skips it.
        Never `-`: standard input has no name to resume by, and other bytes piped in
        must not be taken for the ones described before (issue 11)."""
        if not self or self.overwrite or source.error is not None or source.kind == "stdin":
            return False
        side = self._sidecar_made(source) if self.sidecar is not None else None
        row = self._row_made(source) if self.manifest is not None else None
        inside = self._embed_made(source) if self.embed is not None else None
        kept = side if side is not None else inside
        # a stale one is redone, not copied
        if (
            self.manifest is not None
            and row is None
            and kept is not None
            and not (self.redo_stale and self.differs(kept))
        ):
            row = self._fill_row(source)
        asked = ((side, self.sidecar), (row, self.manifest), (inside, self.embed))
        made = [m for m, wanted in asked if wanted is not None]
        if any(m is None for m in made):
            return False
        if any(self.differs(m) for m in made if m is not None):
            if self.redo_stale:
                return False
            self.stale += 1
        return True

    def differs(self, made: Provenance) -> bool:
        """Made otherwise than this run would make it; unknown counts as current."""
        return self.provenance is not None and made != UNKNOWN and made != self.provenance

    def write(self, source: Source, result: Result) -> None:
        """The outputs of one successful input: the sidecar, then the manifest row (so a
        crash in between leaves a row missing, which the rerun adds). OutputError on a
        write that failed; a sidecar or row already there is kept unless overwrite, or
        unless --on-exists stale redid this input: then both get the new answer."""
        result = result.cleaned()  # no control character reaches a file (issue 19, item 12)
        side = self._sidecar_made(source) if self.sidecar is not None else None
        name = self.manifest.file_name(source) if self.manifest is not None else ""
        row = self.manifest.provenance(name) if self.manifest is not None else None
        inside = self._embed_made(source) if self.embed is not None else None
        redo = self.redo_stale and any(m is not None and self.differs(m) for m in (side, row, inside))
        replace = self.overwrite or redo or source.kind == "stdin"  # stdin.txt: what was piped last
        if self.sidecar is not None and (replace or side is None):
            self._write_sidecar(self.sidecar, source, result)
        if self.embed is not None and (replace or inside is None):
            self.embed.write(source, result, self.provenance)
        if self.manifest is not None:
            from kimi_vision_cli.schema import answer_caption

            data = getattr(result, "data", None)
            caption = answer_caption(result.text, data)
            self.manifest.add(name, caption, data, provenance=self.provenance, replace=redo)

    def close(self) -> None:
        if self.manifest is not None:
            self.manifest.close()
        if self._exiftool:
            from kimi_vision_cli.output.exiftool import close_shared

            close_shared()

    def _write_sidecar(self, spec: SidecarSpec, source: Source, result: Result) -> None:
        if spec.kind == "xmp":  # merged through ExifTool; loaded for --sidecar xmp only
            from kimi_vision_cli.output.xmp import write_sidecar as write_xmp

            write_xmp(spec.path_for(source), result.text, result.data, self.provenance, input=result.input)
        else:
            from kimi_vision_cli.output.sidecar import write_sidecar

            write_sidecar(spec, source, result, provenance=self.provenance)

    def _xmp_rejects(self, source: Source) -> KimiVisionError | None:
        """Before the request: an XMP sidecar that is not XMP, or that holds a caption
        another program wrote (kept unless --on-exists overwrite); an input --embed
        cannot write into."""
        if self.embed is not None and (err := self.embed.rejects(source)) is not None:
            return err
        if self.sidecar is None or self.sidecar.kind != "xmp":
            return None
        from kimi_vision_cli.output.xmp import refusal

        try:
            path = self.sidecar.path_for(source)
        except ValueError:
            return None
        return refusal(path, input=source.display, replace=self.overwrite, what="XMP sidecar")

    def _embed_made(self, source: Source) -> Provenance | None:
        """What made the caption embedded in the input itself; None when it holds none of ours."""
        if source.kind != "path":
            return None
        from kimi_vision_cli.output.xmp import xmp_provenance

        try:
            return xmp_provenance(Path(source.value))
        except (OSError, KimiVisionError):
            return None

    def _sidecar_made(self, source: Source) -> Provenance | None:
        """What made the input's sidecar; None when there is none (of ours)."""
        assert self.sidecar is not None
        try:
            path = self.sidecar.path_for(source)
            if self.sidecar.kind == "xmp":  # ours, not another program's (issue 19 item 1)
                from kimi_vision_cli.output.xmp import xmp_provenance

                return xmp_provenance(path)
            if not self.sidecar.exists(path):
                return None
        except (OSError, ValueError):  # name too long, no permission: the write will say so
            return None
        if self.sidecar.kind != "json":
            return UNKNOWN  # txt, vtt, srt: no room to say
        # A JSON file there that says nothing (an older sidecar, or not one of ours at
        # all) is kept, as any sidecar that exists is.
        return Provenance.from_dict(_json_file(path, self.sidecar.read).get("provenance")) or UNKNOWN

    def _row_made(self, source: Source) -> Provenance | None:
        assert self.manifest is not None
        try:
            return self.manifest.provenance(self.manifest.file_name(source))
        except KimiVisionError:
            return None

    def _fill_row(self, source: Source) -> Provenance | None:
        """The row for an input whose sidecar is there, from that sidecar's caption: a
        JSON sidecar's text and data, a txt sidecar's text, or the caption of ours an XMP
        sidecar or --embed wrote (without --schema: XMP holds no answer's fields). None
        when there is no caption to take (vtt, srt): the input is described again."""
        assert self.manifest is not None
        from kimi_vision_cli.schema import answer_caption

        if self.sidecar is None or self.sidecar.kind not in ("txt", "json"):
            return self._fill_row_from_xmp(source)
        path = self.sidecar.path_for(source)
        made: Provenance | None = None
        if self.sidecar.kind == "txt":
            try:
                text, data = (
                    self.sidecar.read(path).decode("utf-8", "surrogateescape").removesuffix("\n"),
                    None,
                )
            except OSError:
                return None
            if self.structured:  # the row a --schema answer gets: its caption field, its fields
                data = _json_object(text)
        elif self.sidecar.kind == "json" and isinstance(
            (record := _json_file(path, self.sidecar.read)).get("text"), str
        ):
            text, data = record["text"], record.get("data") if isinstance(record.get("data"), dict) else None
            made = Provenance.from_dict(record.get("provenance"))
        else:
            return None
        if self.fill_rows:
            name = self.manifest.file_name(source)
            self.manifest.add(name, answer_caption(text, data), data, provenance=made)
        return made or UNKNOWN

    def _fill_row_from_xmp(self, source: Source) -> Provenance | None:
        assert self.manifest is not None
        if self.structured:
            return None
        from kimi_vision_cli.output.xmp import xmp_caption

        if self.sidecar is not None and self.sidecar.kind == "xmp":
            path = self.sidecar.path_for(source)
        elif self.embed is not None and source.kind == "path":
            path = Path(source.value)
        else:
            return None
        found = xmp_caption(path)
        if found is None:
            return None
        caption, made = found
        if self.fill_rows:
            self.manifest.add(self.manifest.file_name(source), caption, None, provenance=made or None)
        return made


def made_by(s: Settings) -> Provenance:
    """What this run's captions are made with: the model, and the prompt (None: the
    default one), system message and schema as parsed (not the file naming it)."""
    from kimi_vision_cli import provenance

    schema = None
    if s.request.schema is not None:
        from kimi_vision_cli.schema import load

        schema = load(s.request.schema).schema
    return provenance.of(s.request.model, s.request.prompt, s.request.system, schema)


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
