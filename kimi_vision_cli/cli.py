"""Typer app: parse options, build Settings, call a flow, hand results to a renderer.

`run()` is the one error boundary (STYLE rule 1): typed errors print one line and
exit with their code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from kimi_vision_cli import __version__
from kimi_vision_cli.errors import ExitCode, KimiVisionError, UsageError
from kimi_vision_cli.terminal import Terminal

app = typer.Typer(
    name="kimi-vision",
    help="Describe images and videos with Moonshot's Kimi vision models.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # the API key must never show up in a traceback
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


class State:
    """Per-invocation state: the injected terminal and the exit code of the flow."""

    term: Terminal
    exit_code: ExitCode = ExitCode.OK


STATE = State()


def _version(value: bool) -> None:
    if value:
        STATE.term.stdout.write(f"kimi-vision {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Describe images and videos with Moonshot's Kimi vision models.

    Answers go to stdout; progress, reasoning, warnings and errors to stderr.
    Exit codes: 0 ok, 1 API failure, 2 bad input or usage, 3 auth/quota,
    75 temporary (rerun to finish), 130 interrupted.
    """


# -- shared options, defined once (STYLE rule 7) -------------------------------------
Model = Annotated[Optional[str], typer.Option("-m", "--model", help="Model id [env KIMI_VISION_MODEL; default kimi-k2.5].")]
System = Annotated[Optional[str], typer.Option("--system", help="System message.")]
Thinking = Annotated[
    Optional[bool], typer.Option("--thinking/--no-thinking", help="kimi-k2.5 thinking mode [default: enabled].")
]
ShowThinking = Annotated[bool, typer.Option("--show-thinking", help="Stream the model's reasoning to stderr.")]
MaxTokens = Annotated[Optional[int], typer.Option("--max-tokens", help="Completion token budget.", min=1)]
Temperature = Annotated[
    Optional[float], typer.Option("--temperature", help="Sampling temperature (not for kimi-k2.5, whose sampling is fixed).")
]
JsonMode = Annotated[bool, typer.Option("--json-mode", help='Ask for a JSON object answer (response_format json_object).')]
MaxSize = Annotated[Optional[str], typer.Option("--max-size", help="Image bound WxH, in the image's own orientation [default 4096x2160].")]
NoResize = Annotated[bool, typer.Option("--no-resize", help="Send images (and videos) as they are.")]
Convert = Annotated[bool, typer.Option("--convert", help="Turn other images Pillow reads (BMP, TIFF, HEIC...) into PNG/JPEG.")]
KeepMetadata = Annotated[bool, typer.Option("--keep-metadata", help="Keep EXIF/GPS/XMP metadata (stripped by default).")]
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
    Optional[UploadMode],
    typer.Option("--upload", help="auto: inline until the body nears 100 MB, then upload; always; never."),
]
Format = Annotated[Optional[OutputFormat], typer.Option("--format", help="Output format: text, json or jsonl.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the request JSON (base64 shortened, no key) and exit; no network.")]
BaseUrl = Annotated[Optional[str], typer.Option("--base-url", help="API endpoint [env MOONSHOT_BASE_URL].")]
Region = Annotated[Optional[RegionName], typer.Option("--region", help="global (api.moonshot.ai) or cn (api.moonshot.cn).")]
ApiKey = Annotated[Optional[str], typer.Option("--api-key", help="API key; prefer env MOONSHOT_API_KEY (KIMI_API_KEY also read).", show_default=False)]
Timeout = Annotated[Optional[float], typer.Option("--timeout", help="Seconds to wait for the API [env KIMI_VISION_TIMEOUT; default 600].")]
Retries = Annotated[Optional[int], typer.Option("--retries", help="Retries for rate limits, 5xx and network errors [env KIMI_VISION_RETRIES; default 4].", min=0)]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="More diagnostics on stderr (the key is never shown).")]
Prompt = Annotated[Optional[str], typer.Option("-p", "--prompt", help="Prompt (default: describe the image/video).")]
Inputs = Annotated[list[str], typer.Argument(help="Files, directories (-r), -, ms://FILE_ID or http(s):// URLs.", show_default=False)]


def _settings(**flags: Any):  # type: ignore[no-untyped-def]
    from kimi_vision_cli import settings as settings_mod

    flags["resize"] = not flags.pop("no_resize", False)
    # Enum choices arrive as Enum members; Settings holds plain strings.
    flags = {k: (v.value if isinstance(v, Enum) else v) for k, v in flags.items()}
    return settings_mod.resolve(flags, STATE.term.env)


def _context(settings):  # type: ignore[no-untyped-def]
    from kimi_vision_cli.pipeline import Context
    from kimi_vision_cli.render import Diagnostics

    return Context(settings, STATE.term, Diagnostics(STATE.term))


@app.command()
def describe(
    inputs: Inputs,
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
    upload: Upload = None,
    format: Format = None,
    dry_run: DryRun = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    concurrency: Annotated[Optional[int], typer.Option("-j", "--concurrency", help="Requests in flight [default 4].", min=1)] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Walk directories for media files.")] = False,
    files_from: Annotated[Optional[Path], typer.Option("--files-from", help="Read inputs, one per line, from FILE (- for stdin).", allow_dash=True)] = None,
) -> None:
    """One request per input: a caption for each image or video."""
    from kimi_vision_cli import pipeline
    from kimi_vision_cli.discover import iter_sources
    from kimi_vision_cli.render import make_renderer

    s = _settings(**{k: v for k, v in locals().items() if k not in ("inputs", "files_from", "recursive")})
    ctx = _context(s)
    fh = _open_files_from(files_from)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    sources = iter_sources(inputs, recursive=recursive, files_from=fh)
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking)
    multi = len(inputs) > 1 or recursive or fh is not None
    try:
        summary = pipeline.describe(sources, ctx, renderer, multi=multi)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question about the inputs.")],
    inputs: Inputs,
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
    upload: Upload = None,
    format: Format = None,
    dry_run: DryRun = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
    prefix: Annotated[Optional[str], typer.Option("--prefix", help="Partial Mode: the answer starts with this text.")] = None,
) -> None:
    """One request holding every input: ask a question about them together."""
    from kimi_vision_cli import pipeline
    from kimi_vision_cli.discover import iter_sources
    from kimi_vision_cli.render import make_renderer

    s = _settings(**{k: v for k, v in locals().items() if k not in ("inputs", "question", "prefix")})
    ctx = _context(s)
    sources = list(iter_sources(inputs))
    renderer = make_renderer(s.format, STATE.term, ctx.diag, show_thinking=s.show_thinking, single=True)
    try:
        summary = pipeline.ask(question, sources, ctx, renderer, prefix=prefix)
    finally:
        renderer.close()
    STATE.exit_code = summary.exit_code


def _open_files_from(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    if str(path) == "-":
        return STATE.term.stdin
    try:
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"cannot read --files-from: {exc.strerror}", input=str(path)) from None


# -- the error boundary ---------------------------------------------------------------

def run(argv: list[str], term: Terminal | None = None) -> int:
    """Run the CLI; return the exit code. Tests call this with a fake Terminal."""
    STATE.term = term or Terminal.from_system()
    STATE.exit_code = ExitCode.OK
    from kimi_vision_cli.render import Diagnostics

    diag = Diagnostics(STATE.term)
    try:
        rv = app(args=argv, prog_name="kimi-vision", standalone_mode=False)
        if isinstance(rv, int) and rv:
            return rv
    except KimiVisionError as err:
        diag.error(err)
        return int(err.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        STATE.term.stderr.write("\nkimi-vision: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # click's usage errors, as Typer re-exports them
        if type(exc).__name__ == "NoArgsIsHelpError":
            STATE.term.stderr.write(exc.ctx.get_help() + "\n")  # type: ignore[attr-defined]
            return int(ExitCode.BAD_INPUT)
        ctx = getattr(exc, "ctx", None)
        name = getattr(getattr(ctx, "command", None), "name", None)
        cmd = f"kimi-vision {name}" if name and name != "kimi-vision" else "kimi-vision"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        diag.error(UsageError(message, hint=f"see '{cmd} --help'"))
        return int(getattr(exc, "exit_code", ExitCode.BAD_INPUT) or ExitCode.BAD_INPUT)
    except BrokenPipeError:
        # `kimi-vision ... | head`: the reader left; not an error worth a traceback.
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
        return 141
    return int(STATE.exit_code)
