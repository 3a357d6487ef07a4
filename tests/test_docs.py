"""Docs drift (STYLE "Tests"): every command has help text and a README section."""

from __future__ import annotations

import re
from pathlib import Path

import typer

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands() -> list[tuple[str, object]]:
    from kimi_vision_cli.cli import app

    root = typer.main.get_command(app)
    found: list[tuple[str, object]] = []

    def walk(prefix: str, cmd: object) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(f"{prefix} {name}".strip(), sub)
        if prefix:
            found.append((prefix, cmd))

    walk("", root)
    return found


def test_every_command_has_help() -> None:
    missing = [name for name, cmd in _commands() if not (getattr(cmd, "help", None) or "").strip()]
    assert missing == []


def test_every_top_level_command_has_a_readme_section() -> None:
    top = sorted({name.split()[0] for name, _ in _commands()})
    assert "describe" in top and "ask" in top
    headings = set(re.findall(r"^#{2,4} (?:`?kimi-vision )?`?([a-z-]+)", README, flags=re.M))
    assert [t for t in top if t not in headings] == []


def test_every_option_of_describe_is_in_the_readme() -> None:
    cmd = dict(_commands())["describe"]
    longs = [o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--")]  # type: ignore[attr-defined]
    missing = [o for o in longs if o not in README and o not in ("--help",)]
    assert missing == []
