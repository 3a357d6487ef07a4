"""Settings: flag > environment > config file > default, resolved once, then frozen.

The API key is kept out of repr() so it cannot leak through a log line or a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import AuthError, ConfigError, UsageError
from kimi_vision_cli.moonshot import REGIONS, Model, model_for
from kimi_vision_cli.options import COMMANDS, CONFIG_OPTIONS, SETTINGS_OPTIONS, Opt
from kimi_vision_cli.settings_types import (
    GROUP_OF,
    ConnectionSettings,
    GroupChanges,
    MediaSettings,
    RequestSettings,
    RunSettings,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11


class Changes(GroupChanges, total=False):
    """What Settings.with_ takes: a field of any group, or one of Settings' own."""

    prices: dict[str, dict[str, float]]
    flags_given: frozenset[str]
    defaulted: frozenset[str]
    listed: Model | None


@dataclass(frozen=True)
class Settings:
    """Every option that reaches the flows, resolved and checked, in four groups whose
    fields the option table declares (each row's `group`; settings_types.py is generated
    from it): `connection` (endpoint, key, timeout, retries), `request` (what each request
    asks), `media` (how media is prepared and sent) and `run` (how the run goes and
    shows). Then what is not an option. Command-only options (inputs, sidecars, shards...)
    travel in each command's own arguments (settings_types.DescribeArgs...)."""

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    request: RequestSettings = field(default_factory=RequestSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    run: RunSettings = field(default_factory=RunSettings)
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    flags_given: frozenset[str] = frozenset()  # options set on the command line (not env/config)
    defaulted: frozenset[str] = frozenset()  # options neither flag, env nor config set
    listed: Model | None = None  # a model the table does not know, as GET /v1/models lists it

    @property
    def spec(self) -> Model:
        """The model's entry in moonshot.MODELS (or what the API listed for it)."""
        return model_for(self.request.model, self.listed)

    @property
    def resize(self) -> bool:
        return not self.media.no_resize

    def with_(self, **changes: Unpack[Changes]) -> Settings:
        """A copy with some fields changed, each named as the option table names it
        (`with_(max_tokens=...)` changes `request.max_tokens`)."""
        own: dict[str, Any] = {}
        groups: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            group = GROUP_OF.get(name)
            if group is None:
                own[name] = value
            else:
                groups.setdefault(group, {})[name] = value
        for group, values in groups.items():
            own[group] = replace(getattr(self, group), **values)
        return replace(self, **own)


def cache_dir(env: dict[str, str]) -> Path:
    """Where the tool keeps small state (upload cache, batch manifests)."""
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "kimi-vision"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kimi-vision"))


def config_file(env: dict[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kimi-vision" / "config.toml"


_TYPES: dict[type, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float), bool: (bool,)}
# Keys allowed in config.toml and the type each must have: the table's config rows, and prices.
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    **{o.dest: _TYPES[o.kind] for o in CONFIG_OPTIONS},
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
    # Only a config file that exists pays for the TOML parser (issue 12: start-up).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(text)
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


PRICE_KEYS = {"input": (int, float), "output": (int, float), "cached_input": (int, float), "currency": (str,)}


def _check_values(data: dict[str, Any], text: str, path: Path) -> None:
    def fail(what: str, key: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{what} at line {_line_of(text, key)}", input=str(path), hint=hint)

    for opt in CONFIG_OPTIONS:
        if opt.dest in data:
            try:
                check(opt, data[opt.dest], f"{opt.dest} =")
            except UsageError as err:
                raise fail(err.message, opt.dest, err.hint) from None
    for model, entry in data.get("prices", {}).items():
        # `[prices."kimi-k2.6"]` with `input` and `output` per 1M tokens, optional `currency`.
        if not isinstance(entry, dict):
            raise fail(f"prices.{model} must be a table", model, 'e.g. [prices."kimi-k2.6"] input = 0.95')
        for name, value in entry.items():
            types = PRICE_KEYS.get(name)
            if types is None:
                raise fail(
                    f"unknown key {name!r} in prices.{model}",
                    model,
                    "use input, output, cached_input, currency",
                )
            if not isinstance(value, types) or isinstance(value, bool):
                raise fail(
                    f"prices.{model}.{name} must be {'a number' if name != 'currency' else 'a string'}", model
                )
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


def resolve(flags: dict[str, Any], env: dict[str, str] | None = None, command: str | None = None) -> Settings:
    """Merge flags (None = not given) over env over config file over defaults, each
    value checked against its row of the option table whatever its source (the row as
    `command` takes it: describe's --format also takes vtt and srt)."""
    unknown = set(flags) - {o.dest for o in SETTINGS_OPTIONS}
    if unknown:  # a bug in a command, not a user error: never silently dropped
        raise TypeError(f"not Settings options: {sorted(unknown)}")
    env = dict(os.environ) if env is None else env
    path = config_file(env)
    cfg = load_config(path)
    values: dict[str, Any] = {}
    defaulted = set()
    for opt in SETTINGS_OPTIONS:
        value, origin = _pick(opt, flags, env, cfg)
        if value is None:
            defaulted.add(opt.dest)
        own = opt.for_command(command)  # describe's --format also takes vtt; batch submit's model
        values[opt.dest] = own.default if value is None else check(own, value, origin)
    takes_j = "concurrency" in COMMANDS.get(command or "", ("concurrency",))  # no command: as given
    if flags.get("concurrency") is None and not takes_j:
        # -j is describe's inputs in flight; a command without it sends one request at a
        # time, whatever env or config set for describe (its 429 said "concurrency 8 -> 4").
        values["concurrency"] = 1
    values["api_key"] = _key(values["api_key"])
    values.pop("region")  # folded into base_url
    values["base_url"] = _checked_url(str(_endpoint(flags, env, cfg)).rstrip("/"))
    given = frozenset(k for k, v in flags.items() if v is not None)
    grouped: dict[str, dict[str, Any]] = {}
    for dest, value in values.items():
        grouped.setdefault(GROUP_OF[dest], {})[dest] = value
    return Settings(
        connection=ConnectionSettings(**grouped["connection"]),
        request=RequestSettings(**grouped["request"]),
        media=MediaSettings(**grouped["media"]),
        run=RunSettings(**grouped["run"]),
        prices=cfg.get("prices", {}),
        flags_given=given,
        defaulted=frozenset(defaulted),
    )


def _pick(opt: Opt, flags: dict[str, Any], env: dict[str, str], cfg: dict[str, Any]) -> tuple[Any, str]:
    """The first value given, and where it came from (for the message if it is wrong)."""
    if flags.get(opt.dest) is not None:
        return flags[opt.dest], opt.long
    for name in opt.env:
        if env.get(name):
            return env[name], name
    if opt.config and opt.dest in cfg:
        return cfg[opt.dest], f"{opt.dest} in config.toml"
    return None, ""


def check(opt: Opt, value: Any, origin: str) -> Any:
    """A value from a flag, env or config, as its row says it must be: type, choices,
    range. Refused here, before the SDK (ValueError) or the scheduler could trip on it."""
    if opt.parse is not None and isinstance(value, str):
        try:
            return opt.parse(value)
        except ValueError as exc:
            raise UsageError(
                f"{origin} {value!r} {exc}", hint=f"e.g. {opt.example}" if opt.example else None
            ) from None
    if opt.choices and value not in opt.choices:
        raise UsageError(f"{origin} {value!r} is not one of {', '.join(opt.choices)}")
    if opt.kind in (int, float) and not isinstance(value, bool):
        return _number(opt, value, origin)
    return check_text(opt, value, origin)


def check_text(opt: Opt, value: Any, origin: str) -> Any:
    """Text sent to the API must be UTF-8: bytes that are not (a Latin-1 terminal, a
    mis-encoded file) arrive from argv as lone surrogates, which no JSON body can carry."""
    if opt.text and isinstance(value, str):  # not --schema: it may name a file
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"{origin.removesuffix(' =')} is not valid UTF-8 text",
                hint="pass it in UTF-8 (check the terminal's or the file's encoding)",
            ) from None
    return value


def _number(opt: Opt, value: Any, origin: str) -> int | float:
    origin = origin.removesuffix(" =")  # config: "max_tokens must be...", not "max_tokens = must be"
    # What to do: the default is a value that works (`--help` lists the range too).
    hint = (
        f"e.g. {opt.long} {opt.default:g}"
        if isinstance(opt.default, (int, float))
        else f"see {opt.long} in --help"
    )
    try:
        number: int | float = opt.kind(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(
            f"{origin} must be {'an integer' if opt.kind is int else 'a number'}, got {value!r}", hint=hint
        ) from None
    low, high = opt.low, opt.high
    too_low = low is not None and (number <= low if opt.low_open else number < low)
    if too_low or (high is not None and number > high) or number != number:  # nan
        if low is not None and high is not None and not opt.low_open:
            span = f"from {low:g} to {high:g}"
        else:  # one bound, an open low bound, or none (--temperature nan)
            bounds = [f"{'above' if opt.low_open else 'at least'} {low:g}"] if low is not None else []
            bounds += [f"at most {high:g}"] if high is not None else []
            span = " and ".join(bounds) or "a number"
        raise UsageError(f"{origin} must be {span}, got {value!r}", hint=hint)
    return number


def _checked_url(url: str) -> str:
    """An endpoint the client can use, or exit 2 before any call: a URL that cannot
    work must not be retried as a network error (exit 75 would say "rerun")."""
    from urllib.parse import urlsplit

    hint = f"e.g. {REGIONS['global']} (or --region cn)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"base URL {url!r} is not a valid URL", hint=hint) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"base URL {url!r} is not an http(s) URL with a host", hint=hint)
    if parts.path in ("", "/"):
        raise UsageError(f"base URL {url!r} has no API path (Moonshot's ends in /v1)", hint=hint)
    if parts.query or parts.fragment:
        # The SDK appends /chat/completions to the URL, so a query cannot work; and it may
        # hold a secret (`?key=...`): not echoed.
        shown = f"{parts.scheme}://{parts.hostname}{parts.path}"
        raise UsageError(
            f"base URL {shown}?... has a query string or fragment, which the API cannot take", hint=hint
        )
    return url


def _endpoint(flags: dict[str, Any], env: dict[str, str], cfg: dict[str, Any]) -> str:
    """Most specific first: --base-url > MOONSHOT_BASE_URL > --region > KIMI_VISION_REGION
    > config base_url > config region > global. A URL beats a region at the same level
    because it is the more precise request."""
    base_url = flags.get("base_url") or env.get("MOONSHOT_BASE_URL")
    if base_url:
        return str(base_url)
    chosen = flags.get("region") or env.get("KIMI_VISION_REGION")
    if chosen:
        return REGIONS[chosen]  # checked with the other rows in resolve()
    return str(cfg.get("base_url") or REGIONS[cfg.get("region") or "global"])


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
