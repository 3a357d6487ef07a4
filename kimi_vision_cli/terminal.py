"""The terminal as a value (STYLE rule 2): built once in cli.py, passed everywhere else.

Tests build one with `Terminal.for_tests(...)` to drive the TTY path without a TTY.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass
class Terminal:
    stdout: IO[str]
    stderr: IO[str]
    stdin: Any  # text stream with a .buffer, or a binary stream
    stdout_isatty: bool
    stderr_isatty: bool
    stdin_isatty: bool
    color: bool
    width: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_system(cls) -> Terminal:
        env = dict(os.environ)
        out_tty = _isatty(sys.stdout)
        err_tty = _isatty(sys.stderr)
        # https://no-color.org: any non-empty NO_COLOR turns colour off.
        color = not env.get("NO_COLOR") and env.get("TERM") != "dumb"
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin=sys.stdin,
            stdout_isatty=out_tty,
            stderr_isatty=err_tty,
            stdin_isatty=_isatty(sys.stdin),
            color=color,
            env=env,
        )

    def stdin_bytes(self) -> bytes:
        stream = getattr(self.stdin, "buffer", self.stdin)
        data = stream.read()
        return data.encode() if isinstance(data, str) else data


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
