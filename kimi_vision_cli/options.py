"""The option table: every option of every command, declared once (STYLE rule 7).

Each row says the flags, the Settings field (and its group) or command field it fills,
its type, range or choices, default, environment variables, whether config.toml may set
it, and its help panel. From it come the Typer parameters (cli/params.py), the reading of
env and config and every range check (settings.resolve), the help text, and the typed
settings_types.py (`make settings`: the groups of Settings, the choices as Literal types,
each command's arguments). Pure data: no Typer here, so the layers below the CLI can read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from kimi_vision_cli.moonshot import BATCH_MAX_TOKENS, DEFAULT_MODEL, IMAGE_RECOMMENDED, K3, REGIONS

# Help panels, in the order --help shows them.
INPUTS = "Inputs and batch"
PROMPT = "Prompt and model"
MEDIA = "Images and video"
OUTPUT = "Output"
CONNECTION = "Connection"

# The groups of Settings (settings.py), in the order Settings holds them.
Group = Literal["connection", "request", "media", "run"]
GROUPS: tuple[Group, ...] = ("connection", "request", "media", "run")


@dataclass(frozen=True)
class Opt:
    dest: str  # the Settings field, or the command's own field when setting=False
    decls: tuple[str, ...]  # ("-m", "--model"); a bool switch may be ("--thinking/--no-thinking",)
    help: str
    panel: str = OUTPUT
    kind: type = str  # str | int | float | bool | Path | list (arguments taking several values)
    default: Any = None  # what applies when neither flag, env nor config gives a value
    env: tuple[str, ...] = ()
    config: bool = False  # config.toml may set it, under the key `dest`
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is refused (timeout > 0)
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None  # text (flag, env, config) -> value, or ValueError(why)
    setting: bool = True  # lands in Settings; False: a field of the command's own arguments
    argument: bool = False  # positional
    required: bool = False  # an argument that must be given
    secret: bool = False  # never shown (its default, its value)
    allow_dash: bool = False  # a path option that takes - for stdin
    metavar: str | None = None  # what --help shows for the value (default: from the kind)
    example: str | None = None  # the hint of a value `parse` refuses: "e.g. 4096x2160"
    text: bool = False  # sent in the request as it is: must be UTF-8 (settings.check_text)
    # Choices only some commands take, added to `choices` there: describe's --format vtt|srt
    # (subtitles need --segment; any other command refuses them like any unknown choice).
    wider: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Defaults only some commands have (none today: batch submit takes the run's model).
    defaults: tuple[tuple[str, Any], ...] = ()
    # Choices that replace `choices` in some commands: batch results has no --sidecar vtt|srt.
    narrower: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Help that replaces `help` in some commands, where the option means something else there.
    helps: tuple[tuple[str, str], ...] = ()
    # The Settings group a setting=True row lands in (Settings.connection, .request, .media,
    # .run: settings_types.py is generated from these rows); None only for --region, which
    # resolve folds into base_url.
    group: Group | None = None
    # The Settings field's default where `default` (what --help shows) is None only because
    # resolve always fills the field another way (base_url: from --region).
    field_default: Any = None

    def for_command(self, command: str | None) -> Opt:
        """This row as `command` takes it (Typer parameter, help, checks, default)."""
        opt = self
        extra = dict(self.wider).get(command or "")
        if extra:
            opt = replace(opt, choices=(*self.choices, *extra))
        own = dict(self.defaults)
        if command in own:
            opt = replace(opt, default=own[command])
        only = dict(self.narrower).get(command or "")
        if only:
            opt = replace(opt, choices=only)
        text = dict(self.helps).get(command or "")
        if text:
            opt = replace(opt, help=text)
        return opt

    @property
    def value_name(self) -> str:
        """--help's placeholder: INPUT..., N, SECONDS, text|json|jsonl."""
        if self.metavar:
            return self.metavar
        if self.kind is bool:
            return ""
        if self.choices:
            return "|".join(self.choices)
        name = {int: "N", float: "X", Path: "FILE"}.get(self.kind, "TEXT")
        if self.argument:
            name = self.dest.upper().rstrip("S") + ("..." if self.kind is list else "")
        return name

    def describe_range(self) -> str | None:
        """The accepted range as --help shows it: 1-256, at least 1, above 0, at most 86400."""
        if self.low is None and self.high is None:
            return None
        low = f"{self.low:g}" if self.low is not None else None
        high = f"{self.high:g}" if self.high is not None else None
        if self.low_open:
            return f"above {low}, at most {high}" if high else f"above {low}"
        if low is not None and high is not None:
            return f"{low}-{high}"
        return f"at least {low}" if low is not None else f"at most {high}"

    @property
    def long(self) -> str:
        """The flag a message names: --max-tokens (or the argument's name)."""
        if self.argument:
            return self.dest.upper()
        names = [d.split("/")[0] for d in self.decls]
        return next((n for n in names if n.startswith("--")), names[0])

    def describe_default(self) -> str | None:
        """The default as --help shows it, or None when there is nothing to show."""
        if self.secret or self.argument or self.default in (None, False, ()):
            return None
        if isinstance(self.default, tuple):
            return "x".join(str(v) for v in self.default)
        if self.kind is bool:
            return "enabled" if self.default else None
        if self.parse is duration and isinstance(self.default, (int, float)):
            return duration_text(self.default)  # as it is written: 2s, 1m, 1m30s
        return str(self.default)


def _size(text: str) -> tuple[int, int]:
    """ "4096x2160" -> (4096, 2160); ValueError says what is wrong (settings.check words it)."""
    try:
        w, h = str(text).lower().split("x")
        size = int(w), int(h)
    except ValueError:
        raise ValueError("is not WIDTHxHEIGHT") from None
    if min(size) < 1:
        raise ValueError("must be positive")
    return size


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def duration_text(seconds: float) -> str:
    """60.0 -> "1m", 2.0 -> "2s", 90 -> "1m30s": a duration as `duration` reads it."""
    minutes, rest = divmod(seconds, 60)
    text = f"{int(minutes)}m" if minutes else ""
    if rest or not text:
        text += f"{rest:g}s"
    return text


def duration(text: str) -> float:
    """ "30s", "2m", "1m30s", "4.5s", "1h" (a bare number is seconds) -> seconds, at least 1."""
    match = _DURATION.fullmatch(str(text).strip().lower())
    if not str(text).strip() or match is None or not any(match.groups()):
        raise ValueError("is not a duration")
    h, m, s = (float(g or 0) for g in match.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds < 1:  # shorter segments would only multiply requests for one frame each
        raise ValueError("must be at least 1s")
    return seconds


def segment(text: str) -> float | Literal["scenes"]:
    """--segment: a DURATION, or `scenes` (cut where the picture changes: media/scenes.py)."""
    if str(text).strip().lower() == "scenes":
        return "scenes"
    try:
        return duration(text)
    except ValueError as err:
        raise ValueError(f"{err} (nor 'scenes')") from None


_ROWS = [
    # -- inputs and batch -------------------------------------------------------------
    Opt("inputs", (), "Files, directories (-r), -, ms://ID or URLs.", INPUTS,
        kind=list, setting=False, argument=True),
    Opt("recursive", ("-r", "--recursive"), "Walk directories for media files.", INPUTS,
        kind=bool, setting=False),
    Opt("files_from", ("--files-from",), "Inputs, one per line, from FILE (- for stdin).", INPUTS,
        kind=Path, setting=False, allow_dash=True),
    Opt("files_from0", ("--files-from0",),
        "Inputs, NUL-separated (find -print0), from FILE (- for stdin).", INPUTS,
        kind=Path, setting=False, allow_dash=True),
    Opt("hidden", ("--hidden",), "-r: walk hidden files and directories too (.*, AppleDouble ._*).", INPUTS,
        kind=bool, setting=False),
    Opt("exclude", ("--exclude",),
        "-r: leave out what GLOB matches (repeatable): a base name (*.gif, raw/) or, with a /, "
        "a path under the walked directory (drafts/*.png).", INPUTS,
        kind=list, setting=False, metavar="GLOB"),
    Opt("concurrency", ("-j", "--concurrency"), "Requests in flight.", INPUTS,
        kind=int, default=4, env=("KIMI_VISION_CONCURRENCY",), config=True, low=1, high=256, group="run"),
    Opt("sidecar", ("--sidecar",),
        "Write photo.png.txt (or .json, the record; .xmp, XMP metadata; .vtt/.srt with --segment) beside each input.",
        INPUTS, choices=("txt", "json", "xmp", "vtt", "srt"), setting=False,
        helps=(("estimate", "Count only inputs without this sidecar, as describe --sidecar would send."),)),
    Opt("output_dir", ("--output-dir",),
        "Sidecars under DIR, mirroring input paths.", INPUTS,
        kind=Path, setting=False, metavar="DIR",
        helps=(("estimate", "Count only inputs without a caption under DIR, as describe would send."),)),
    Opt("manifest", ("--manifest",),
        "Also add a row per input to a Hugging Face imagefolder FILE.jsonl or FILE.csv (file_name, text).",
        INPUTS, kind=Path, setting=False, metavar="FILE"),
    Opt("on_exists", ("--on-exists",),
        "An input whose sidecar exists: skip (resume); overwrite; stale: redo those made with another model, prompt, system or schema.",
        INPUTS, choices=("skip", "overwrite", "stale"), default="skip", setting=False,
        helps=(("estimate", "An input whose sidecar exists: skip (not counted), as describe would."),)),
    Opt("embed", ("--embed",),
        "Also write the caption into the image's own metadata (JPEG, TIFF, PNG, WebP, HEIC, AVIF): "
        "XMP, IPTC and EXIF description, alt text, keywords; pixels never change.", INPUTS,
        kind=bool, setting=False),
    Opt("touch", ("--touch",), "With --embed: set the file's modification time to now (default: kept).",
        INPUTS, kind=bool, setting=False),
    Opt("shard", ("--shard",), "K/N: only shard K of N (by a hash of the path).",
        INPUTS, setting=False, metavar="K/N"),
    Opt("max_cost", ("--max-cost",),
        "Start no request once the money spent (usage x price) reaches AMOUNT, in the price's currency.",
        INPUTS, kind=float, env=("KIMI_VISION_MAX_COST",), config=True, low=0, metavar="AMOUNT",
        helps=(("batch submit", "Submit only the requests whose worst case (input tokens at the cache-miss price "
                "plus all of --max-tokens at the output price) fits in AMOUNT; the rest are not sent."),), group="run"),
    Opt("max_memory", ("--max-memory",),
        "Start no request while the media held by those in flight would pass MIB mebibytes (one bigger goes alone).",
        INPUTS, kind=int, default=512, env=("KIMI_VISION_MAX_MEMORY",), config=True, low=1, metavar="MIB", group="run"),
    # -- prompt and model ---------------------------------------------------------------
    Opt("prompt", ("-p", "--prompt"), "Prompt (default: describe the media).", PROMPT, config=True, text=True, group="request"),
    Opt("model", ("-m", "--model"), "Model id.", PROMPT, metavar="MODEL",
        default=DEFAULT_MODEL, env=("KIMI_VISION_MODEL",), config=True, group="request"),
    Opt("system", ("--system",), "System message.", PROMPT, config=True, text=True, group="request"),
    Opt("thinking", ("--thinking/--no-thinking",), "Thinking mode (kimi-k2.x; kimi-k3 always thinks).",
        PROMPT, kind=bool, default=True, config=True, group="request"),
    Opt("effort", ("--effort",), "How hard kimi-k3 thinks (reasoning_effort; not for other models).",
        PROMPT, choices=K3.efforts, env=("KIMI_VISION_EFFORT",), config=True, group="request"),
    Opt("show_thinking", ("--show-thinking",), "Stream the model's reasoning to stderr.", PROMPT, kind=bool, group="run"),
    Opt("max_tokens", ("--max-tokens",), "Completion token budget.", PROMPT,
        kind=int, env=("KIMI_VISION_MAX_TOKENS",), config=True, low=1,
        defaults=(("batch submit", BATCH_MAX_TOKENS),), group="request"),
    Opt("temperature", ("--temperature",),
        "Sampling temperature (not for kimi-k2.x or kimi-k3, whose sampling is fixed).", PROMPT, kind=float, group="request"),
    Opt("json_mode", ("--json-mode",), "Ask for a JSON object answer.",
        PROMPT, kind=bool, group="request"),
    Opt("schema", ("--schema",),
        "Structured answer, checked: a JSON Schema (file or inline) or fields "
        "`alt_text, tags: list, people: int` (name[: str|int|float|bool|list|list[int]...]).",
        PROMPT, metavar="SCHEMA", group="request"),
    # -- images and video ---------------------------------------------------------------
    Opt("max_size", ("--max-size",), "Image bound WxH, in its own orientation.", MEDIA,
        default=IMAGE_RECOMMENDED, config=True, parse=_size, metavar="WxH", example="4096x2160", group="media"),
    Opt("no_resize", ("--no-resize",), "Send images (and videos) as they are.", MEDIA, kind=bool, group="media"),
    Opt("convert", ("--convert",), "Turn BMP, TIFF, HEIC... into PNG/JPEG.",
        MEDIA, kind=bool, group="media"),
    Opt("keep_metadata", ("--keep-metadata",), "Keep EXIF/GPS/XMP (stripped by default).",
        MEDIA, kind=bool, group="media"),
    Opt("downscale_video", ("--downscale-video",),
        "Transcode videos over 2048x1080 (PyAV).", MEDIA, kind=bool, group="media"),
    Opt("segment", ("--segment",),
        "Videos: one request per segment of about DURATION (30s, 2m, 1m30s), or per shot (scenes).",
        MEDIA, parse=segment, metavar="DURATION|scenes", example="30s, 2m, 1m30s or scenes", group="media"),
    Opt("min_segment", ("--min-segment",), "--segment scenes: shorter shots join the next.",
        MEDIA, parse=duration, default=2.0, metavar="DURATION", example="2s", group="media"),
    Opt("max_segment", ("--max-segment",), "--segment scenes: longer shots are cut on a grid.",
        MEDIA, parse=duration, default=60.0, metavar="DURATION", example="1m", group="media"),
    Opt("upload", ("--upload",), "auto: inline until the body nears 100 MiB.",
        MEDIA, choices=("auto", "always", "never"), default="auto", config=True, group="media"),
    Opt("no_cache", ("--no-cache",), "Upload again though the same bytes were.",
        MEDIA, kind=bool, group="media"),
    # -- output ---------------------------------------------------------------------------
    Opt("format", ("--format",), "Output format.", OUTPUT,
        choices=("text", "json", "jsonl"), default="text", config=True, wider=(("describe", ("vtt", "srt")),), group="run"),
    Opt("dry_run", ("--dry-run",), "Print the request JSON; no network.",
        OUTPUT, kind=bool, group="run"),
    Opt("verbose", ("-v", "--verbose"), "More diagnostics on stderr (never the key).", OUTPUT,
        kind=bool, group="run"),
    # -- connection -----------------------------------------------------------------------
    Opt("base_url", ("--base-url",), "API endpoint.", CONNECTION, env=("MOONSHOT_BASE_URL",), config=True,
        metavar="URL", group="connection", field_default=REGIONS["global"]),
    Opt("region", ("--region",), "global (api.moonshot.ai) or cn (.cn).", CONNECTION,
        choices=("global", "cn"), env=("KIMI_VISION_REGION",), config=True),
    Opt("api_key", ("--api-key",), "API key; prefer env MOONSHOT_API_KEY.", metavar="KEY", panel=
        CONNECTION, env=("MOONSHOT_API_KEY", "KIMI_API_KEY"), secret=True, group="connection"),
    Opt("timeout", ("--timeout",), "Seconds to wait for the API.", CONNECTION, metavar="SECONDS",
        kind=float, default=600.0, env=("KIMI_VISION_TIMEOUT",), config=True, low=0, high=86_400,
        low_open=True, group="connection"),
    Opt("retries", ("--retries",), "Retries: rate limits, 5xx, network.", CONNECTION,
        kind=int, default=4, env=("KIMI_VISION_RETRIES",), config=True, low=0, high=100, group="connection"),
    # -- command fields -------------------------------------------------------------------
    Opt("question", (), "The question about the inputs.", INPUTS,
        setting=False, argument=True, required=True, text=True),
    Opt("prefix", ("--prefix",), "Partial Mode: the answer starts with this text.", PROMPT,
        setting=False, text=True),
    Opt("interactive", ("-i", "--interactive"),
        "Then read follow-up questions from stdin (EOF, exit or quit ends).", PROMPT, kind=bool, setting=False),
    Opt("ask", ("--ask",), "Estimate one `ask` request holding every input, with this question.", PROMPT,
        setting=False),
    Opt("batch", ("--batch",), f"Price as `batch submit` would send: the Batch API's price (60%), {BATCH_MAX_TOKENS} max_tokens.",
        PROMPT, kind=bool, setting=False),
    Opt("all_models", ("--all",), "List every model the key can use, not only vision ones.", OUTPUT,
        kind=bool, setting=False),
    Opt("all_files", ("--all",), "Delete every file in the account, not only this tool's uploads.", INPUTS,
        kind=bool, setting=False),
    Opt("yes", ("-y", "--yes"), "Do not ask for confirmation.", INPUTS, kind=bool, setting=False),
    Opt("file_ids", (), "File ids (ID or ms://ID).", INPUTS, kind=list, setting=False, argument=True,
        required=True),
    Opt("batch_ids", (), "Batch ids, as `batch submit` printed them.", INPUTS, kind=list, setting=False,
        argument=True, required=True),
    Opt("wait", ("--wait",), "Poll until the batches end (Ctrl-C leaves them running).", INPUTS,
        kind=bool, setting=False),
    Opt("window", ("--completion-window", "--window"), "Batch API completion window, 12h to 7d.", INPUTS,
        default="24h", setting=False, metavar="DURATION"),
    # -- report (issue 22) ------------------------------------------------------------------
    Opt("report", ("--report",),
        "At the end (also of a run cut short), write a page to review the run's captions (see `report`).",
        OUTPUT, kind=Path, setting=False, metavar="FILE.html"),
    Opt("sources", (),
        "Records (describe --format jsonl/json; - reads stdin), a manifest (.jsonl/.csv) or a directory "
        "of JSON sidecars.", INPUTS, kind=list, setting=False, argument=True, required=True),
    Opt("output", ("-o", "--output"), "The page to write (FILE.html), whole or not at all.", OUTPUT,
        kind=Path, setting=False, metavar="FILE.html"),
]  # fmt: skip

OPTIONS: dict[str, Opt] = {o.dest: o for o in _ROWS}
assert len(OPTIONS) == len(_ROWS), "an option dest is declared twice"

# Groups of options that commands share, in --help order.
_CONNECTION = ("base_url", "region", "api_key", "timeout", "retries")
_MODEL = ("model", "system", "thinking", "effort", "show_thinking", "max_tokens", "temperature", "json_mode",
          "schema")  # fmt: skip
_MEDIA = ("max_size", "no_resize", "convert", "keep_metadata", "downscale_video")
_REQUEST = (*_MODEL, *_MEDIA, "upload")

# Which options each command takes; the order is the order of --help and of the arguments.
COMMANDS: dict[str, tuple[str, ...]] = {
    "describe": (
        "inputs", "prompt", *_REQUEST, "segment", "min_segment", "max_segment", "format", "dry_run", "verbose",
        "recursive", "hidden", "exclude", "files_from", "files_from0", "concurrency", "sidecar", "output_dir",
        "manifest", "on_exists", "shard", "report", "embed", "touch", "max_cost", "max_memory", *_CONNECTION,
    ),
    "ask": ("question", "inputs", *_REQUEST, "prefix", "interactive", "recursive", "hidden", "exclude",
            "format", "dry_run", "verbose", "max_cost", *_CONNECTION),
    "upload": ("inputs", *_MEDIA, "no_cache", "recursive", "hidden", "exclude", "format", "verbose", *_CONNECTION),
    "estimate": ("inputs", "prompt", "ask", "batch", *[o for o in _REQUEST if o != "show_thinking"], "segment",
                 "min_segment", "max_segment",
                 "recursive", "hidden", "exclude", "files_from", "files_from0", "sidecar", "output_dir",
                 "on_exists", "format", "dry_run", "verbose", *_CONNECTION),
    "models": ("all_models", "format", "verbose", *_CONNECTION),
    "files list": ("format", "verbose", *_CONNECTION),
    "files delete": ("file_ids", "verbose", *_CONNECTION),
    "files prune": ("all_files", "yes", "verbose", *_CONNECTION),
    "batch submit": ("inputs", "prompt", *[o for o in _REQUEST if o not in ("show_thinking", "upload")],
                     "recursive", "hidden", "exclude", "files_from", "files_from0", "window", "max_cost", "format",
                     "verbose", *_CONNECTION, "segment", "min_segment", "max_segment"),
    "batch status": ("batch_ids", "format", *_CONNECTION),
    "batch cancel": ("batch_ids", "format", *_CONNECTION),
    "batch results": ("batch_ids", "wait", "schema", "sidecar", "output_dir", "manifest", "on_exists", "format",
                      "embed", "touch", *_CONNECTION),
    "report": ("sources", "output"),
}  # fmt: skip

SETTINGS_OPTIONS = tuple(o for o in _ROWS if o.setting)
CONFIG_OPTIONS = tuple(o for o in _ROWS if o.config)
