"""Freed memory handed back during a long run (runner/memory.py; issue 24, item 5)."""

from __future__ import annotations

import io
import platform
import sys

import pytest

from kimi_vision_cli.runner.memory import Trimmer, malloc_trim


def test_trims_at_most_once_per_interval_of_its_clock() -> None:
    now = [100.0]
    calls: list[int] = []
    trim = Trimmer(every=1.0, clock=lambda: now[0], trim=calls.append)
    for t in (100.0, 100.5, 100.99):  # not before a second of the run has passed
        now[0] = t
        trim()
    assert calls == []
    for t in (101.0, 101.5, 101.9, 102.0, 102.2, 105.0):
        now[0] = t
        trim()
    assert calls == [0, 0, 0]  # at 101.0, 102.0 and 105.0: pad 0, every free page


def test_without_malloc_trim_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    trim = Trimmer(every=0.0, clock=lambda: 1.0, trim=calls.append)
    trim()
    assert calls == [0]
    monkeypatch.setattr(sys, "platform", "darwin")  # no glibc: the default finds nothing
    assert malloc_trim() is None
    Trimmer(every=0.0, clock=lambda: 1.0)()  # and calling it does nothing, without error


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)  # 1: memory was released, 0: there was none to release


def test_the_scheduler_trims_on_its_loop() -> None:
    """A batch's loop calls the trimmer it was given (by default a Trimmer), and the run
    says its -j to the buffer setting once."""
    from kimi_vision_cli.events import Collect
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.runner.scheduler import Scheduler
    from kimi_vision_cli.settings import resolve
    from kimi_vision_cli.terminal import Terminal
    from kimi_vision_cli.types import Source

    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    ctx = Context(resolve({}, {"MOONSHOT_API_KEY": "sk-test"}), term, Diagnostics(term))
    turns: list[None] = []
    scheduler = Scheduler(
        ctx,
        Collect(),
        lambda source, live: Result(source.display, "m"),
        multi=True,
        trim=lambda: turns.append(None),
    )
    tally = scheduler.run((Source("path", f"{i}.png"), False) for i in range(5))
    assert tally.done == 5
    assert len(turns) >= 5  # a turn per answer at least
    assert isinstance(
        Scheduler(ctx, Collect(), lambda source, live: Result("", "m"), multi=True).trim, Trimmer
    )


def test_read_buffers_get_their_own_mappings_only_at_high_concurrency() -> None:
    from kimi_vision_cli.runner.memory import BUFFER, M_MMAP_THRESHOLD, MANY, buffers_outside_arenas

    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 1

    assert not buffers_outside_arenas(MANY, mallopt)  # -j 32 and less: the process is left alone
    assert calls == []
    assert buffers_outside_arenas(256, mallopt)
    assert calls == [(M_MMAP_THRESHOLD, BUFFER)]
    assert not buffers_outside_arenas(256, lambda param, value: 0)  # refused: said so


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_glibc_mallopt_is_found() -> None:
    from kimi_vision_cli.runner.memory import _glibc

    assert _glibc("mallopt") is not None


def test_a_worker_does_not_hold_its_last_answer_while_it_sends_the_next() -> None:
    """At -j 256 each of 256 workers kept the Done and Result (text, usage, media) of the
    input it finished last until it finished the next: 256 answers alive for nothing.
    While the one worker answers the second input, none of its frames refers to the
    first input's Result."""
    import sys

    from kimi_vision_cli.events import NullSink
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.runner.jobs import Done
    from kimi_vision_cli.runner.scheduler import Scheduler
    from kimi_vision_cli.settings import resolve
    from kimi_vision_cli.terminal import Terminal
    from kimi_vision_cli.types import Source

    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    settings = resolve({"concurrency": 1}, {"MOONSHOT_API_KEY": "sk-test"})
    ctx = Context(settings, term, Diagnostics(term))
    results: list[Result] = []
    held: list[list[str]] = []

    def work(source: Source, live: object) -> Result:
        if results:  # the second input: what do the worker's frames still hold?
            first = results[0]
            frame = sys._getframe(1)
            names = []
            while frame is not None:
                for name, value in frame.f_locals.items():
                    if value is first or (isinstance(value, Done) and value.result is first):
                        names.append(f"{frame.f_code.co_name}.{name}")
                frame = frame.f_back
            held.append(names)
        result = Result(source.display, "m", text="an answer")
        results.append(result)
        return result

    tally = Scheduler(ctx, NullSink(), work, multi=True).run(
        (Source("path", f"{i}.png"), False) for i in range(2)
    )
    assert tally.done == 2
    assert held == [[]]


def test_a_worker_thread_gives_its_place_to_a_new_one_after_its_share_of_inputs() -> None:
    """glibc keeps blocks a thread freed in that thread's cache (tcache) until the thread
    ends; 256 workers that live all run grew the RSS of a 10,000-input run by ~3.5 MB.
    Each worker thread sends `jobs_per_thread` inputs, then a new thread takes its slot;
    the run still ends with every thread joined."""
    import threading

    from kimi_vision_cli.events import NullSink
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.runner.scheduler import Scheduler
    from kimi_vision_cli.settings import resolve
    from kimi_vision_cli.terminal import Terminal
    from kimi_vision_cli.types import Source

    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    ctx = Context(resolve({"concurrency": 1}, {"MOONSHOT_API_KEY": "sk-test"}), term, Diagnostics(term))
    threads: list[threading.Thread] = []

    def work(source: Source, live: object) -> Result:
        threads.append(threading.current_thread())
        return Result(source.display, "m", text="an answer")

    scheduler = Scheduler(ctx, NullSink(), work, multi=True, jobs_per_thread=2)
    tally = scheduler.run((Source("path", f"{i}.png"), False) for i in range(5))
    assert tally.done == 5
    assert [threads.index(t) for t in threads] == [0, 0, 2, 2, 4]  # two inputs a thread
    assert not any(t.is_alive() for t in threads)  # every one ended, the last one joined


def test_a_worker_does_not_hold_a_finished_videos_part_while_it_waits() -> None:
    """A part (describe --segment) holds its group: the Split and every part's Result.
    When the video is reported (joined), the one worker, back waiting for work, holds no
    part of it."""
    import sys
    import threading
    import time

    from kimi_vision_cli import events as ev
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.runner.context import Context
    from kimi_vision_cli.runner.jobs import Part, Split
    from kimi_vision_cli.runner.scheduler import Scheduler
    from kimi_vision_cli.settings import resolve
    from kimi_vision_cli.terminal import Terminal
    from kimi_vision_cli.types import Source

    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    ctx = Context(resolve({"concurrency": 1}, {"MOONSHOT_API_KEY": "sk-test"}), term, Diagnostics(term))
    held: list[list[str]] = []

    def waiting_worker() -> object:
        """The worker's innermost frame once it waits on the work queue."""
        for _ in range(500):
            for thread in threading.enumerate():
                frame = sys._current_frames().get(thread.ident or 0)
                if (
                    thread.name == "kimi-vision-worker"
                    and frame is not None
                    and frame.f_code.co_name == "wait"
                ):
                    return frame
            time.sleep(0.01)
        raise AssertionError("the worker never went back to waiting")

    class Sink(ev.NullSink):
        def emit(self, event: ev.Event) -> None:
            if isinstance(event, ev.Finished) and event.result.input == "video.mp4":
                frame = waiting_worker()
                names = []
                while frame is not None:
                    names += [
                        f"{frame.f_code.co_name}.{n}"
                        for n, v in frame.f_locals.items()
                        if isinstance(v, Part)
                    ]  # type: ignore[attr-defined]
                    frame = frame.f_back  # type: ignore[attr-defined]
                held.append(names)

    def work(source: Source, live: object) -> Result | Split:
        parts = [
            lambda: Result("video.mp4 [part 1]", "m", text="a"),
            lambda: Result("video.mp4 [part 2]", "m", text="b"),
        ]
        return Split(parts, lambda results: Result("video.mp4", "m", text="both"))

    tally = Scheduler(ctx, Sink(), work, multi=True, jobs_per_thread=10).run(
        iter([(Source("path", "video.mp4"), False)])
    )
    assert tally.done == 1
    assert held == [[]]


def test_a_worker_that_cannot_start_its_successor_goes_on_itself() -> None:
    """Out of threads (ulimit -u, memory) mid-run: the slot's thread keeps taking jobs
    instead of ending without a successor (every slot gone: a run waiting for ever)."""
    import threading

    from kimi_vision_cli.runner.workers import Workers

    done: list[int] = []
    finished = threading.Event()

    def do(job: int) -> None:
        done.append(job)
        if len(done) == 3:
            finished.set()

    workers: Workers[int] = Workers(1, do, jobs_per_thread=1)
    workers.start()

    def refuse(slot: int) -> None:
        raise RuntimeError("can't start new thread")

    workers._start = refuse  # type: ignore[method-assign]
    for job in (1, 2, 3):
        workers.put(job)
    assert finished.wait(5), f"only {done} were run"
    workers.stop()
    workers.join()
    assert done == [1, 2, 3]
