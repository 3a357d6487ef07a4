"""What every flow is given: the settings, the terminal, the diagnostics channel (where
warnings and notes go: flows never write to stdout), and a client made on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from kimi_vision_cli.settings import Settings
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.output.diagnostics import Diagnostics


# A frame counter for a long video downscale: (label, frames or None) -> a context
# giving the callback that takes the frames done so far (output/progress.frame_bar).
FrameBar = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


class PartsBar(Protocol):
    """A video's own line on a terminal: its parts cut, sent and answered (issue 23);
    output/progress.PartsBar is the one the CLI gives."""

    def add(self, what: str) -> None: ...

    def close(self) -> None: ...


# (video label, number of parts) -> its PartsBar; given by the caller (a terminal's stderr).
PartsBars = Callable[[str, int], PartsBar]


class Context:
    def __init__(
        self,
        settings: Settings,
        term: Terminal,
        diag: Diagnostics,
        *,
        offline: bool = False,
        frame_bar: FrameBar | None = None,
        parts_bar: PartsBars | None = None,
    ):
        self.settings = settings
        self.term = term
        self.diag = diag
        # --dry-run: planning only. Reaching for the network then is a bug, not a choice.
        self.offline = offline
        # Chosen by the caller (a bar only on a terminal stderr); None: no bar.
        self.frame_bar = frame_bar
        self.parts_bar = parts_bar
        # Where the client's rate-limit notices go: stderr, or the sink of a run under
        # way (runner/scheduler.py emits them as events.Paced).
        self.notice: Callable[[str], None] = diag.note
        self._client: MoonshotClient | None = None
        # The service refused response_format json_schema once: --schema goes as JSON
        # Mode (schema in the prompt) for the rest of the run (runner/send.py).
        self.json_object = False
        self._lock = threading.Lock()

    def _notice(self, text: str) -> None:
        self.notice(text)

    @property
    def client(self) -> MoonshotClient:
        if self.offline:
            raise RuntimeError("a dry run reached for the network")
        with self._lock:
            if self._client is None:
                from kimi_vision_cli.api.client import MoonshotClient

                log = self.diag.note if self.settings.run.verbose else None
                self._client = MoonshotClient(self.settings, log=log, notice=self._notice)
            return self._client
