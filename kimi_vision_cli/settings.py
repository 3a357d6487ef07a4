"""Settings: flag > environment > config file > default, resolved once, then frozen.

The API key is kept out of repr() so it cannot leak through a log line or a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kimi_vision_cli.errors import AuthError, ConfigError, UsageError
from kimi_vision_cli.moonshot import DEFAULT_MODEL, IMAGE_RECOMMENDED, REGIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Defaults the tool chooses on top of Moonshot's facts.
DEFAULT_MAX_SIZE = IMAGE_RECOMMENDED


@dataclass(frozen=True)
class Settings:
    api_key: str | None = field(default=None, repr=False)
    base_url: str = REGIONS["global"]
    model: str = DEFAULT_MODEL
    system: str | None = None
    prompt: str | None = None
    thinking: bool = True
    show_thinking: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    json_mode: bool = False
    max_size: tuple[int, int] = DEFAULT_MAX_SIZE
    resize: bool = True
    convert: bool = False
    keep_metadata: bool = False
    downscale_video: bool = False  # transcode videos over 2048x1080 to fit (video.py)
    no_cache: bool = False  # upload again even when the same bytes were uploaded before
    upload: str = "auto"
    format: str = "text"
    dry_run: bool = False
    concurrency: int = 4
    retries: int = 4
    timeout: float = 600.0
    verbose: bool = False
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    config_path: Path | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise UsageError(f"--max-tokens must be positive, got {self.max_tokens}")
        if self.concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, got {self.concurrency}")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def cache_dir(env: dict[str, str]) -> Path:
    """Where the tool keeps small state (upload cache, batch manifests)."""
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "kimi-vision"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kimi-vision"))


def config_file(env: dict[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kimi-vision" / "config.toml"


# Keys allowed in config.toml and the type each must have.
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "base_url": (str,),
    "region": (str,),
    "prompt": (str,),
    "system": (str,),
    "max_tokens": (int,),
    "concurrency": (int,),
    "retries": (int,),
    "timeout": (int, float),
    "max_size": (str,),
    "upload": (str,),
    "format": (str,),
    "thinking": (bool,),
    "prices": (dict,),
}


def load_config(path: Path) -> dict[str, Any]:
    """Read config.toml; a bad file is a ConfigError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", input=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # TOMLDecodeError's message already names "line N, column M".
        raise ConfigError(f"invalid TOML: {exc}", input=str(path), hint="fix or remove the file") from None
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"unknown key {key!r} at line {_line_of(text, key)}",
                input=str(path),
                hint=f"known keys: {', '.join(sorted(CONFIG_KEYS))}",
            )
        types = CONFIG_KEYS[key]
        if not isinstance(value, types) or (bool in types) != isinstance(value, bool):
            raise ConfigError(
                f"{key!r} at line {_line_of(text, key)} must be {types[0].__name__}, got {value!r}",
                input=str(path),
            )
    _check_values(data, text, path)
    return data


# Values a config key may take; a wrong one is caught at load time, naming its line.
CONFIG_CHOICES = {
    "region": ("global", "cn"),
    "upload": ("auto", "always", "never"),
    "format": ("text", "json", "jsonl"),
}
PRICE_KEYS = {"input": (int, float), "output": (int, float), "currency": (str,)}


def _check_values(data: dict[str, Any], text: str, path: Path) -> None:
    def fail(what: str, key: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{what} at line {_line_of(text, key)}", input=str(path), hint=hint)

    for key, choices in CONFIG_CHOICES.items():
        if key in data and data[key] not in choices:
            raise fail(f"{key} = {data[key]!r} is not one of {', '.join(choices)}", key)
    for key in ("max_tokens", "concurrency"):
        if key in data and data[key] < 1:
            raise fail(f"{key} must be at least 1, got {data[key]}", key)
    if "max_size" in data:
        try:
            parse_size(data["max_size"])
        except UsageError:
            raise fail(f"max_size = {data['max_size']!r} is not WIDTHxHEIGHT", "max_size", "e.g. 4096x2160") from None
    for model, entry in data.get("prices", {}).items():
        # `[prices."kimi-k2.5"]` with `input` and `output` per 1M tokens, optional `currency`.
        if not isinstance(entry, dict):
            raise fail(f"prices.{model} must be a table", model, 'e.g. [prices."kimi-k2.5"] input = 0.6')
        for name, value in entry.items():
            types = PRICE_KEYS.get(name)
            if types is None:
                raise fail(f"unknown key {name!r} in prices.{model}", model, "use input, output, currency")
            if not isinstance(value, types) or isinstance(value, bool):
                raise fail(f"prices.{model}.{name} must be {'a number' if name != 'currency' else 'a string'}", model)
            if not isinstance(value, str) and value < 0:
                raise fail(f"prices.{model}.{name} must not be negative", model)
        missing = [k for k in ("input", "output") if k not in entry]
        if missing:
            raise fail(f"prices.{model} lacks {' and '.join(missing)} (per 1M tokens)", model)


def _line_of(text: str, key: str) -> int:
    """Line of `key = ...` or of a table header naming `key` (0 when not found)."""
    pattern = re.compile(r'^\s*(\[+\s*([\w-]+\.)*)?"?' + re.escape(key) + r'"?\s*(=|\]|\.)')
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 0


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        size = int(w), int(h)
    except ValueError:
        raise UsageError(f"--max-size {text!r} is not WIDTHxHEIGHT", hint="e.g. 4096x2160") from None
    if min(size) < 1:
        raise UsageError(f"--max-size {text!r} must be positive")
    return size


def resolve(flags: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    """Merge flags (None = not given) over env over config file over defaults."""
    env = dict(os.environ) if env is None else env
    path = config_file(env)
    cfg = load_config(path)

    def pick(name: str, env_names: tuple[str, ...] = (), default: Any = None) -> Any:
        if flags.get(name) is not None:
            return flags[name]
        for env_name in env_names:
            if env.get(env_name):
                return env[env_name]
        if name in cfg:
            return cfg[name]
        return default

    region = pick("region", ("KIMI_VISION_REGION",))
    if region is not None and region not in REGIONS:
        raise UsageError(f"unknown region {region!r}", hint="use global or cn")
    # Endpoint, most specific first: --base-url > MOONSHOT_BASE_URL > --region >
    # KIMI_VISION_REGION > config base_url > config region > global. A URL beats a
    # region at the same level because it is the more precise request.
    base_url = flags.get("base_url") or env.get("MOONSHOT_BASE_URL")
    if not base_url:
        chosen = flags.get("region") or env.get("KIMI_VISION_REGION")
        if chosen:
            base_url = REGIONS[chosen]
        else:
            base_url = cfg.get("base_url") or REGIONS[cfg.get("region") or "global"]

    values: dict[str, Any] = {
        "api_key": _key(flags.get("api_key") or env.get("MOONSHOT_API_KEY") or env.get("KIMI_API_KEY")),
        "base_url": str(base_url).rstrip("/"),
        "model": pick("model", ("KIMI_VISION_MODEL",), DEFAULT_MODEL),
        "prompt": pick("prompt"),
        "system": pick("system"),
        "max_tokens": _int(pick("max_tokens", ("KIMI_VISION_MAX_TOKENS",)), "max_tokens", 1),
        "concurrency": _int(pick("concurrency", ("KIMI_VISION_CONCURRENCY",), 4), "concurrency", 1, 256),
        "retries": _int(pick("retries", ("KIMI_VISION_RETRIES",), 4), "retries", 0, 100),
        "timeout": _float(pick("timeout", ("KIMI_VISION_TIMEOUT",), 600.0), "timeout"),
        "upload": pick("upload", (), "auto"),
        "format": pick("format", (), "text"),
        "thinking": pick("thinking", (), True),
        "prices": cfg.get("prices", {}),
        "config_path": path,
    }
    max_size = pick("max_size")
    if max_size is not None:
        values["max_size"] = parse_size(max_size) if isinstance(max_size, str) else max_size
    known = {f.name for f in fields(Settings)}
    for name, value in flags.items():
        if name in known and name not in values and value is not None:
            values[name] = value
    return Settings(**values)


def _int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int | None:
    """Flag, env and config values alike: a number out of range is refused here, before
    the SDK (which raises ValueError) or the scheduler (threads) could trip on it."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be an integer, got {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise UsageError(f"{name} must be {span}, got {number}")
    return number


def _float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, got {value!r}") from None
    if not (0 < number <= 86_400):  # also refuses nan and inf
        raise UsageError(f"{name} must be a number of seconds above 0 and at most 86400, got {value!r}")
    return number


def _key(value: str | None) -> str | None:
    """Surrounding whitespace (a key file saved with CRLF, a pasted space) is dropped;
    anything else an HTTP header cannot carry is refused without echoing the key."""
    if value is None:
        return None
    key = value.strip()
    if key and not all(33 <= ord(c) < 127 for c in key):
        raise AuthError(
            "the API key holds spaces, control or non-ASCII characters",
            hint="copy the key again from the Moonshot console into MOONSHOT_API_KEY",
        )
    return key or None
