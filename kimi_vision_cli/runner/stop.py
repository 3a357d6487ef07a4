"""How a batch is asked to stop: Ctrl-C, SIGTERM (what CI sends on cancel), or a Python
caller that stopped reading its records (the Python API sets `cancel`).

The first Ctrl-C or SIGTERM only asks: the scheduler stops submitting, lets the writes
under way finish and reports what is whole, then exits 130 or 143. A second one quits at
once. Handlers are set only on the main thread (Python allows no other), for the run's
length, and the ones they replaced are put back.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from kimi_vision_cli.errors import ExitCode, Terminated


class Stop:
    def __init__(self, cancel: threading.Event | None = None):
        self.cancel = cancel
        self.asked = False  # by a signal, or by the cancel once check() saw it
        self.code = ExitCode.INTERRUPTED  # TERMINATED when the stop was a SIGTERM
        self._previous: dict[int, Any] = {}

    def check(self) -> bool:
        """Asked by Ctrl-C/SIGTERM, or by the caller's cancel (then as on Ctrl-C)."""
        if self.cancel is not None and self.cancel.is_set():
            self.asked = True
        return self.asked

    @property
    def name(self) -> str:
        return "terminated" if self.code == ExitCode.TERMINATED else "interrupted"

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.asked = True
        if signum == signal.SIGTERM:
            self.code = ExitCode.TERMINATED

    def __enter__(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
            self._previous = {
                sig: h for sig, h in previous.items() if h is not None
            }  # None: not set from Python
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
