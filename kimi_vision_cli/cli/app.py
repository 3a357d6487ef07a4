"""The Typer app object and the root options.

Commands live in `cli/commands/`, one module each, registered through `cli/params.py`
from the option table; `cli/main.py` imports them and holds the error boundary. The
run's Terminal is no global: `cli.main.run` hands it to click as the context's `obj`
(click passes it down to every sub-context), and each command receives it as its
first argument (STYLE rule 2, issue 21 item 3).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

from kimi_vision_cli import __version__
from kimi_vision_cli.cli.coerce import install_coercion
from kimi_vision_cli.terminal import Terminal


def _plain_help(param: Any) -> None:
    """Typer's help shows a type column meant for code (`<str>`, `<list[str]>`, `<bool>`):
    the user sees QUESTION, INPUT... and BATCH_ID... instead (issue 11)."""
    if isinstance(param, TyperArgument) or (getattr(param, "is_flag", False) and param.metavar is None):
        param.display_type_rich = lambda ctx: None  # a public method of Typer's parameters


def _usage_piece(param: TyperArgument) -> str:
    """An argument as the usage line names it: Typer braces a required one
    (`{QUESTION}`); QUESTION, [INPUT]... is what users read in every other tool."""
    base = param.display_name_raw.removesuffix("...")
    return (base if param.required else f"[{base}]") + ("..." if param.nargs != 1 else "")


class _PlainHelp:
    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:  # --help and Typer's own options included
            _plain_help(param)
            install_coercion(param)  # no pydantic before the first request (issue 12)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """click's public hook for the usage line: each argument's piece, as users read it."""
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        ours = {
            theirs: _usage_piece(param)
            for param in self.get_params(ctx)
            if isinstance(param, TyperArgument)
            for theirs in param.get_usage_pieces(ctx)
        }
        return [ours.get(piece, piece) for piece in pieces]


class HelpCommand(_PlainHelp, TyperCommand):
    """A command whose --help shows the names users type (cli/params.py registers them)."""


class HelpGroup(_PlainHelp, TyperGroup):
    """The same for a group's own --help and options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """No command given (`kimi-vision`, `kimi-vision files`): the help once, on stderr,
        exit 2. Typer's NoArgsIsHelpError prints the help when it is made, and again when
        it is shown (issue 19.9), and on stdout, which carries answers only."""
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            term = terminal_of(ctx)
            with contextlib.redirect_stdout(term.stderr):  # rich prints to sys.stdout
                text = ctx.get_help()  # the rich help prints itself and returns ""
            if text:
                term.stderr.write(text + "\n")
            raise typer.Exit(2)
        return list(super().parse_args(ctx, args))


app = typer.Typer(
    name="kimi-vision",
    cls=HelpGroup,
    help="Describe images and videos with Moonshot's Kimi vision models.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # the API key must never show up in a traceback
    context_settings={"help_option_names": ["-h", "--help"]},
    # Help in panels (the option table's); help text is escaped there, never markup.
    rich_markup_mode="rich",
)


def terminal_of(ctx: Any) -> Terminal:
    """The Terminal `cli.main.run` gave this invocation (click's `obj`, inherited by
    sub-contexts). Nothing else may make one: a run without it is a bug."""
    term: Terminal | None = ctx.find_object(Terminal)
    if term is None:
        raise RuntimeError("kimi-vision was invoked without a Terminal: call cli.main.run")
    return term


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        terminal_of(ctx).stdout.write(f"kimi-vision {__version__}\n")
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
