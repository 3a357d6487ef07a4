"""The terminal as a value (STYLE rule 2): built once in cli.py, passed everywhere else.

Tests build one with `Terminal.for_tests(...)` to drive the TTY path without a TTY.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
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
            stdout=ReaderGuard(sys.stdout),  # type: ignore[arg-type]
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


class OutputClosed(Exception):
    """stdout's reader went away (`kimi-vision ... | head`). Not a KimiVisionError on
    purpose: no input failed, so the scheduler must not record it and go on writing;
    it ends the run in cli.run (exit 141, as a process killed by SIGPIPE)."""


class OutputFailed(Exception):
    """stdout cannot be written (disk full, closed descriptor): the run ends with one
    line and exit 1 in cli.run. Not per input, for the same reason as OutputClosed."""


class ReaderGuard:
    """A text stream whose write/flush turn a closed pipe into OutputClosed and any other
    write error into OutputFailed.

    Python ignores SIGPIPE, so a closed pipe surfaces as BrokenPipeError from any write;
    the vendored click would catch that and exit 1 as if something had failed.
    """

    def __init__(self, stream: IO[str] | None):
        self._stream = stream  # None: started with stdout closed (`>&-`)

    def _guarded(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except BrokenPipeError:
            raise OutputClosed from None
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from None

    def write(self, text: str) -> int:
        if self._stream is None:
            raise OutputFailed("standard output is closed")
        stream = self._stream
        return int(self._guarded(lambda: stream.write(text)))

    def flush(self) -> None:
        if self._stream is not None:
            self._guarded(self._stream.flush)

    def isatty(self) -> bool:
        return self._stream is not None and _isatty(self._stream)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer...
        return getattr(self._stream, name)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
