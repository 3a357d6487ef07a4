"""Options shared by several commands, defined once (STYLE rule 7), and the helpers
that turn parsed flags into Settings and a pipeline Context."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE
from kimi_vision_cli.errors import UsageError

Model = Annotated[
    str | None, typer.Option("-m", "--model", help="Model id [env KIMI_VISION_MODEL; default kimi-k2.5].")
]
System = Annotated[str | None, typer.Option("--system", help="System message.")]
Thinking = Annotated[
    bool | None, typer.Option("--thinking/--no-thinking", help="kimi-k2.5 thinking mode [default: enabled].")
]
ShowThinking = Annotated[
    bool, typer.Option("--show-thinking", help="Stream the model's reasoning to stderr.")
]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", help="Completion token budget.", min=1)]
Temperature = Annotated[
    float | None,
    typer.Option("--temperature", help="Sampling temperature (not for kimi-k2.5, whose sampling is fixed)."),
]
JsonMode = Annotated[
    bool, typer.Option("--json-mode", help="Ask for a JSON object answer (response_format json_object).")
]
MaxSize = Annotated[
    str | None,
    typer.Option("--max-size", help="Image bound WxH, in the image's own orientation [default 4096x2160]."),
]
NoResize = Annotated[bool, typer.Option("--no-resize", help="Send images (and videos) as they are.")]
Convert = Annotated[
    bool, typer.Option("--convert", help="Turn other images Pillow reads (BMP, TIFF, HEIC...) into PNG/JPEG.")
]
KeepMetadata = Annotated[
    bool, typer.Option("--keep-metadata", help="Keep EXIF/GPS/XMP metadata (stripped by default).")
]
DownscaleVideo = Annotated[
    bool,
    typer.Option("--downscale-video", help="Transcode videos over 2048x1080 to fit (H.264 MP4; needs PyAV)."),
]


class UploadMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


class RegionName(str, Enum):
    global_ = "global"
    cn = "cn"


Upload = Annotated[
    UploadMode | None,
    typer.Option("--upload", help="auto: inline until the body nears 100 MB, then upload; always; never."),
]
Format = Annotated[OutputFormat | None, typer.Option("--format", help="Output format: text, json or jsonl.")]
DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the request JSON (base64 shortened, no key) and exit; no network."),
]
BaseUrl = Annotated[str | None, typer.Option("--base-url", help="API endpoint [env MOONSHOT_BASE_URL].")]
Region = Annotated[
    RegionName | None, typer.Option("--region", help="global (api.moonshot.ai) or cn (api.moonshot.cn).")
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="API key; prefer env MOONSHOT_API_KEY (KIMI_API_KEY also read).", show_default=False
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", help="Seconds to wait for the API [env KIMI_VISION_TIMEOUT; default 600]."),
]
Retries = Annotated[
    int | None,
    typer.Option(
        "--retries",
        help="Retries for rate limits, 5xx and network errors [env KIMI_VISION_RETRIES; default 4].",
        min=0,
    ),
]
Verbose = Annotated[
    bool, typer.Option("-v", "--verbose", help="More diagnostics on stderr (the key is never shown).")
]
Prompt = Annotated[
    str | None, typer.Option("-p", "--prompt", help="Prompt (default: describe the image/video).")
]
Inputs = Annotated[
    list[str],
    typer.Argument(help="Files, directories (-r), -, ms://FILE_ID or http(s):// URLs.", show_default=False),
]
Recursive = Annotated[bool, typer.Option("-r", "--recursive", help="Walk directories for media files.")]
FilesFrom = Annotated[
    Path | None,
    typer.Option("--files-from", help="Read inputs, one per line, from FILE (- for stdin).", allow_dash=True),
]


def settings_from(**flags: Any):  # type: ignore[no-untyped-def]
    from kimi_vision_cli import settings as settings_mod

    flags["resize"] = not flags.pop("no_resize", False)
    # Enum choices arrive as Enum members; Settings holds plain strings.
    flags = {k: (v.value if isinstance(v, Enum) else v) for k, v in flags.items()}
    return settings_mod.resolve(flags, STATE.term.env)


def context_for(settings):  # type: ignore[no-untyped-def]
    from kimi_vision_cli.flows.pipeline import Context
    from kimi_vision_cli.output.render import Diagnostics

    return Context(settings, STATE.term, Diagnostics(STATE.term))


def open_files_from(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    if str(path) == "-":
        return STATE.term.stdin
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"cannot read --files-from: {exc.strerror}", input=str(path)) from None
