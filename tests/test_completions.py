"""Shell completions: the committed scripts match what the CLI generates, and the
installed command answers the completion protocol they speak."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, installed_command

COMMITTED = ROOT / "completions"


@pytest.mark.process
def test_committed_completions_are_not_stale(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "kimi_vision_cli.cli.completion_gen", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert sorted(fresh) == ["_kimi-vision", "kimi-vision.bash", "kimi-vision.fish"]
    committed = {
        name: (COMMITTED / name).read_text() if (COMMITTED / name).exists() else None for name in fresh
    }
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert stale == [], f"completions/ is stale ({stale}): run `make completions` and commit"


@pytest.mark.process
def test_scripts_name_the_program_and_its_complete_var() -> None:
    bash = (COMMITTED / "kimi-vision.bash").read_text()
    assert "_KIMI_VISION_COMPLETE=complete_bash" in bash and bash.rstrip().endswith("kimi-vision")
    assert (COMMITTED / "_kimi-vision").read_text().startswith("#compdef kimi-vision\n")
    assert "_KIMI_VISION_COMPLETE=complete_fish" in (COMMITTED / "kimi-vision.fish").read_text()
    subprocess.run(["bash", "-n", str(COMMITTED / "kimi-vision.bash")], check=True)


def _complete(env: dict[str, str], **extra: str) -> str:
    e = dict(env, **extra)
    return subprocess.run(installed_command(), env=e, capture_output=True, text=True, timeout=30).stdout


@pytest.mark.process
def test_installed_command_completes_commands_and_options(env: dict[str, str]) -> None:
    words = _complete(env, _KIMI_VISION_COMPLETE="complete_bash", COMP_WORDS="kimi-vision es", COMP_CWORD="1")
    assert words.split() == ["estimate"]
    opts = _complete(
        env, _KIMI_VISION_COMPLETE="complete_bash", COMP_WORDS="kimi-vision ask --inter", COMP_CWORD="2"
    )
    assert opts.split() == ["--interactive"]
    zsh = _complete(env, _KIMI_VISION_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="kimi-vision models --fo")
    assert "--format" in zsh
