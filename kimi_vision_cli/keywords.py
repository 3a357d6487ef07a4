"""The Python API's keywords (docs/python.md), typed once per command: the options of the
table by their settings names, as `kv.describe`, `kv.ask`, `kv.estimate` and the
`kv.Client`'s methods take them (library.py), so mypy or an editor checks a keyword's
name and type. settings.resolve checks the values as the CLI's flags;
tests/test_library_types.py holds these to the option table and runs mypy on a misuse."""

from __future__ import annotations

from typing import Any, TypedDict

from kimi_vision_cli.runner.host import Host
from kimi_vision_cli.settings_types import Effort, Region, Upload


# None: not given (the environment, the config file or the default applies).
class CallOptions(TypedDict, total=False):
    """What every call may set: the request, and how media is prepared and sent."""

    model: str | None
    system: str | None
    thinking: bool | None
    effort: Effort | None
    max_tokens: int | None
    temperature: float | None
    json_mode: bool | None
    schema: str | dict[str, Any] | None  # a dict: a JSON Schema; a str: what --schema takes
    max_size: tuple[int, int] | str | None  # (1920, 1080) or "1920x1080"
    no_resize: bool | None
    convert: bool | None
    keep_metadata: bool | None
    downscale_video: bool | None
    upload: Upload | None
    no_cache: bool | None  # upload again though the same bytes were
    verbose: bool | None  # accepted; nothing is shown


class AskOptions(CallOptions, total=False):
    """ask's keywords (its question, inputs and prefix aside)."""

    max_cost: float | None


class EstimateOptions(CallOptions, total=False):
    """estimate's keywords: a prompt, and video segments."""

    prompt: str | None
    segment: float | str | None  # seconds, "30s", "2m" or "scenes"
    min_segment: float | str | None
    max_segment: float | str | None


class DescribeOptions(EstimateOptions, AskOptions, total=False):
    """describe's keywords: estimate's, a budget, and how many inputs at once."""

    concurrency: int | None
    max_memory: int | None


class Connection(TypedDict, total=False):
    """What a Client fixes when it is made (the functions make one per call)."""

    api_key: str | None
    base_url: str | None
    region: Region | None
    retries: int | None
    timeout: float | None
    env: dict[str, str] | None  # replaces os.environ
    host: Host | None  # the clock, sleep and cores to run on (runner/host.py)


class AskCall(AskOptions, Connection, total=False):
    """kv.ask's keywords."""


class EstimateCall(EstimateOptions, Connection, total=False):
    """kv.estimate's keywords."""


class DescribeCall(DescribeOptions, Connection, total=False):
    """kv.describe's and kv.Client's keywords: every one."""


# What only the CLI shows: no keyword of the API (it returns records).
CLI_ONLY = ("format", "dry_run", "show_thinking")
# What a Client fixes when it is made: its connection. A call cannot change them.
CONNECTION = frozenset(Connection.__optional_keys__)
KEYWORDS = frozenset(DescribeCall.__optional_keys__)
# What a call of each command may set (a Client's own keywords may be any of KEYWORDS).
CALL_KEYWORDS = {
    "describe": frozenset(DescribeOptions.__optional_keys__),
    "ask": frozenset(AskOptions.__optional_keys__),
    "estimate": frozenset(EstimateOptions.__optional_keys__),
}

__all__ = [
    "CALL_KEYWORDS", "CLI_ONLY", "CONNECTION", "KEYWORDS", "AskCall", "AskOptions", "CallOptions", "Connection", "DescribeCall",
    "DescribeOptions", "EstimateCall", "EstimateOptions",
]  # fmt: skip
