"""The Typer app object, the per-invocation state and the root options.

Commands live in `kimi_vision_cli/commands/`, one module each; `cli.py` imports them
and holds the error boundary.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kimi_vision_cli import __version__
from kimi_vision_cli.terminal import Terminal

app = typer.Typer(
    name="kimi-vision",
    help="Describe images and videos with Moonshot's Kimi vision models.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # the API key must never show up in a traceback
    context_settings={"help_option_names": ["-h", "--help"]},
    # Help in panels (the option table's); help text is escaped there, never markup.
    rich_markup_mode="rich",
)


class State:
    """Per-invocation state: the injected terminal. (Exit codes are what commands return.)"""

    term: Terminal


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
    75 temporary (rerun to finish), 130 interrupted (143 on SIGTERM).
    """
