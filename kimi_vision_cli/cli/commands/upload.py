"""`upload`: put media in Moonshot storage and print `ms://ID` per line.

Each input is prepared exactly as `describe` would send it (images resized and
stripped, videos probed or downscaled), so `ms://ID` stands for the same bytes.
"""

from __future__ import annotations

from kimi_vision_cli.cli.app import app
from kimi_vision_cli.cli.params import command, context_for, walk_of
from kimi_vision_cli.errors import Tally, UsageError, quote_name
from kimi_vision_cli.output.listing import UPLOADS, UPLOADS_NAMED, ListingWriter
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import UploadArgs
from kimi_vision_cli.terminal import Terminal


@command(app, "upload", UploadArgs)
def upload(term: Terminal, s: Settings, a: UploadArgs) -> int:
    """Upload media (purpose image or video, from its content) and print ms://ID per line."""
    from kimi_vision_cli.flows.upload import upload_each
    from kimi_vision_cli.inputs.discover import iter_sources

    if not a.inputs:
        raise UsageError("no input given", hint="pass image or video files (or -r DIR)")
    ctx = context_for(s, term, model=False)
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    several = len(a.inputs) > 1 or a.recursive  # as describe's headers: ms://ID<TAB>INPUT lines
    writer = ListingWriter(UPLOADS_NAMED if several else UPLOADS, s.run.format, term, ctx.diag)
    tally = Tally(report=ctx.diag.error)
    for up in upload_each(
        iter_sources(a.inputs, recursive=a.recursive, walk=walk_of(a.hidden, a.exclude)), ctx, tally
    ):
        writer.row(up)
        if s.run.verbose and up.cached and s.run.format == "text":  # json/jsonl say so in `cached`
            ctx.diag.note(f"{quote_name(up.input)}: same bytes uploaded before; reused ms://{up.file_id}")
    writer.close()
    return int(tally.exit_code)
