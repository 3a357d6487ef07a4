"""`report`: one self-contained HTML page to review captions (issue 22)."""

from __future__ import annotations

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command
from kimi_vision_cli.errors import Tally, UsageError
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import ReportArgs
from kimi_vision_cli.terminal import Terminal


@command(app, "report", ReportArgs)
def report(term: Terminal, s: Settings, a: ReportArgs) -> int:
    """Write one HTML page (no network needed) to review captions: from records, a manifest or sidecars."""
    from kimi_vision_cli.flows.report import entry_thumb
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.report import check_target, summary, write_report
    from kimi_vision_cli.output.report_sources import read_source, unique

    if a.output is None:
        raise UsageError("no page to write", hint="pass -o FILE.html")
    check_target(a.output, "-o")  # before anything is read
    diag = Diagnostics(term)
    tally = Tally(report=diag.error)
    found = (e for arg in a.sources for e in read_source(arg, term.stdin_bytes, tally.error, diag.note))
    entries = unique(found)
    if not entries:
        raise UsageError("nothing to report: no record was read", hint=f"nothing written to {a.output}")
    write_report(a.output, entries, thumbs=entry_thumb)
    diag.note(summary(a.output, entries))
    return int(tally.exit_code)
