"""Starts a benchmark's child processes and measures each on its own: wall time, exit
status, output, and its peak resident memory (ru_maxrss from wait4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# Starts each child and times it. Why a separate small process: Python starts children
# with vfork, and Linux's exec keeps the high-water RSS of the memory it replaces, there
# the parent's; so a child of this process reported this process's peak (the loopback
# server parsing an 83 MiB body, the 8K images made) as its own, e.g. 420 MiB for a run
# that peaked at 234. The launcher stays at a few MiB, under any child it measures.
LAUNCHER = """
import json, os, subprocess, sys, tempfile, time
for line in sys.stdin:
    job = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(job["args"], env=job["env"], cwd=job["cwd"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        print(json.dumps({"wall": wall, "exit": os.waitstatus_to_exitcode(status), "kb": usage.ru_maxrss,
                          "cpu": usage.ru_utime + usage.ru_stime,
                          "out": out.read().decode("latin-1"), "err": err.read()[-4000:].decode("utf-8", "replace")}),
              flush=True)
"""
_launcher: list[subprocess.Popen[str]] = []


def launch(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one child through the launcher: {"wall", "exit", "kb", "cpu" (its user + system
    CPU seconds), "out" (latin-1 text of its stdout), "err" (the end of its stderr)}."""
    if not _launcher:
        _launcher.append(
            subprocess.Popen(
                [sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        )
    proc = _launcher[0]
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"args": args, "env": env, "cwd": str(cwd)}) + "\n")
    proc.stdin.flush()
    got: dict[str, Any] = json.loads(proc.stdout.readline())
    return got
