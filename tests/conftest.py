from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_moonshot import FakeMoonshot

ROOT = Path(__file__).resolve().parent.parent


def installed_command() -> list[str]:
    """The installed console script (what a user runs), next to this Python."""
    exe = Path(sys.executable).parent / "kimi-vision"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("kimi-vision")
    assert found, "kimi-vision is not installed: run `make install`"
    return [found]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def all(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def fake() -> Iterator[FakeMoonshot]:
    with FakeMoonshot() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeMoonshot) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
    e.update(
        MOONSHOT_API_KEY=fake.api_key,
        MOONSHOT_BASE_URL=fake.base_url,
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
        KIMI_VISION_RETRIES="2",
        NO_COLOR="1",
    )
    e.pop("FORCE_COLOR", None)
    return e


@pytest.fixture
def kv(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the installed `kimi-vision` as a subprocess: kv("describe", "x.png")."""

    def run(
        *args: str,
        input: bytes | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> Run:
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        proc = subprocess.run(
            installed_command() + list(args), input=input if input is not None else b"",
            capture_output=True, env=e, timeout=timeout, cwd=cwd or tmp_path,
        )  # fmt: skip
        return Run(
            proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        )

    return run


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def invoke(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Run the CLI in-process with an injected Terminal (drives the TTY path)."""
    from kimi_vision_cli.cli import run
    from kimi_vision_cli.terminal import Terminal

    def call(
        *args: str,
        tty: bool = False,
        stdin: bytes = b"",
        color: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        out = FakeTTY() if tty else io.StringIO()
        err = FakeTTY() if tty else io.StringIO()
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        term = Terminal(
            stdout=out, stderr=err, stdin=io.BytesIO(stdin), stdout_isatty=tty, stderr_isatty=tty,
            stdin_isatty=False, color=color, width=100, env=e,
        )  # fmt: skip
        code = run(list(args), term)
        return code, out.getvalue(), err.getvalue()

    return call
