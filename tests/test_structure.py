"""Architecture rules from STYLE.md that a test can hold: imports only go down the
list, only client.py imports openai, and --help/--version do not pay for openai."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "kimi_vision_cli"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_client_imports_openai() -> None:
    offenders = [
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if p.name != "client.py" and any(n == "openai" or n.startswith("openai.") for n in imports_of(p))
    ]
    assert offenders == []


def test_nothing_below_the_cli_imports_typer() -> None:
    top = {"app.py", "options.py", "cli.py", "completion_gen.py"}
    offenders = [
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if p.name not in top and "commands" not in p.parts and "typer" in {n.split(".")[0] for n in imports_of(p)}
    ]
    assert offenders == []


def test_render_never_imports_client() -> None:
    assert not any("client" in n for n in imports_of(PKG / "render.py"))


def test_version_and_help_do_not_import_openai() -> None:
    code = (
        "import sys; from kimi_vision_cli.cli import run; run(['--version']); run(['describe', '--help']);"
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
