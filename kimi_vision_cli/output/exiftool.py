"""ExifTool, the one metadata implementation this tool writes other programs' files with
(XMP sidecars, --embed): see docs/metadata.md for why it was chosen.

One `exiftool -stay_open True -@ -` process serves a whole run (started on first use,
ended by `close_shared()`, at exit, or when our process dies, however it dies: `_RELAY`):
starting Perl and ExifTool costs about 0.3 s, a command to a running one a few
milliseconds, so a run of 1,000 photos does not pay 1,000 starts. Commands are
serialised (one lock): writers run on several worker threads.

Arguments go one per line (ExifTool's -@ protocol), so a file name holding a newline
cannot be passed (refused with one line); names are passed absolute, so none starts
with `#` (a comment) or a space (trimmed). Values are written with `-ec`, their
backslashes and control characters escaped as C escapes, which ExifTool undoes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kimi_vision_cli.errors import InputError, UsageError

CONFIG = Path(__file__).with_name("kimi-vision.exiftool_config")  # the kimivision: namespace
INSTALL_HINT = (
    "install ExifTool (Debian/Ubuntu: apt-get install libimage-exiftool-perl; macOS: brew install exiftool;"
    " `make install` does it)"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class Reply:
    out: str  # stdout: the JSON of a read, the "1 image files updated" of a write
    err: str  # stderr: ExifTool's errors and warnings

    def errors(self) -> list[str]:
        return [line.removeprefix("Error: ") for line in self.err.splitlines() if line.startswith("Error")]


def executable() -> str | None:
    return shutil.which("exiftool")


def require(flag: str) -> None:
    """Up front, before any request: a run that would write XMP has ExifTool."""
    if executable() is None:
        raise UsageError(f"{flag} needs ExifTool, which is not installed", hint=INSTALL_HINT)


def escape_value(text: str) -> str:
    r"""A tag value for `-TAG=VALUE` under -ec: `\` and control characters as C escapes
    (newline `\n`, others `\xHH`), so a value is always one line."""

    def one(m: re.Match[str]) -> str:
        c = m.group()
        return {"\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(c) or f"\\x{ord(c):02x}"

    return _CONTROL.sub(one, text)


def file_arg(path: Path, *, input: str) -> bytes:
    """A file name as one argument line: absolute, never holding a line break."""
    raw = os.fsencode(os.path.abspath(path))
    if b"\n" in raw or b"\r" in raw:
        raise InputError(
            "ExifTool cannot be given a file name holding a line break", input=input, hint="rename the file"
        )
    return raw


class ExifTool:
    def __init__(self, exe: str) -> None:
        self._exe = exe
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._n = 0

    def execute(self, args: Sequence[str | bytes]) -> Reply:
        """Run one ExifTool command (its arguments, one per line); its stdout and stderr."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            self._n += 1
            mark = f"{{ready{self._n}}}".encode()
            lines = [a if isinstance(a, bytes) else a.encode("utf-8", "surrogateescape") for a in args]
            lines += [b"-echo4", mark, f"-execute{self._n}".encode()]
            try:
                proc.stdin.write(b"\n".join(lines) + b"\n")
                proc.stdin.flush()
                out = _read_until(proc.stdout, mark)
                err = _read_until(proc.stderr, mark)
            except OSError as exc:  # ExifTool died: the next command starts another
                self._stop()
                raise OSError(f"ExifTool stopped: {exc}") from None
            except BaseException:  # Ctrl-C mid-command: its output would be read as the next one's
                self._stop()
                raise
            return Reply(out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is not None:
            self._stop()  # ExifTool died between commands: the relay's `cat` ends too
        if self._proc is None:
            self._proc = subprocess.Popen(
                _command(self._exe),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C reaches us; we end it after the writes under way
            )  # fmt: skip
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"-stay_open\nFalse\n")
            proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the relay and ExifTool
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# ExifTool under -stay_open keeps polling its argument file after its end (ReadStayOpen:
# a 10 ms sleep on each empty read), so a dead parent's closed pipe would leave it running
# for ever (a killed pytest left one for 90 minutes). A relay reads our pipe instead, and
# at its end, which the kernel gives however we die (SIGKILL too), sends the stop command.
# The relay's shell keeps none of our pipes (fd 3 hands our stdin to `cat`, as a
# background job's stdin is /dev/null; 2>/dev/null keeps cat's and printf's errors off
# ours), so ExifTool alone holds our stdout and stderr: its death, even mid-command, is
# their end of file (a shell waiting in the foreground held them: a read hung for ever).
# The cat-printf group runs in the background of the pipeline's first process, which
# ends at once: the shell's `wait` ends with ExifTool, so poll() tells us it died.
_RELAY = (
    'exec 3<&0; { { cat <&3 3<&-; printf "%s\\n" -stay_open False; } 2>/dev/null & } | "$0" "$@" 3<&- &'
    " exec 0<&- 1>&- 2>&- 3<&-; wait"
)


def _command(exe: str) -> list[str]:
    args = [exe, "-config", str(CONFIG), "-stay_open", "True", "-@", "-"]
    sh = shutil.which("sh")
    return [sh, "-c", _RELAY, *args] if sh is not None else args


def _read_until(stream: IO[bytes], mark: bytes) -> bytes:
    """The lines before the line `mark` (ExifTool's end-of-command echo). stdout is read
    to its mark before stderr: ExifTool's messages for one command are a few lines, far
    below what a pipe holds, so it never blocks on a full stderr meanwhile."""
    lines: list[bytes] = []
    while True:
        line = stream.readline()
        if not line:
            raise OSError("end of output")
        if line.rstrip(b"\r\n") == mark:
            return b"".join(lines)
        lines.append(line)


_shared: ExifTool | None = None
_shared_lock = threading.Lock()


def shared() -> ExifTool:
    """The run's ExifTool process (UsageError when ExifTool is not installed)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            exe = executable()
            if exe is None:
                raise UsageError("writing XMP needs ExifTool, which is not installed", hint=INSTALL_HINT)
            _shared = ExifTool(exe)
            atexit.register(close_shared)
        return _shared


def close_shared() -> None:
    global _shared
    with _shared_lock:
        tool, _shared = _shared, None
    if tool is not None:
        tool.close()
