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
What is there is read once per input (output/resume.py), by done() when it picks the
input; write() takes what done() read.

What made a caption (provenance.py: the model and a hash of prompt, system message and
schema) is recorded in JSON sidecars, XMP sidecars and manifest rows. A caption made
otherwise than this run would make it is stale: `skip` keeps it and counts it (the
command says how many and how to redo them), `stale` describes it again and replaces
it. A caption whose provenance is unknown (txt sidecars, older files) counts as current.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import ExitCode, InputError, KimiVisionError, UsageError
from kimi_vision_cli.output.resume import UNKNOWN, Found, Made, embed_made, fill_row, sidecar_made
from kimi_vision_cli.provenance import Provenance
from kimi_vision_cli.types import Source, counted

if TYPE_CHECKING:  # made by from_options when asked for: a run without them never loads them
    from kimi_vision_cli.output.embed import Embed
    from kimi_vision_cli.output.manifest import Manifest
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.settings import Settings
    from kimi_vision_cli.settings_types import OnExists, Sidecar


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
    _found: Found = field(default_factory=Found, repr=False, compare=False)

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
        unknown, nothing is stale). `warn`: where a torn manifest row, or an upload the
        S3 write check could not abort, is reported."""
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

                writers.sidecar = SidecarSpec(kind, None, ObjectDir(remote_dir, warn=warn))
            else:
                writers.sidecar = SidecarSpec(kind, output_dir)
        if (remote_manifest := unfold(manifest)) is not None:
            from kimi_vision_cli.output.objects import ObjectManifest

            writers.manifest = ObjectManifest(remote_manifest, overwrite=overwrite, warn=warn)
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
            f"{counted(n, 'caption')} kept {'were' if n != 1 else 'was'} made with another model, "
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
        """Why this input can have no output here (it is not on this machine, its
        sidecar is another file's, a manifest cannot name it), or None."""
        if source.error is not None:
            return None
        if (err := self._not_here(source)) is not None:
            return err
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
        must not be taken for the ones described before (issue 11). What it read is kept
        for write() (`_found`): each output is read once per input."""
        if not self or self.overwrite or source.error is not None or source.kind == "stdin":
            return False
        record: dict[str, Any] | None = None
        side = None
        if self.sidecar is not None:
            side, record = sidecar_made(self.sidecar, source)
        row = self._row_made(source) if self.manifest is not None else None
        inside = embed_made(source) if self.embed is not None else None
        kept = side if side is not None else inside
        # a stale one is redone, not copied
        if (
            self.manifest is not None
            and row is None
            and kept is not None
            and not (self.redo_stale and self.differs(kept))
        ):
            row = fill_row(self, source, record)
        asked = ((side, self.sidecar), (row, self.manifest), (inside, self.embed))
        made = [m for m, wanted in asked if wanted is not None]
        redo = any(m is not None and self.differs(m) for m in made)
        if any(m is None for m in made) or (redo and self.redo_stale):
            self._found.keep(source, (side, row, inside))
            return False
        if redo:
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
        name = self.manifest.file_name(source) if self.manifest is not None else ""
        replace = self.overwrite or source.kind == "stdin"  # stdin.txt: what was piped last
        side = row = inside = None
        if not replace:  # what done() read when it chose this input, else read now
            side, row, inside = self._found.take(source) or self._made(source, name)
        redo = self.redo_stale and any(m is not None and self.differs(m) for m in (side, row, inside))
        replace = replace or redo
        if self.sidecar is not None and (replace or side is None):
            self._write_sidecar(self.sidecar, source, result)
        if self.embed is not None and (replace or inside is None):
            self.embed.write(source, result, self.provenance)
        if self.manifest is not None:
            from kimi_vision_cli.schema import answer_caption

            data = getattr(result, "data", None)
            caption = answer_caption(result.text, data)
            self.manifest.add(name, caption, data, provenance=self.provenance, replace=redo)

    def _made(self, source: Source, name: str) -> Made:
        """What made each output already there (None: not there), read now."""
        side = sidecar_made(self.sidecar, source)[0] if self.sidecar is not None else None
        row = self.manifest.provenance(name) if self.manifest is not None else None
        inside = embed_made(source) if self.embed is not None else None
        return side, row, inside

    def close(self) -> None:
        """The manifest's last write (an object's final checkpoint), then ExifTool
        stopped. OutputError when that write failed: `finish` reports it."""
        try:
            if self.manifest is not None:
                self.manifest.close()
        finally:
            if self._exiftool:
                from kimi_vision_cli.output.exiftool import close_shared

                close_shared()

    def finish(self, report: Callable[[KimiVisionError], None]) -> ExitCode:
        """close(), its failure reported (one line naming the rows not saved) and turned
        into the exit code to fold into the run's: the summary already counted those
        inputs done, so a lost row must not leave the run saying success."""
        try:
            self.close()
        except KimiVisionError as err:
            report(err)
            return err.exit_code
        return ExitCode.OK

    def _write_sidecar(self, spec: SidecarSpec, source: Source, result: Result) -> None:
        if spec.kind == "xmp":  # merged through ExifTool; loaded for --sidecar xmp only
            from kimi_vision_cli.output.xmp import write_sidecar as write_xmp

            write_xmp(spec.path_for(source), result.text, result.data, self.provenance, input=result.input)
        else:
            from kimi_vision_cli.output.sidecar import write_sidecar

            write_sidecar(spec, source, result, provenance=self.provenance)

    def _not_here(self, source: Source) -> KimiVisionError | None:
        """A sidecar goes beside its input only when the input is on this machine (batch
        results elsewhere): else it would make the input's directories again, and leave
        a caption of no file there. Under --output-dir (or in object storage) it is
        written as usual. (describe seldom meets it: a missing input fails when listed.)"""
        side = self.sidecar
        if side is None or side.output_dir is not None or side.store is not None or source.kind != "path":
            return None
        if os.path.lexists(source.value):
            return None
        return InputError(
            "no such file here: its sidecar goes beside it, so nothing was written",
            hint="fetch the results where the inputs are, or pass --output-dir DIR",
        )

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

    def _row_made(self, source: Source) -> Provenance | None:
        assert self.manifest is not None
        try:
            return self.manifest.provenance(self.manifest.file_name(source))
        except KimiVisionError:
            return None


def made_by(s: Settings) -> Provenance:
    """What this run's captions are made with: the model, and the prompt (None: the
    default one), system message and schema as parsed (not the file naming it)."""
    from kimi_vision_cli import provenance

    schema = None
    if s.request.schema is not None:
        from kimi_vision_cli.schema import load

        schema = load(s.request.schema).schema
    return provenance.of(s.request.model, s.request.prompt, s.request.system, schema)
