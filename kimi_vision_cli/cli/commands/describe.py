"""`describe`: one request per input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for, open_files_from
from kimi_vision_cli.errors import Tally, UsageError
from kimi_vision_cli.settings import Settings


@dataclass(frozen=True)
class DescribeArgs:
    inputs: list[str]
    recursive: bool
    files_from: Path | None
    sidecar: str | None
    output_dir: Path | None
    on_exists: str
    shard: str | None


@command(app, "describe", DescribeArgs)
def describe(s: Settings, a: DescribeArgs) -> int:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli.flows import describe as flow
    from kimi_vision_cli.flows.describe import BatchOptions, Shard
    from kimi_vision_cli.inputs.discover import iter_sources
    from kimi_vision_cli.output.render import make_renderer
    from kimi_vision_cli.output.sidecar import SidecarSpec

    _check_subtitles(s, a)
    kind = a.sidecar or ("txt" if a.output_dir is not None else None)
    batch = BatchOptions(
        sidecar=SidecarSpec(kind, a.output_dir) if kind else None,
        on_exists=a.on_exists,
        shard=Shard.parse(a.shard) if a.shard is not None else None,
    )
    ctx = context_for(s)
    fh = open_files_from(a.files_from)
    if not a.inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    sources = iter_sources(a.inputs, recursive=a.recursive, files_from=fh, list_on_stdin=str(a.files_from) == "-")
    if s.dry_run:
        from kimi_vision_cli.output.dryrun import write_plans

        tally = Tally(report=ctx.diag.error)
        write_plans(flow.plans(sources, ctx, batch, tally), s.format, STATE.term.stdout)
        return int(tally.exit_code)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking)
    multi = len(a.inputs) > 1 or a.recursive or fh is not None
    try:
        tally = flow.run(sources, ctx, renderer, multi=multi, options=batch)
    finally:
        renderer.close()
    return int(tally.exit_code)


def _check_subtitles(s: Settings, a: DescribeArgs) -> None:
    """vtt and srt are timed captions: they need --segment, and stdout holds one file."""
    for flag, kind in (("--format", s.format), ("--sidecar", a.sidecar)):
        if kind in ("vtt", "srt") and s.segment is None:
            raise UsageError(f"{flag} {kind} needs --segment", hint=f"e.g. --segment 30s {flag} {kind}")
    if s.format in ("vtt", "srt") and (len(a.inputs) != 1 or a.recursive or a.files_from is not None):
        raise UsageError(
            f"--format {s.format} writes one subtitle file to stdout: give one video",
            hint=f"for several videos, use --sidecar {s.format}",
        )
