"""What every flow is given: the settings, the terminal, the diagnostics channel (where
warnings and notes go: flows never write to stdout), the Host (the clock, sleeps, polling
and cores: runner/host.py), the run's Pacing (runner/pacing.py) and a client made on first
use, paced by it.

A Context built once may serve several runs (a library session): its client and its
Pacing, with what the 429s taught, are kept across them. To share only the pacing, give a
new Context `pacing=old.pacing`; the Python API's kv.Client gives each call's Context its
client and its Pacing (`shared=`, `pacing=`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from kimi_vision_cli.runner.host import Host
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.runner.pacing import Pacing


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
        host: Host | None = None,
        pacing: Pacing | None = None,
        shared: MoonshotClient | None = None,
    ):
        self._lock = threading.RLock()
        self._client: MoonshotClient | None = None
        self._settings = settings
        self.host = host or Host()
        self.term = term
        self.diag = diag
        # --dry-run: planning only. Reaching for the network then is a bug, not a choice.
        self.offline = offline
        # Chosen by the caller (a bar only on a terminal stderr); None: no bar.
        self.frame_bar = frame_bar
        self.parts_bar = parts_bar
        # Where the pacing's notices go (text, shown with -v only): stderr, or the sink of
        # a run under way (runner/scheduler.py emits them as events.Paced).
        self.notice: Callable[[str, bool], None] = self._to_stderr
        self._pacing = pacing
        # A client kept across runs (its connections and pacing): this run uses it, told
        # its own settings (MoonshotClient.for_settings), instead of making one.
        self._shared = shared
        # The service refused response_format json_schema once: --schema goes as JSON
        # Mode (schema in the prompt) for the rest of the run (runner/send.py).
        self.json_object = False

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """New settings for the run (the model's look-up at start, flows/start.py, is the
        first use of the client, made from the settings before it): a client already made
        is told them, so it never speaks for settings the run replaced. The Pacing reads
        only -j, whether it was given, and -v, which no replacement changes."""
        with self._lock:
            self._settings = settings
            if self._client is not None:
                self._client = self._client.for_settings(settings)

    def _to_stderr(self, text: str, detail: bool) -> None:
        if self.settings.run.verbose or not detail:
            self.diag.note(text)

    def _notice(self, text: str, detail: bool) -> None:
        self.notice(text, detail)

    @property
    def pacing(self) -> Pacing:
        """The run's pacing (the client's too), made on first use from the settings then."""
        with self._lock:
            if self._pacing is None:
                from kimi_vision_cli.runner.pacing import Pacing

                self._pacing = Pacing.for_settings(self.settings, self.host.clock)
            return self._pacing

    @property
    def client(self) -> MoonshotClient:
        if self.offline:
            raise RuntimeError("a dry run reached for the network")
        with self._lock:
            if self._client is None and self._shared is not None:
                self._client = self._shared.for_settings(self.settings)
            elif self._client is None:
                from kimi_vision_cli.api.client import MoonshotClient

                log = self.diag.note if self.settings.run.verbose else None
                self._client = MoonshotClient(
                    self.settings, log=log, notice=self._notice, pacer=self.pacing, sleep=self.host.sleep
                )
            return self._client
