"""`describe`: one request per input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for, sources_for, walk_of
from kimi_vision_cli.errors import Tally, UsageError
from kimi_vision_cli.settings import Settings

if TYPE_CHECKING:
    from kimi_vision_cli.output.writers import Writers


@dataclass(frozen=True)
class DescribeArgs:
    inputs: list[str]
    recursive: bool
    hidden: bool
    exclude: list[str] | None
    files_from: Path | None
    files_from0: Path | None
    sidecar: str | None
    output_dir: Path | None
    manifest: Path | None
    on_exists: str
    shard: str | None


@command(app, "describe", DescribeArgs)
def describe(s: Settings, a: DescribeArgs) -> int:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli.flows import describe as flow
    from kimi_vision_cli.flows.describe import BatchOptions, Shard
    from kimi_vision_cli.output.render import make_renderer

    _check_subtitles(s, a)
    if s.schema is not None and s.segment is not None:
        raise UsageError("--schema and --segment do not go together", hint="drop one of them")
    writers = make_writers(a.sidecar, a.output_dir, a.manifest, a.on_exists, a.inputs)
    batch = BatchOptions(writers=writers, shard=Shard.parse(a.shard) if a.shard is not None else None)
    ctx = context_for(s)
    sources = sources_for(a.inputs, a.recursive, a.files_from, a.files_from0, walk_of(a.hidden, a.exclude))
    multi = len(a.inputs) > 1 or a.recursive or a.files_from is not None or a.files_from0 is not None
    if s.dry_run:
        from kimi_vision_cli.output.dryrun import write_plans

        tally = Tally(report=ctx.diag.error)
        write_plans(flow.plans(sources, ctx, batch, tally), s.format, STATE.term.stdout, multi=multi)
        return int(tally.exit_code)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking)
    try:
        tally = flow.run(sources, ctx, renderer, multi=multi, options=batch)
    finally:
        renderer.close()
        writers.close()
    return int(tally.exit_code)


def make_writers(
    sidecar: str | None, output_dir: Path | None, manifest: Path | None, on_exists: str, inputs: list[str]
) -> Writers:
    """--sidecar/--output-dir/--manifest as Writers (describe, batch results). The inputs
    given are checked against the manifest's directory now, before any request."""
    from kimi_vision_cli.inputs.discover import classify
    from kimi_vision_cli.output.writers import Writers

    kind = sidecar or ("txt" if output_dir is not None else None)
    overwrite = on_exists == "overwrite"
    writers = Writers(overwrite=overwrite)
    if kind:  # imported only when asked for (issue 12: start-up)
        from kimi_vision_cli.output.sidecar import SidecarSpec

        writers.sidecar = SidecarSpec(kind, output_dir)
    if manifest is not None:
        from kimi_vision_cli.output.manifest import Manifest

        writers.manifest = Manifest(manifest, overwrite=overwrite)
    writers.check(classify(arg) for arg in inputs)
    if writers.manifest is not None and writers.manifest.repaired:
        from kimi_vision_cli.output.diagnostics import Diagnostics

        cut = writers.manifest.repaired
        Diagnostics(STATE.term).warn(
            f"{manifest}: cut off a half-written last row ({cut} bytes) left by a crash"
        )
    return writers


def _check_subtitles(s: Settings, a: DescribeArgs) -> None:
    """vtt and srt are timed captions: they need --segment, and stdout holds one file."""
    for flag, kind in (("--format", s.format), ("--sidecar", a.sidecar)):
        if kind in ("vtt", "srt") and s.segment is None:
            raise UsageError(f"{flag} {kind} needs --segment", hint=f"e.g. --segment 30s {flag} {kind}")
    if s.format in ("vtt", "srt") and (
        len(a.inputs) != 1 or a.recursive or a.files_from is not None or a.files_from0 is not None
    ):
        raise UsageError(
            f"--format {s.format} writes one subtitle file to stdout: give one video",
            hint=f"for several videos, use --sidecar {s.format}",
        )
