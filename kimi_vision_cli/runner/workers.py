"""The threads that send a batch's requests: one slot per request in flight (-j).

A slot's thread takes jobs from one queue and runs them with the scheduler's `do`. After
`jobs_per_thread` jobs it starts a new thread in its slot and ends: glibc keeps blocks a
thread freed in that thread's cache until the thread ends, and threads that lived all
run grew a long batch's memory (runner/memory.py). A waiting thread holds nothing of the
job it finished.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")


class Workers(Generic[Job]):
    def __init__(self, count: int, do: Callable[[Job], None], jobs_per_thread: int):
        self.count, self._do, self.jobs_per_thread = count, do, jobs_per_thread
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []  # each slot's thread now

    def start(self) -> None:
        for slot in range(self.count):
            self._start(slot)

    def put(self, job: Job) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        """Each slot's thread ends once the jobs queued before are taken."""
        for _ in range(self.count):
            self._jobs.put(None)

    def join(self) -> None:
        """After stop(): wait for every slot's thread, and a successor started as it ended."""
        for slot in range(len(self._threads)):
            while True:
                t = self._threads[slot]
                t.join()
                if self._threads[slot] is t:
                    break

    def _run(self, slot: int) -> None:
        while True:
            for _ in range(self.jobs_per_thread):
                job = self._jobs.get()
                if job is None:
                    return
                self._do(job)  # its locals (the input, its Result) are not held while waiting
                del job  # nor the job: a video's part holds its group, every part's Result
            try:
                self._start(slot)  # a new thread takes its place
            except RuntimeError:  # none can start now (a process's thread limit): this one goes on
                continue
            return

    def _start(self, slot: int) -> None:
        """The thread of `slot`, put in the slot once started (a thread not started cannot
        be joined) and before the thread it replaces ends (see join)."""
        t = threading.Thread(target=self._run, args=(slot,), name="kimi-vision-worker", daemon=True)
        t.start()
        if slot < len(self._threads):
            self._threads[slot] = t
        else:
            self._threads.append(t)
