"""Memory of a long batch at high -j (issue 24, item 5).

At -j 256 each request in flight waits for its answer in httpcore's socket read, which
allocates its 64 KiB buffer before it blocks, in its thread's malloc arena, and shrinks
it to what arrived. Over thousands of requests the holes left between live blocks get
touched and stay resident: the RSS of a 10,000-input run climbed all run long (53 MB
after 8 s to 65 MB at the end, on the loopback server), while the live objects did not
grow (gc counts and allocated blocks flat, nothing kept per input). Two glibc settings:

- a run of more than MANY requests at once gives allocations of 64 KiB and more a
  mapping of their own (M_MMAP_THRESHOLD): the buffers never enter the arenas;
- the scheduler calls malloc_trim(0) at most once a second (about a millisecond of CPU;
  0.1 to 2.6 ms measured at -j 256), handing back free pages that other allocations left.

The same run then stayed at 54-57 MB, still rising: glibc keeps blocks a thread frees
(up to 7 of each size to 1 KiB) in that thread's cache (tcache) until the thread ends,
and 256 worker threads that live all run fill theirs with more sizes as inputs pass
(malloc_stats: "in use" +2.6 MB over 70 s while Python's objects and pymalloc's arenas
stayed flat; the same run with GLIBC_TUNABLES=glibc.malloc.tcache_count=0 stayed flat
at 52-53 MB). So a worker thread sends JOBS_PER_THREAD inputs, then a new thread takes
its place and its cache goes back to the arena (runner/scheduler.py; a thread start and
end is about 0.2 ms of CPU, an input at -j 256 about 4 ms).

Where the C library is not glibc (musl, macOS, Windows) the two settings are not made;
threads are replaced everywhere (it costs little and depends on nothing).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, cast

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
BUFFER = 64 * 1024  # httpcore's read size: each such buffer gets its own mapping
MANY = 32  # requests in flight from which a run keeps read buffers out of the arenas
JOBS_PER_THREAD = 2  # inputs a worker thread sends before a new thread takes its place


def _glibc(name: str) -> Any:
    """A function of glibc, or None where the C library is another (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)  # the C library this process runs on
    except (OSError, AttributeError):
        return None


def malloc_trim() -> Callable[[int], object] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    import ctypes

    trim = _glibc("malloc_trim")
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return cast("Callable[[int], object] | None", trim)


def buffers_outside_arenas(concurrency: int, mallopt: Callable[[int, int], int] | None = None) -> bool:
    """With many requests in flight, allocations of BUFFER bytes and more get a mapping of
    their own (glibc's M_MMAP_THRESHOLD), given back whole when freed: the read buffers
    no longer leave holes in the arenas. Process-wide, so only for runs of more than MANY
    requests at once; whether it was set. `mallopt`: glibc's unless given (tests)."""
    if concurrency <= MANY:
        return False
    mallopt = mallopt or _glibc("mallopt")
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, BUFFER) == 1)


class Trimmer:
    """Called on each turn of the scheduler's loop: trims at most once every `every`
    seconds of `clock`. `trim`: the function called with 0 (default: malloc_trim)."""

    def __init__(
        self,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        trim: Callable[[int], object] | None = None,
    ):
        self.every, self.clock = every, clock
        self._trim = trim if trim is not None else malloc_trim()
        self._next = clock() + every

    def __call__(self) -> None:
        if self._trim is None:
            return
        now = self.clock()
        if now >= self._next:
            self._next = now + self.every
            self._trim(0)
