"""`upload`: put media in Moonshot storage and print `ms://ID` per line.

Each input is prepared exactly as `describe` would send it (images resized and
stripped, videos probed or downscaled), so `ms://ID` stands for the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.params import command, context_for
from kimi_vision_cli.errors import ExitCode, KimiVisionError, UsageError, stops_run, worst
from kimi_vision_cli.output.listing import UPLOADS, ListingWriter
from kimi_vision_cli.output.records import UploadRecord
from kimi_vision_cli.settings import Settings


@dataclass(frozen=True)
class UploadArgs:
    inputs: list[str]
    recursive: bool


@command(app, "upload", UploadArgs)
def upload(s: Settings, a: UploadArgs) -> None:
    """Upload media (purpose image or video, from its content) and print ms://ID per line."""
    from kimi_vision_cli import transport
    from kimi_vision_cli.api.uploads import UploadCache, upload_bytes
    from kimi_vision_cli.flows.pipeline import prepare_source
    from kimi_vision_cli.inputs.discover import iter_sources

    if not a.inputs:
        raise UsageError("no input given", hint="pass image or video files (or -r DIR)")
    ctx = context_for(s)
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    cache = UploadCache.for_env(STATE.term.env)
    writer = ListingWriter(UPLOADS, s.format, STATE.term, ctx.diag)
    code = ExitCode.OK
    for source in iter_sources(a.inputs, recursive=a.recursive):
        try:
            if source.kind == "file_id":
                raise UsageError("already uploaded", input=source.display, hint="nothing to do")
            p = prepare_source(source, ctx)
            assert p.ref.data is not None
            # Refused before any byte is sent: Moonshot caps one file at 100 MB.
            transport.check_file_size(len(p.ref.data), p.input)
            up = upload_bytes(
                ctx.client, cache, p.ref.data, p.ref.kind, p.ref.mime, base_url=s.base_url, name=p.input,
                reuse=not s.no_cache,
            )
        except KimiVisionError as err:
            err.with_input(source.display)
            ctx.diag.error(err)
            code = worst(code, err.exit_code)
            if stops_run(err):
                break
            continue
        writer.row(UploadRecord(p.input, up.file_id, up.purpose, up.bytes, up.cached))
        if s.verbose and up.cached and s.format == "text":  # json/jsonl say so in `cached`
            ctx.diag.note(f"{p.input}: same bytes uploaded before; reused ms://{up.file_id}")
    writer.close()
    STATE.exit_code = code
