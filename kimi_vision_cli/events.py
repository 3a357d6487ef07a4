"""What a run reports as it goes (STYLE rule 12: events, not prints). The runner and the
flows emit these to a Sink the caller chose; they never print an answer, read the
output format or ask whether a stream is a terminal. The CLI's sink renders them
(output/sinks.py: rich, plain, json, jsonl, vtt/srt, the progress bar); the Python API's
sink keeps the records and prints nothing (library.py).

Emitted from the thread that runs the flow, in order, except the live stream of one
answer (Started, TextStreamed, ReasoningStreamed), which the worker sending it emits,
only when answers cannot interleave, and Paced, from the worker that met the 429
(runner/__init__.py: the threading discipline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kimi_vision_cli.output.records import Result


@dataclass(frozen=True)
class RunStarted:
    """A run of several inputs or one begins. `live`: answers stream as they come;
    `clock`: the clock the run's pacing keeps (progress lines every N seconds of it)."""

    multi: bool
    live: bool
    clock: Callable[[], float]


@dataclass(frozen=True)
class Started:
    """An input's answer begins (its request is about to be sent)."""

    input: str


@dataclass(frozen=True)
class TextStreamed:
    input: str
    text: str


@dataclass(frozen=True)
class ReasoningStreamed:
    input: str
    text: str


@dataclass(frozen=True)
class Finished:
    """An input's final record, whole or failed. `streamed`: its text was emitted live."""

    result: Result
    streamed: bool = False


@dataclass(frozen=True)
class Skipped:
    """An input left out: its outputs already exist (--on-exists skip)."""

    input: str


@dataclass(frozen=True)
class Unanswered:
    """The record of an input that got no answer: never sent because of a halt
    (--max-cost, TPD) or a stop (a 401), or cut short or never started because of
    Ctrl-C/SIGTERM. Its error says which (`not_started`, `interrupted`); every sink treats
    them alike (JSON/JSONL hold one record per input), so they are one event."""

    result: Result


@dataclass(frozen=True)
class Paced:
    """The run is paced: a rate-limit notice (Moonshot's 429 named a limit; said once per
    limit), or, `detail` (shown with -v only), a change in how many requests it keeps in
    flight (a 429, slow start)."""

    message: str
    detail: bool = False


@dataclass(frozen=True)
class Progress:
    done: int
    failed: int
    skipped: int
    total: int | None = None


@dataclass(frozen=True)
class Tick:
    """The run's main loop turned; `usage` says what was spent so far (called only when
    a sink shows it, since pricing every turn would cost)."""

    usage: Callable[[], str | None]


@dataclass(frozen=True)
class RunEnded:
    """The run's loop is over (also when it raised): nothing more is in flight."""


@dataclass(frozen=True)
class Summary:
    """Every input is accounted for; the counts of the summary line (several inputs)."""

    interrupted: bool
    stopped: bool
    not_started: int
    cut: int
    usage: str | None


Event = (
    RunStarted
    | Started
    | TextStreamed
    | ReasoningStreamed
    | Finished
    | Skipped
    | Unanswered
    | Paced
    | Progress
    | Tick
    | RunEnded
    | Summary
)


class Sink(Protocol):
    """Where a run's events go. `streams`: whether this sink shows answers as they come
    (the runner then streams them when they cannot interleave)."""

    @property
    def streams(self) -> bool: ...

    def emit(self, event: Event) -> None: ...


class NullSink:
    """Nothing shown: the records come back from the flow (the Python API)."""

    streams = False

    def emit(self, event: Event) -> None:
        pass


class Collect:
    """Keeps every event (tests; a caller that wants them all)."""

    def __init__(self, *, streams: bool = False) -> None:
        self.streams = streams
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)
