"""The entry point and the one error boundary (STYLE rule 1): typed errors print one
line and exit with their code; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import TYPE_CHECKING

import typer

from kimi_vision_cli.cli.app import app as _app  # all_commands() for the app with every command
from kimi_vision_cli.errors import ExitCode, KimiVisionError, OutputError, Terminated, UsageError
from kimi_vision_cli.terminal import OutputClosed, OutputFailed, Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.runner.host import Host

# The commands (modules of cli/commands/, each registering itself when imported), in
# --help order. A run imports only the command it names first (issue 12: the others'
# imports and Typer's conversion of their options cost ~50 ms); anything else (--help,
# --version, completion, a mistyped name that click should match) imports them all.
COMMANDS = ("describe", "ask", "upload", "files", "estimate", "models", "batch", "report")


def register(argv: list[str]) -> None:
    for name in argv[:1] if argv[:1] and argv[0] in COMMANDS else COMMANDS:
        import_module(f"kimi_vision_cli.cli.commands.{name}")
    # An earlier run in this process (tests) may have registered another command first.
    rank = {name: i for i, name in enumerate(COMMANDS)}
    _app.registered_commands.sort(key=lambda c: rank.get(str(c.name), len(rank)))
    _app.registered_groups.sort(key=lambda g: rank.get(str(g.name), len(rank)))


def all_commands() -> typer.Typer:
    """The app with every command registered (what --help lists): for tests and docs."""
    register([])
    return _app


# -- the error boundary ---------------------------------------------------------------


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to flush
        pass


def run(argv: list[str], term: Terminal | None = None, *, host: Host | None = None) -> int:
    """Run the CLI; return the exit code. Tests call this with a fake Terminal, and a Host
    (runner/host.py: clock, sleep, polling, cores) where they need one; None: the real."""
    term = term or Terminal.from_system()
    register(argv)
    from kimi_vision_cli.cli.params import hosted
    from kimi_vision_cli.output.diagnostics import Diagnostics

    diag = Diagnostics(term)
    try:
        # A command returns its exit code (None: 0); only this boundary ends the process.
        # The terminal goes down as click's context object: each command receives it.
        with hosted(host):
            rv = _app(args=argv, prog_name="kimi-vision", standalone_mode=False, obj=term)
    except KimiVisionError as err:
        diag.error(err)
        return int(err.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Terminated:  # SIGTERM outside a describe run (which stops on its own, with its summary)
        term.stderr.write("\nkimi-vision: terminated\n")
        return int(ExitCode.TERMINATED)
    except (KeyboardInterrupt, typer.Abort):
        term.stderr.write("\nkimi-vision: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # click's usage errors, as Typer re-exports them
        ctx = getattr(exc, "ctx", None)
        # command_path is "kimi-vision batch results": the help to point at.
        cmd = getattr(ctx, "command_path", None) or "kimi-vision"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        diag.error(UsageError(message, hint=f"see '{cmd} --help'"))
        return int(getattr(exc, "exit_code", ExitCode.BAD_INPUT) or ExitCode.BAD_INPUT)
    except OutputFailed as exc:
        diag.error(
            OutputError(f"cannot write to standard output: {exc}", hint="check the disk or where stdout goes")
        )
        _silence_stdout()
        return int(ExitCode.FAILURE)
    except (OutputClosed, BrokenPipeError):
        # `kimi-vision ... | head`: the reader left. No more requests, no message, and
        # the exit status a SIGPIPE'd `cat` gives. stdout goes to /dev/null so that
        # Python's flush at exit cannot print "Exception ignored ... BrokenPipeError".
        _silence_stdout()
        return int(ExitCode.OUTPUT_CLOSED)
    return int(rv) if isinstance(rv, int) else 0
