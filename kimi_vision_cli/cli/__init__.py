"""The command-line layer: the Typer app, the option table, one module per command."""

from kimi_vision_cli.cli.main import run

__all__ = ["run"]
