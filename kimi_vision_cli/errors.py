"""Exit codes and the typed errors that carry them (SPEC.md, "Exit codes").

Every expected failure is a KimiVisionError: it knows its exit code, names the input
it concerns and says what to do. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    BAD_INPUT = 2
    AUTH = 3
    TEMPORARY = 75
    INTERRUPTED = 130
    TERMINATED = 143  # 128 + SIGTERM (what CI sends on cancel): the same clean stop as Ctrl-C
    OUTPUT_CLOSED = 141  # 128 + SIGPIPE: stdout's reader left (`| head`), as `cat` reports it


# SPEC: "the exit code is the most serious code met, in this order: 3, 1, 75, 2".
_SEVERITY = {
    ExitCode.OK: 0,
    ExitCode.BAD_INPUT: 1,
    ExitCode.TEMPORARY: 2,
    ExitCode.FAILURE: 3,
    ExitCode.AUTH: 4,
    ExitCode.INTERRUPTED: 5,
    ExitCode.TERMINATED: 5,
}


def worst(a: ExitCode, b: ExitCode) -> ExitCode:
    """The more serious of two exit codes, by SPEC's order."""
    return a if _SEVERITY[a] >= _SEVERITY[b] else b


class KimiVisionError(Exception):
    """An expected failure: one line for the user, an exit code for the shell."""

    exit_code: ExitCode = ExitCode.FAILURE
    code: str = "error"  # the machine-readable `error.code` in JSON output
    # Every other input would fail the same way: a run over several stops here (Tally).
    stops: bool = False

    def __init__(self, message: str, *, hint: str | None = None, input: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.input = input

    def with_input(self, input: str) -> KimiVisionError:
        """This error, naming `input`, without the frames it came through: kept on a
        Result until it is printed, a traceback would hold those frames' locals (a failed
        video's bytes) in a cycle with the Result, freed only by the garbage collector."""
        if self.input is None:
            self.input = input
        self.__traceback__ = None
        self.__context__ = None
        return self

    def one_line(self) -> str:
        """`<input>: <what> — <hint>`, line breaks folded so it stays one line; spaces are
        kept, so a quoted name keeps its own (quote_name)."""
        text = self.message
        if self.hint:
            text = f"{text} — {self.hint}"
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
        return f"{quote_name(self.input)}: {text}" if self.input else text


# The characters that make a name ambiguous in a message: whitespace (a leading space is
# invisible, `a  b` reads as `a b`), quotes, and the backslash of an escaped character.
_NEEDS_QUOTES = frozenset(" \t\n\r\v\f'\"\\")


def quote_name(name: str) -> str:
    """An input name as every message shows it (issue 19, item 20): as it is, or between
    single quotes when it holds whitespace, a quote or a backslash, the way coreutils'
    messages quote file names (`rm: cannot remove ' img.png'`); a quote inside is `'\\''`.
    Expects a name already made printable (inputs.discover.display_name)."""
    if name and not any(c in _NEEDS_QUOTES or c.isspace() for c in name):
        return name
    return "'" + name.replace("'", "'\\''") + "'"


class UsageError(KimiVisionError):
    exit_code = ExitCode.BAD_INPUT
    code = "usage"


class InputError(KimiVisionError):
    """Missing, unreadable, unsupported, undecodable or too large input."""

    exit_code = ExitCode.BAD_INPUT
    code = "bad_input"


class FileMissingError(InputError):
    """An ms:// id the server does not know (deleted, or another account's)."""

    code = "file_not_found"


class BatchMissingError(InputError):
    """A batch id the server does not know."""

    code = "batch_not_found"


class ConfigError(KimiVisionError):
    exit_code = ExitCode.BAD_INPUT
    code = "config"


class AuthError(KimiVisionError):
    """Missing or rejected key, permission: the run stops at once."""

    exit_code = ExitCode.AUTH
    code = "auth"
    stops = True


class QuotaError(KimiVisionError):
    """Exhausted quota or balance: retrying cannot help, the run stops at once."""

    exit_code = ExitCode.AUTH
    code = "quota"
    stops = True


class APIError(KimiVisionError):
    exit_code = ExitCode.FAILURE
    code = "api_error"


class ModelNotFoundError(APIError):
    """A 404 for the model (unknown, or not allowed for the key): every request of the
    run would get the same answer, so it stops at the first, as for a 401 (issue 11)."""

    code = "model_not_found"
    stops = True


class ContentFilterError(APIError):
    code = "content_filter"


class TruncatedError(APIError):
    """The answer did not finish: cut stream or max_tokens reached."""

    code = "truncated"


class TemporaryError(KimiVisionError):
    """Rate limit, overload, 5xx, network or timeout left after retries: rerun to finish."""

    exit_code = ExitCode.TEMPORARY
    code = "temporary"


class UnreachableError(TemporaryError):
    """The API could not be reached (refused, no route, DNS, TLS) after the retries: a
    describe run stops starting requests after a few in a row (runner/scheduler.py)."""


class NotStartedError(TemporaryError):
    """An input never sent because the run stopped first (--max-cost reached, or the
    account's daily token limit): a rerun finishes it."""

    code = "not_started"


class OutputError(KimiVisionError):
    """A sidecar or output file could not be written (disk full, permissions)."""

    exit_code = ExitCode.FAILURE
    code = "output"


class OutputBlockedError(OutputError):
    """No output can be written, whichever the input: a read-only file system, a full
    disk or quota, an --output-dir that cannot be written. The run stops (issue 11):
    every answer paid for after this would be lost."""

    stops = True


class Terminated(BaseException):
    """SIGTERM (what CI sends on cancel), raised in the main thread by the handler
    __main__ installs: it unwinds like Ctrl-C (cleanup in `finally`, no input blamed),
    and the boundary exits 143 (SPEC). Not a KeyboardInterrupt: Typer would turn that
    into a silent exit 130. A describe run traps it itself (runner/scheduler.py)."""


class Interrupted(KimiVisionError):
    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"


def stops_run(err: KimiVisionError) -> bool:
    """Auth and quota errors, an unknown model, outputs that cannot be written end a
    batch at once: every other input would fail the same way (`stops`)."""
    return err.stops or err.exit_code == ExitCode.AUTH


class Tally:
    """The one error policy for runs over several inputs (or requests, or ids): each
    outcome is counted, each failure reported once through `report` (the diagnostics),
    the exit code folded by SPEC's order (3, 1, 75, 2), and `stopped` set once a failure
    means every other input would fail the same way (auth, quota, an unknown model, an
    output that cannot be written: errors whose `stops` is set)."""

    def __init__(self, report: Callable[[KimiVisionError], None] | None = None):
        self.report = report
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.exit_code = ExitCode.OK
        self.stopped = False

    def ok(self) -> None:
        self.done += 1

    def skip(self) -> None:
        self.skipped += 1

    def error(self, err: KimiVisionError) -> bool:
        """Count, report and fold one failure; True when the run must stop now."""
        self.failed += 1
        self.fold(err.exit_code)
        stops = stops_run(err)
        # After a stop, the requests that were in flight fail the same way: one line is enough.
        if self.report is not None and not (self.stopped and stops):
            self.report(err)
        self.stopped = self.stopped or stops
        return self.stopped

    def fold(self, code: ExitCode) -> None:
        """A code met outside any one input (an interrupt, nothing submitted)."""
        self.exit_code = worst(self.exit_code, code)
