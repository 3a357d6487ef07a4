"""`describe`: one request per input."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Convert,
    DownscaleVideo,
    DryRun,
    FilesFrom,
    Format,
    Inputs,
    JsonMode,
    KeepMetadata,
    MaxSize,
    MaxTokens,
    Model,
    NoResize,
    Prompt,
    Recursive,
    Region,
    Retries,
    ShowThinking,
    System,
    Temperature,
    Thinking,
    Timeout,
    Upload,
    Verbose,
    context_for,
    open_files_from,
    settings_from,
)  # fmt: skip
from kimi_vision_cli.errors import UsageError


class SidecarKind(str, Enum):
    txt = "txt"
    json = "json"


class OnExists(str, Enum):
    skip = "skip"
    overwrite = "overwrite"


@app.command()
def describe(
    inputs: Inputs = None,  # type: ignore[assignment]  # --files-from may bring them all
    prompt: Prompt = None,
    model: Model = None,
    system: System = None,
    thinking: Thinking = None,
    show_thinking: ShowThinking = False,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    json_mode: JsonMode = False,
    max_size: MaxSize = None,
    no_resize: NoResize = False,
    convert: Convert = False,
    keep_metadata: KeepMetadata = False,
    downscale_video: DownscaleVideo = False,
    upload: Upload = None,
    format: Format = None,
    dry_run: DryRun = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    concurrency: Annotated[
        int | None, typer.Option("-j", "--concurrency", help="Requests in flight [default 4].", min=1)
    ] = None,
    recursive: Recursive = False,
    files_from: FilesFrom = None,
    sidecar: Annotated[
        SidecarKind | None,
        typer.Option(
            "--sidecar",
            help="Write each caption next to its input: photo.png -> photo.png.txt (or .json: the JSONL record).",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write sidecars under DIR, mirroring the inputs' paths (implies --sidecar txt).",
            file_okay=False,
        ),
    ] = None,
    on_exists: Annotated[
        OnExists,
        typer.Option("--on-exists", help="skip: an input whose sidecar exists is not sent (resume); overwrite."),
    ] = OnExists.skip,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="K/N: take only shard K (1..N) of the inputs, split by a hash of the path."),
    ] = None,
) -> None:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli.flows import scheduler
    from kimi_vision_cli.flows.scheduler import BatchOptions, Shard
    from kimi_vision_cli.inputs.discover import iter_sources
    from kimi_vision_cli.output.render import make_renderer
    from kimi_vision_cli.output.sidecar import SidecarSpec

    batch_only = ("inputs", "files_from", "recursive", "sidecar", "output_dir", "on_exists", "shard")
    s = settings_from(**{k: v for k, v in locals().items() if k not in batch_only})
    kind = sidecar.value if sidecar else ("txt" if output_dir is not None else None)
    batch = BatchOptions(
        sidecar=SidecarSpec(kind, output_dir) if kind else None,
        on_exists=on_exists.value,
        shard=Shard.parse(shard) if shard is not None else None,
    )
    ctx = context_for(s)
    fh = open_files_from(files_from)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    inputs = inputs or []
    sources = iter_sources(inputs, recursive=recursive, files_from=fh)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking)
    multi = len(inputs) > 1 or recursive or fh is not None
    try:
        summary = scheduler.run(sources, ctx, renderer, multi=multi, options=batch)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code
