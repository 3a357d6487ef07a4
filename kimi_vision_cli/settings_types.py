"""Typed settings, generated from the option table (kimi_vision_cli/options.py) by
`make settings`: do not edit. Change the table's rows, then regenerate
(tests/test_settings_types.py fails on drift). settings.py assembles the groups into
Settings; each command takes its `...Args`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

from kimi_vision_cli.moonshot import DEFAULT_MODEL, IMAGE_RECOMMENDED, REGIONS

# -- choices: one alias per option that takes a fixed set of values ----------------

Sidecar = Literal["txt", "json", "xmp", "vtt", "srt"]
OnExists = Literal["skip", "overwrite", "stale"]
Effort = Literal["low", "high", "max"]
Upload = Literal["auto", "always", "never"]
Format = Literal["text", "json", "jsonl", "vtt", "srt"]
Region = Literal["global", "cn"]


# -- the groups of Settings ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """Where and how requests go: the endpoint, the key, timeout, retries."""

    base_url: str = REGIONS["global"]
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 600.0
    retries: int = 4


@dataclass(frozen=True, kw_only=True)
class RequestSettings:
    """What each request asks: model, prompt, system, thinking, limits, answer format."""

    prompt: str | None = None
    model: str = DEFAULT_MODEL
    system: str | None = None
    thinking: bool = True
    effort: Effort | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    json_mode: bool = False
    schema: str | None = None


@dataclass(frozen=True, kw_only=True)
class MediaSettings:
    """How media is prepared and sent: size bound, conversion, metadata, segments, uploads."""

    max_size: tuple[int, int] = IMAGE_RECOMMENDED
    no_resize: bool = False
    convert: bool = False
    keep_metadata: bool = False
    downscale_video: bool = False
    segment: float | Literal["scenes"] | None = None
    min_segment: float = 2.0
    max_segment: float = 60.0
    upload: Upload = "auto"
    no_cache: bool = False


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How the run goes and shows: output format, dry run, concurrency, budgets, diagnostics."""

    concurrency: int = 4
    max_cost: float | None = None
    max_memory: int = 512
    show_thinking: bool = False
    format: Format = "text"
    dry_run: bool = False
    verbose: bool = False


class GroupChanges(TypedDict, total=False):
    """What Settings.with_ takes of the groups: any field, by its own name."""

    base_url: str
    api_key: str | None
    timeout: float
    retries: int
    prompt: str | None
    model: str
    system: str | None
    thinking: bool
    effort: Effort | None
    max_tokens: int | None
    temperature: float | None
    json_mode: bool
    schema: str | None
    max_size: tuple[int, int]
    no_resize: bool
    convert: bool
    keep_metadata: bool
    downscale_video: bool
    segment: float | Literal["scenes"] | None
    min_segment: float
    max_segment: float
    upload: Upload
    no_cache: bool
    concurrency: int
    max_cost: float | None
    max_memory: int
    show_thinking: bool
    format: Format
    dry_run: bool
    verbose: bool


# Each field's group: Settings.with_(model=...) changes settings.request.model.
GROUP_OF: dict[str, str] = {
    "base_url": "connection",
    "api_key": "connection",
    "timeout": "connection",
    "retries": "connection",
    "prompt": "request",
    "model": "request",
    "system": "request",
    "thinking": "request",
    "effort": "request",
    "max_tokens": "request",
    "temperature": "request",
    "json_mode": "request",
    "schema": "request",
    "max_size": "media",
    "no_resize": "media",
    "convert": "media",
    "keep_metadata": "media",
    "downscale_video": "media",
    "segment": "media",
    "min_segment": "media",
    "max_segment": "media",
    "upload": "media",
    "no_cache": "media",
    "concurrency": "run",
    "max_cost": "run",
    "max_memory": "run",
    "show_thinking": "run",
    "format": "run",
    "dry_run": "run",
    "verbose": "run",
}


# -- each command's own arguments (rows with setting=False) ---------------------------


@dataclass(frozen=True, kw_only=True)
class DescribeArgs:
    """`kimi-vision describe`: its options that are not Settings."""

    inputs: list[str]
    recursive: bool
    hidden: bool
    exclude: list[str] | None
    files_from: Path | None
    files_from0: Path | None
    sidecar: Sidecar | None
    output_dir: Path | None
    manifest: Path | None
    on_exists: OnExists
    shard: str | None
    report: Path | None
    embed: bool
    touch: bool


@dataclass(frozen=True, kw_only=True)
class AskArgs:
    """`kimi-vision ask`: its options that are not Settings."""

    question: str
    inputs: list[str]
    prefix: str | None
    interactive: bool
    recursive: bool
    hidden: bool
    exclude: list[str] | None


@dataclass(frozen=True, kw_only=True)
class UploadArgs:
    """`kimi-vision upload`: its options that are not Settings."""

    inputs: list[str]
    recursive: bool
    hidden: bool
    exclude: list[str] | None


@dataclass(frozen=True, kw_only=True)
class EstimateArgs:
    """`kimi-vision estimate`: its options that are not Settings."""

    inputs: list[str]
    ask: str | None
    batch: bool
    recursive: bool
    hidden: bool
    exclude: list[str] | None
    files_from: Path | None
    files_from0: Path | None
    sidecar: Sidecar | None
    output_dir: Path | None
    on_exists: OnExists


@dataclass(frozen=True, kw_only=True)
class ModelsArgs:
    """`kimi-vision models`: its options that are not Settings."""

    all_models: bool


@dataclass(frozen=True, kw_only=True)
class FilesListArgs:
    """`kimi-vision files list`: its options that are not Settings."""


@dataclass(frozen=True, kw_only=True)
class FilesDeleteArgs:
    """`kimi-vision files delete`: its options that are not Settings."""

    file_ids: list[str]


@dataclass(frozen=True, kw_only=True)
class FilesPruneArgs:
    """`kimi-vision files prune`: its options that are not Settings."""

    all_files: bool
    yes: bool


@dataclass(frozen=True, kw_only=True)
class BatchSubmitArgs:
    """`kimi-vision batch submit`: its options that are not Settings."""

    inputs: list[str]
    recursive: bool
    hidden: bool
    exclude: list[str] | None
    files_from: Path | None
    files_from0: Path | None
    window: str


@dataclass(frozen=True, kw_only=True)
class BatchStatusArgs:
    """`kimi-vision batch status`: its options that are not Settings."""

    batch_ids: list[str]


@dataclass(frozen=True, kw_only=True)
class BatchCancelArgs:
    """`kimi-vision batch cancel`: its options that are not Settings."""

    batch_ids: list[str]


@dataclass(frozen=True, kw_only=True)
class BatchResultsArgs:
    """`kimi-vision batch results`: its options that are not Settings."""

    batch_ids: list[str]
    wait: bool
    sidecar: Sidecar | None
    output_dir: Path | None
    manifest: Path | None
    on_exists: OnExists
    embed: bool
    touch: bool


@dataclass(frozen=True, kw_only=True)
class ReportArgs:
    """`kimi-vision report`: its options that are not Settings."""

    sources: list[str]
    output: Path | None


# The command -> its arguments (cli/params.py `command` checks the pairing).
ARGS: dict[str, type] = {
    "describe": DescribeArgs,
    "ask": AskArgs,
    "upload": UploadArgs,
    "estimate": EstimateArgs,
    "models": ModelsArgs,
    "files list": FilesListArgs,
    "files delete": FilesDeleteArgs,
    "files prune": FilesPruneArgs,
    "batch submit": BatchSubmitArgs,
    "batch status": BatchStatusArgs,
    "batch cancel": BatchCancelArgs,
    "batch results": BatchResultsArgs,
    "report": ReportArgs,
}
