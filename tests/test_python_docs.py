"""docs/python.md's examples run, in order, as a reader would run them, against the
loopback server (issue 21, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.media import write_image

PAGE = Path(__file__).resolve().parent.parent / "docs" / "python.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_page_has_examples() -> None:
    assert len(python_blocks(PAGE.read_text())) >= 6


def test_the_examples_of_python_md_run(
    env: dict[str, str], fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "a.png", 64, 48)
    write_image(tmp_path / "b.png", 32, 24)
    namespace: dict[str, object] = {}
    for n, block in enumerate(python_blocks(PAGE.read_text()), 1):
        exec(compile(block, f"docs/python.md block {n}", "exec"), namespace)  # our own docs
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert any(line.startswith("a.png ") and "a 64x48 image/png image" in line for line in lines)
    assert any(line.startswith("2 ") and "concurrency" in line for line in lines)  # exit 2, the option
    assert any(line.startswith("missing.png ") and line.endswith(" 2") for line in lines)
    assert out.err == ""
    assert fake.chat_requests  # they reached the loopback server
