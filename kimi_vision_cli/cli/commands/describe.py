"""`describe`: one request per input."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command, context_for, sources_for, walk_of
from kimi_vision_cli.errors import Tally, Terminated, UsageError
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import DescribeArgs
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.report_sources import RunReport
    from kimi_vision_cli.output.writers import Writers
    from kimi_vision_cli.runner.context import Context


@command(app, "describe", DescribeArgs)
def describe(term: Terminal, s: Settings, a: DescribeArgs) -> int:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli.flows import describe as flow
    from kimi_vision_cli.flows.describe import BatchOptions, Shard
    from kimi_vision_cli.inputs.discover import classify
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.render import make_renderer
    from kimi_vision_cli.output.sinks import RenderSink
    from kimi_vision_cli.output.writers import Writers, made_by

    _check_subtitles(s, a)
    if s.media.segment == "scenes":
        from kimi_vision_cli.media.scenes import check

        check(s.media.min_segment, s.media.max_segment)  # before any input is read
    report = run_report(a.report)  # checked before any request
    writers = Writers.from_options(
        a.sidecar, a.output_dir, a.manifest, a.on_exists, (classify(i) for i in a.inputs), made_by(s),
        embed=a.embed, touch=a.touch, warn=Diagnostics(term).warn,
    )  # fmt: skip
    writers.fill_rows = not s.run.dry_run  # a dry run writes nothing
    writers.structured = s.request.schema is not None
    shard = Shard.parse(a.shard) if a.shard is not None else None
    batch = BatchOptions(writers=writers, shard=shard)
    ctx = context_for(s, term)
    sources = sources_for(
        term, a.inputs, a.recursive, a.files_from, a.files_from0, walk_of(a.hidden, a.exclude)
    )
    multi = len(a.inputs) > 1 or a.recursive or a.files_from is not None or a.files_from0 is not None
    if s.run.dry_run:
        from kimi_vision_cli.output.dryrun import write_plans

        if report is not None:
            ctx.diag.note(f"dry run: no report written to {a.report}")
        tally = Tally(report=ctx.diag.error)
        write_plans(flow.plans(sources, ctx, batch, tally), s.run.format, term.stdout, multi=multi)
        _say_stale(writers, ctx)
        return int(tally.exit_code)
    renderer = make_renderer(s.run.format, term, ctx.diag, show_thinking=s.run.show_thinking)
    observe = report.add if report else None
    sink = RenderSink(renderer, s.run.format, term, ctx.diag, verbose=s.run.verbose, observe=observe)
    ran: Tally | None = None
    try:
        ran = flow.run(sources, ctx, sink, multi=multi, options=batch)
    except (KeyboardInterrupt, Terminated):
        report = None  # a second Ctrl-C means now: no page of thumbnails to wait for
        raise
    finally:
        renderer.close()
        closed = writers.finish(ctx.diag.error)  # an object manifest's last rows: kept, or named
        if ran is not None:
            ran.fold(closed)
        if report is not None:  # also after a run cut short: what it did is worth a look
            _write_report(report, ran, ctx.diag)
    _say_stale(writers, ctx)
    return int(ran.exit_code)


def _say_stale(writers: Writers, ctx: Context) -> None:
    if (said := writers.stale_warning()) is not None:
        ctx.diag.warn(said)


def run_report(path: Path | None) -> RunReport | None:
    """--report FILE.html: checked now (an .html name in a directory that can be written)."""
    if path is None:
        return None
    from kimi_vision_cli.flows.report import entry_thumb
    from kimi_vision_cli.output.report import check_target
    from kimi_vision_cli.output.report_sources import RunReport

    check_target(path, "--report")
    return RunReport(path, entry_thumb)


def _write_report(report: RunReport, tally: Tally | None, diag: Diagnostics) -> None:
    """The page of the run. A page that cannot be written is an error line and exit 1 (or
    the run's own code when worse, SPEC's order); when the run itself raised (a missing
    key...), its error stays the one the boundary reports."""
    from kimi_vision_cli.errors import KimiVisionError

    try:
        said = report.write()
    except KimiVisionError as err:
        diag.error(err)
        if tally is not None:
            tally.fold(err.exit_code)
        return
    diag.note(said)


def _check_subtitles(s: Settings, a: DescribeArgs) -> None:
    """vtt and srt are timed captions: they need --segment, and stdout holds one file."""
    for flag, kind in (("--format", s.run.format), ("--sidecar", a.sidecar)):
        if kind in ("vtt", "srt") and s.media.segment is None:
            raise UsageError(f"{flag} {kind} needs --segment", hint=f"e.g. --segment 30s {flag} {kind}")
    if s.run.format in ("vtt", "srt") and (
        len(a.inputs) != 1 or a.recursive or a.files_from is not None or a.files_from0 is not None
    ):
        raise UsageError(
            f"--format {s.run.format} writes one subtitle file to stdout: give one video",
            hint=f"for several videos, use --sidecar {s.run.format}",
        )
