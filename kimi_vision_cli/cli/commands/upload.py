"""`upload`: put media in Moonshot storage and print `ms://ID` per line.

Each input is prepared exactly as `describe` would send it (images resized and
stripped, videos probed or downscaled), so `ms://ID` stands for the same bytes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DownscaleVideo,
    Format,
    Inputs,
    KeepMetadata,
    MaxSize,
    NoResize,
    Recursive,
    Region,
    Retries,
    Timeout,
    Verbose,
    context_for,
    settings_from,
)  # fmt: skip
from kimi_vision_cli.errors import ExitCode, KimiVisionError, UsageError, stops_run, worst

# `--format json`: the keys of each object, a contract pinned by tests/test_upload.py.
UPLOAD_KEYS = ("input", "file_id", "url", "purpose", "bytes", "cached")


@app.command()
def upload(
    inputs: Inputs = None,  # type: ignore[assignment]
    max_size: MaxSize = None,
    no_resize: NoResize = False,
    convert: Convert = False,
    keep_metadata: KeepMetadata = False,
    downscale_video: DownscaleVideo = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Upload again even if the same bytes were uploaded before.")
    ] = False,
    recursive: Recursive = False,
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
) -> None:
    """Upload media (purpose image or video, from its content) and print ms://ID per line."""
    from kimi_vision_cli import transport
    from kimi_vision_cli.api.uploads import UploadCache, upload_bytes
    from kimi_vision_cli.flows.pipeline import prepare_source
    from kimi_vision_cli.inputs.discover import iter_sources

    s = settings_from(**{k: v for k, v in locals().items() if k not in ("inputs", "recursive")})
    if not inputs:
        raise UsageError("no input given", hint="pass image or video files (or -r DIR)")
    ctx = context_for(s)
    ctx.client  # noqa: B018 - a missing key stops the run before any input is read
    cache = UploadCache.for_env(STATE.term.env)
    out = STATE.term.stdout
    rows: list[dict[str, Any]] = []
    code = ExitCode.OK
    for source in iter_sources(inputs, recursive=recursive):
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
        row = {
            "input": p.input, "file_id": up.file_id, "url": f"ms://{up.file_id}",
            "purpose": up.purpose, "bytes": up.bytes, "cached": up.cached,
        }  # fmt: skip
        rows.append(row)
        if s.format == "jsonl":
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif s.format == "text":
            out.write(f"ms://{up.file_id}\n")
            if s.verbose and up.cached:
                ctx.diag.note(f"{p.input}: same bytes uploaded before; reused ms://{up.file_id}")
        out.flush()
    if s.format == "json":
        out.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    STATE.exit_code = code
