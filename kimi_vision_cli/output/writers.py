"""What a finished input leaves on disk besides stdout: its sidecar (--sidecar,
--output-dir) and its manifest row (--manifest). describe and `batch results` share
these writers, so a results run over a finished batch leaves the files a describe run
would have.

Resume (--on-exists skip, the default): an input is skipped when every output asked
for is there; when only some are (a run stopped between the sidecar and the row), it
is described again and only the missing ones are written: what is there is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.inputs.discover import Source

if TYPE_CHECKING:  # made by the command when asked for: a run without them never loads them
    from kimi_vision_cli.output.manifest import Manifest
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.output.sidecar import SidecarSpec


@dataclass
class Writers:
    sidecar: SidecarSpec | None = None
    manifest: Manifest | None = None
    overwrite: bool = False  # --on-exists overwrite

    def __bool__(self) -> bool:
        return self.sidecar is not None or self.manifest is not None

    def check(self, sources: Iterable[Source]) -> None:
        """Up front, before any request: captions can go under --output-dir, and the
        manifest can name every input given."""
        if self.sidecar is not None:
            self.sidecar.check()
        if self.manifest is not None:
            self.manifest.check(sources)

    def rejects(self, source: Source) -> KimiVisionError | None:
        """Why this input can have no output here (its sidecar is another file's, a
        manifest cannot name it), or None."""
        if source.error is not None:
            return None
        if self.sidecar is not None and (err := self.sidecar.conflict(source)) is not None:
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
        return self._has_sidecar(source) is not False and self._has_row(source) is not False

    def write(self, source: Source, result: Result) -> None:
        """The outputs of one successful input: the sidecar, then the manifest row (so a
        crash in between leaves a row missing, which the rerun adds). OutputError on a
        write that failed; a sidecar or row already there is kept unless overwrite."""
        replace = self.overwrite or source.kind == "stdin"  # stdin.txt: what was piped last
        result = result.cleaned()  # no control character reaches a file (issue 19, item 12)
        if self.sidecar is not None and (replace or not self._has_sidecar(source)):
            from kimi_vision_cli.output.sidecar import write_sidecar

            write_sidecar(self.sidecar, source, result)
        if self.manifest is not None:
            from kimi_vision_cli.schema import answer_caption

            data = getattr(result, "data", None)
            self.manifest.add(self.manifest.file_name(source), answer_caption(result.text, data), data)

    def close(self) -> None:
        if self.manifest is not None:
            self.manifest.close()

    def _has_sidecar(self, source: Source) -> bool | None:
        if self.sidecar is None:
            return None
        try:
            return self.sidecar.path_for(source).exists()
        except (OSError, ValueError):  # name too long, no permission: the write will say so
            return False

    def _has_row(self, source: Source) -> bool | None:
        if self.manifest is None:
            return None
        try:
            return self.manifest.file_name(source) in self.manifest
        except KimiVisionError:
            return False
