"""Typer parameters generated from the option table (kimi_vision_cli/options.py).

`command(group, "describe", DescribeArgs)` registers a function `f(term, settings, args)`:
the Typer signature comes from the table's rows for that command, the Settings-bound
values are resolved once (flag > env > config > default, checked in settings.resolve),
the command's own values arrive as one frozen dataclass generated from the same rows
(settings_types.DescribeArgs...), and the run's Terminal (given to `cli.main.run`, passed
down by click) comes first. Registering a command with another command's dataclass is an
error when the command is registered.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from kimi_vision_cli.cli.app import HelpCommand, terminal_of
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.options import COMMANDS, OPTIONS, Opt
from kimi_vision_cli.settings import Settings, check_text, resolve
from kimi_vision_cli.settings_types import ARGS
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:  # imported where used: a run loads only what its command needs (issue 12)
    from kimi_vision_cli.inputs.walk import WalkFilter
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.runner.host import Host
    from kimi_vision_cli.types import Source

A = TypeVar("A")
_ENUMS: dict[tuple[str, ...], type[Enum]] = {}


def _choices(opt: Opt) -> type[Enum]:
    """Typer shows and checks choices through an Enum; one per set of choices."""
    if opt.choices not in _ENUMS:
        _ENUMS[opt.choices] = Enum(  # type: ignore[assignment]
            f"Choice_{opt.dest}", {c: c for c in opt.choices}, type=str
        )
    return _ENUMS[opt.choices]


_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape_markup(text: str) -> str:
    """rich.markup.escape, copied: importing rich.markup (rich.emoji, rich.jupyter...)
    cost ~14 ms of every run for one regex (issue 12). tests/test_cli_coerce.py compares them."""
    text = _MARKUP_TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def _annotation(opt: Opt) -> Any:
    kind: Any = _choices(opt) if opt.choices else (list[str] if opt.kind is list else opt.kind)
    shown = opt.describe_default()
    text = opt.help
    notes = [f"env {opt.env[0]}"] if opt.env and not opt.secret else []
    if opt.describe_range():
        notes.append(str(opt.describe_range()))
    if shown is not None:
        notes.append(f"default {shown}")
    if notes:
        text += f" [{'; '.join(notes)}]"
    extra: dict[str, Any] = {"help": escape_markup(text), "show_default": False, "rich_help_panel": opt.panel}
    extra["metavar"] = opt.value_name  # "" for a flag: no "<bool>" column
    if opt.argument:
        extra.pop("rich_help_panel")
        return Annotated[kind if opt.required else kind | None, typer.Argument(**extra)]
    if opt.allow_dash:
        extra["allow_dash"] = True
    if opt.kind is Path and opt.dest == "output_dir":
        extra["file_okay"] = False
    return Annotated[kind | None, typer.Option(*opt.decls, **extra)]


def signature(name: str) -> inspect.Signature:
    # First, click's context: it carries the run's Terminal (cli.main.run gives it).
    params = [inspect.Parameter(CONTEXT, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for dest in COMMANDS[name]:
        opt = OPTIONS[dest].for_command(name)
        default = inspect.Parameter.empty if opt.required else None
        params.append(
            inspect.Parameter(
                dest, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_annotation(opt), default=default
            )
        )
    return inspect.Signature(params)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


CONTEXT = "click_context"  # the parameter Typer fills with click's context (no option is named so)


def split(name: str, values: dict[str, Any], args_type: type[A], env: dict[str, str]) -> tuple[Settings, A]:
    """Parsed values -> (Settings, the command's own arguments)."""
    flags: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for dest, value in values.items():
        opt = OPTIONS[dest]
        value = _plain(value)
        if opt.setting:
            flags[dest] = value
        else:
            own[dest] = opt.default if value is None else check_text(opt, value, opt.long)
    if "inputs" in own and own["inputs"] is None:
        own["inputs"] = []
    return resolve(flags, env, name), args_type(**own)


def _check_args(name: str, args_type: type) -> None:
    """The command takes the arguments generated for it (settings_types.ARGS), not another's."""
    if ARGS[name] is not args_type:
        raise TypeError(
            f"{name}: takes {ARGS[name].__name__}, not {args_type.__name__} (settings_types.ARGS)"
        )


def command(
    group: typer.Typer, name: str, args_type: type[A], *, cli_name: str | None = None
) -> Callable[[Callable[[Terminal, Settings, A], int | None]], Callable[[Terminal, Settings, A], int | None]]:
    """Register `fn(term, settings, args)` as `name` (a key of options.COMMANDS) on `group`."""
    _check_args(name, args_type)

    def register(
        fn: Callable[[Terminal, Settings, A], int | None],
    ) -> Callable[[Terminal, Settings, A], int | None]:
        def typer_entry(**values: Any) -> int | None:
            term = terminal_of(values.pop(CONTEXT))
            settings, args = split(name, values, args_type, term.env)
            return fn(term, settings, args)

        typer_entry.__signature__ = signature(name)  # type: ignore[attr-defined]
        typer_entry.__name__ = fn.__name__
        typer_entry.__doc__ = fn.__doc__
        group.command(cli_name or name.split()[-1], cls=HelpCommand)(typer_entry)
        return fn

    return register


def walk_of(hidden: bool, exclude: list[str] | None) -> WalkFilter:
    """--hidden and --exclude as the walk's filter (a bad glob: exit 2, nothing read)."""
    from kimi_vision_cli.inputs.walk import WalkFilter

    return WalkFilter.of(hidden, exclude)


def sources_for(
    term: Terminal,
    inputs: list[str],
    recursive: bool,
    files_from: Path | None,
    files_from0: Path | None = None,
    walk: WalkFilter | None = None,
) -> Iterator[Source]:
    """The INPUT arguments and the --files-from (or --files-from0) list as one lazy stream
    of sources; no input at all is a usage error (before anything is read or sent)."""
    from kimi_vision_cli.inputs.discover import iter_sources

    if files_from is not None and files_from0 is not None:
        raise UsageError(
            "--files-from and --files-from0 cannot be used together", hint="put every name in one list"
        )
    nul = files_from0 is not None
    listed = files_from0 if nul else files_from
    fh = open_files_from(listed, term, nul=nul)
    if not inputs and fh is None:
        raise UsageError("no input given", hint="pass a file, a directory with -r, - or --files-from")
    return iter_sources(
        inputs, recursive=recursive, files_from=fh, list_on_stdin=str(listed) == "-", nul=nul, walk=walk
    )


def open_files_from(path: Path | None, term: Terminal, *, nul: bool = False) -> IO[str] | IO[bytes] | None:
    """The list's stream: text (one name a line), or bytes for a NUL-separated list."""
    if path is None:
        return None
    if str(path) == "-":
        stdin: IO[str] | IO[bytes] = term.stdin
        return stdin
    flag = "--files-from0" if nul else "--files-from"
    try:
        if nul:
            return open(path, "rb")
        return open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        from kimi_vision_cli.types import display_name

        raise UsageError(f"cannot read {flag}: {exc.strerror}", input=display_name(str(path))) from None


# The Host `cli.main.run` was given, for the length of that call: a ContextVar (one value
# per call and thread, set only by `hosted`), so a command's Context gets it without a
# parameter in every command. None: the real machine.
_HOST: ContextVar[Host | None] = ContextVar("kimi_vision_host", default=None)


@contextmanager
def hosted(host: Host | None) -> Iterator[None]:
    """Commands run inside this block make their Context on `host` (cli.main.run)."""
    token = _HOST.set(host)
    try:
        yield
    finally:
        _HOST.reset(token)


def context_for(settings: Settings, term: Terminal, *, model: bool = True) -> Context:
    """The run's Context (flows/start.py), on the CLI's terminal and the Host cli.main.run
    was given. model=False: a command that sends no chat request (models, files, batch
    status...), which a retired or unknown -m must not stop."""
    from kimi_vision_cli.flows.start import start
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.runner.context import Context

    diag = Diagnostics(term)
    frames = parts = None
    if term.stderr_isatty:  # bars for long video work: a terminal only
        from functools import partial

        from kimi_vision_cli.output.progress import PartsBar, frame_bar

        frames, parts = partial(frame_bar, diag), partial(PartsBar, diag)
    # --dry-run plans only: the context refuses to make a client (no network).
    ctx = Context(settings, term, diag, offline=settings.run.dry_run, frame_bar=frames, parts_bar=parts,
                  host=_HOST.get())  # fmt: skip
    return start(ctx, model=model)
