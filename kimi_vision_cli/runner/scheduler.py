"""Batch scheduling for `describe`: many inputs, a few requests in flight.

Inputs stream from discovery; each is read and prepared a few inputs before it is
sent (runner/ahead.py: a pool sized to the cores), so memory stays flat however many
inputs there are (issue 5). The thread running the loop owns every counter (a Tally)
and emits the run's events to the sink the caller chose (events.py); workers run the
work function (describe.describe_one: take the prepared input -> upload -> request),
write the sidecar and hand back a finished Result. -j is the requests in flight; a prepared input holds its media's bytes against
--max-memory until it is sent (runner/admission.py).

- Pacing (runner/pacing.py, the Context's one Pacing): one request first, more after each
  success; a rate-limit 429 (told to it by the client, even when the SDK then retries
  it) caps or lowers the inputs in flight and pauses new ones for the wait Moonshot asked
  for, and the same object paces the client's request starts to a learned RPM/TPM.
- An auth or quota error (exit 3) stops submitting at once; requests in flight finish.
- Money (runner/budget.py): each answer is priced; once the run has spent --max-cost, or
  the account's daily token limit is reached, no new request starts, the requests in
  flight finish, and the inputs not started are reported as such (exit 75).
- Ctrl-C stops submitting, lets the sidecar writes under way finish (no temp files,
  no half files), drops the requests still in flight, and exits 130.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from kimi_vision_cli import events as ev
from kimi_vision_cli.api.errors import RateLimit
from kimi_vision_cli.errors import (
    ExitCode,
    Interrupted,
    KimiVisionError,
    NotStartedError,
    Tally,
    UnreachableError,
    quote_name,
)
from kimi_vision_cli.events import Sink
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.output.writers import Writers
from kimi_vision_cli.runner.budget import Spend, spend_for
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.jobs import Done, Groups, Live, Part, Split, Work, Writes
from kimi_vision_cli.runner.memory import JOBS_PER_THREAD, Trimmer, buffers_outside_arenas
from kimi_vision_cli.runner.stop import Stop
from kimi_vision_cli.runner.workers import Workers
from kimi_vision_cli.types import Source

_POLL = 0.1
UNREACHABLE_STOP = 3  # inputs in a row that could not reach the API before the run stops


# -- the run --------------------------------------------------------------------------


class Scheduler:
    def __init__(
        self,
        ctx: Context,
        sink: Sink,
        work: Work,
        *,
        multi: bool,
        writers: Writers | None = None,
        cancel: threading.Event | None = None,
        trim: Callable[[], None] | None = None,
        buffers: Callable[[int], object] = buffers_outside_arenas,
        jobs_per_thread: int = JOBS_PER_THREAD,
    ):
        self.ctx = ctx
        self.sink = sink
        self.work_one = work
        self.multi = multi
        self.writers = writers
        s = ctx.settings
        self.maximum = s.run.concurrency
        # Answers stream live (to a sink that shows them) when they cannot interleave: one
        # input, or -j 1; never with --schema, whose answer may be asked for twice
        # (runner/send.py check_answer).
        self.streaming = sink.streams and s.request.schema is None and (self.maximum == 1 or not multi)
        # How many inputs may be in flight, and when (runner/pacing.py): the Context's, so
        # what the 429s taught outlives this run when the Context is reused.
        self.pacing = ctx.pacing
        self.spend: Spend = spend_for(ctx)  # --max-cost without a price: refused here, nothing sent
        # Why no new request starts any more (--max-cost reached, daily token limit): the
        # reason in its message, what to do in its hint.
        self.halt: NotStartedError | None = None
        # The halt is --max-cost: its message is written again once the requests in
        # flight have answered, so that it gives the money spent in the end (issue 19.11).
        self.halt_by_spend = False
        if self.spend.reached:  # --max-cost 0: nothing may start, not even the first request
            self.halt = NotStartedError(self.spend.reason(), hint=self.spend.not_started().hint)
            self.halt_by_spend = True
        # Every input is counted once in the summary (issue 19.11): done, failed, skipped,
        # cut short by Ctrl-C/SIGTERM (`cut`), or never started.
        self.not_started: list[str] = []
        self.cut: list[str] = []
        self.unreachable = 0  # inputs in a row that could not reach the API
        self.sent: Counter[str] = Counter()  # inputs given to a worker and not finished yet
        self.tally = Tally(report=ctx.diag.error)
        self.workers: Workers[Source | Part] = Workers(self.maximum, self._do, jobs_per_thread)
        self.groups = Groups()  # inputs made of parts with parts not yet queued
        self.done: queue.Queue[Done] = queue.Queue()
        self.writes = Writes()
        self.stop = Stop(cancel)  # Ctrl-C, SIGTERM, or the caller's cancel
        self.lives: list[Live] = []  # streamed answers, to name one cut by Ctrl-C/SIGTERM
        # Freed memory handed back during the run (runner/memory.py), on the loop's turns.
        self.trim = trim or Trimmer()
        self.buffers = buffers

    @property
    def stopping(self) -> bool:
        """No new request will start: Ctrl-C, a halt (--max-cost, TPD), or a stop."""
        return self.stop.asked or self.halt is not None or self.tally.stopped

    # worker side ------------------------------------------------------------------
    def _do(self, job: Source | Part) -> None:
        try:
            if isinstance(job, Part):
                self.done.put(Done(job.group.split.parts[job.index](), part=job))
            else:
                done = self._one(job)
                self.done.put(done)
                if done.writing:  # queued first: a Ctrl-C drain after Writes.close() finds it
                    self.writes.end()
        except BaseException as exc:  # a bug: re-raised in the main thread
            self.done.put(Done(exc=exc))

    def _one(self, source: Source) -> Done:
        live = Live(self.sink) if self.streaming else None
        if live is not None:
            self.lives.append(live)
        result = self.work_one(source, live)
        if live is not None:
            live.finished = True
        if isinstance(result, Split):
            return Done(split=(source, result))
        return self._write(source, result, streamed=live is not None and live.began, held=True)

    def _write(self, source: Source, result: Result, *, streamed: bool = False, held: bool = False) -> Done:
        """The sidecar and manifest row of a finished input (not of a failed one: a rerun
        resumes it). `held`: the write stays counted as under way until the worker has
        queued the Done (`Done.writing`)."""
        self.spend.price_result(result)  # before the sidecar: a JSON sidecar holds the cost
        writers = self.writers
        if result.error is None and writers:
            if not self.writes.begin():
                return Done(result, dropped=True)
            try:
                writers.write(source, result)
            except KimiVisionError as err:
                result.error = err.with_input(result.input)
            except BaseException:
                self.writes.end()
                raise
            if held:
                return Done(result, streamed=streamed, writing=True)
            self.writes.end()
        return Done(result, streamed=streamed)

    # main side --------------------------------------------------------------------
    def run(self, sources: Iterable[tuple[Source, bool]]) -> Tally:
        """Run every (source, skipped) pair; the tally of the run."""
        # A missing key stops the run before any input is read.
        observer = self.ctx.client.observer
        observer.callbacks.append(self._on_rate_limit)
        self.buffers(self.maximum)  # before the workers allocate (runner/memory.py)
        self.workers.start()
        with self.stop:  # Ctrl-C and SIGTERM ask the run to stop, for its length
            # The clock the pacing runs on (the Host's), for progress lines every N seconds.
            self.sink.emit(ev.RunStarted(self.multi, self.streaming, self.ctx.host.clock.now))
            notice, self.ctx.notice = self.ctx.notice, self._paced  # the pacing's rate-limit notices
            try:
                self._loop(iter(sources))
            finally:
                self.ctx.notice = notice
                observer.callbacks.remove(self._on_rate_limit)  # the Context may serve another run
                self.sink.emit(ev.RunEnded())
                self.workers.stop()
        if not self.stop.asked:
            self.workers.join()
        self._summary()
        return self.tally

    def _summary(self) -> None:
        usage = self.spend.line()
        self._progress()  # the tally's last counts: skips met after the last answer too
        if self.multi:
            stopped = self.tally.stopped or bool(self.not_started)  # a halt with nothing left: no "rest"
            self.sink.emit(
                ev.Summary(
                    interrupted=self.stop.asked,
                    stopped=stopped,
                    not_started=len(self.not_started),
                    cut=len(self.cut),
                    usage=usage,
                )
            )
        elif self.stop.asked:  # one input: no summary line, but a stop is never silent
            self.ctx.diag.note(f"{self.stop.name} — rerun to finish")
        elif usage and self.ctx.settings.run.verbose:
            self.ctx.diag.note(f"usage: {usage}")
        elif unpriced := self.spend.unpriced(
            self.ctx.settings.request.model, self.ctx.settings.connection.base_url
        ):
            self.ctx.diag.note(unpriced)  # the summary line says it with several inputs

    def _on_rate_limit(self, limit: RateLimit) -> None:
        """From worker threads (the client's response hook; the pacing has learned it)."""
        if limit.kind == "tpd" and self.halt is None:
            self.halt = NotStartedError(
                "the account's daily token limit (TPD) was reached",
                hint="Moonshot's limit resets daily; rerun later to finish",
            )

    def _loop(self, it: Iterator[tuple[Source, bool]]) -> None:
        in_flight = 0
        exhausted = False
        mine = 0
        while not self.stop.check():
            self.sink.emit(ev.Tick(self.spend.line))
            self.trim()
            while (
                not (self.tally.stopped or self.stop.asked or self.halt)
                and in_flight < min(self.maximum, self.pacing.slots)  # a kept Pacing may allow more
                and not self.pacing.paused_for()
            ):
                part = self.groups.next_part()  # an input's segments before the next input
                if part is not None:
                    self.workers.put(part)
                    in_flight += 1
                    continue
                if exhausted:
                    break
                pair = next(it, None)
                if pair is None:
                    exhausted = True
                    self._progress(total=mine)
                    break
                source, skipped = pair
                mine += 1
                if skipped:
                    self.tally.skip()
                    self._skipped(source)
                    continue
                self.workers.put(source)
                self.sent[source.display] += 1
                in_flight += 1
            if in_flight == 0 and ((exhausted and not self.groups) or self.tally.stopped or self.halt):
                if self.halt is not None and not self.tally.stopped:
                    self._stop_the_rest(it)
                elif self.tally.stopped:
                    self._records_for_the_rest(it)
                return
            try:
                item = self.done.get(timeout=_POLL)
            except queue.Empty:
                continue
            in_flight -= 1
            self._finish(item)
        self._wind_down(it)

    def _wind_down(self, it: Iterator[tuple[Source, bool]]) -> None:
        """Ctrl-C: no new writes, wait for those under way, report what is whole."""
        self.writes.close()
        self.tally.fold(self.stop.code)
        while True:
            try:
                item = self.done.get_nowait()
            except queue.Empty:
                break
            if not item.dropped:
                self._finish(item)
        self._interrupted_records(it)
        for live in self.lives:  # an answer streaming when the run stopped: say it is partial
            if live.wrote and not live.finished:
                self.ctx.diag.warn(
                    f"{quote_name(live.input)}: interrupted mid-answer; the text above on stdout is incomplete"
                )

    def _interrupted_records(self, it: Iterator[tuple[Source, bool]]) -> None:
        """After Ctrl-C/SIGTERM, JSON/JSONL still hold one record per input (SPEC): those
        whose request was cut and those never started say `interrupted`. The summary
        counts both, in every format."""
        model = self.ctx.settings.request.model
        self.cut = list(self.sent.elements())
        for name in self.cut:
            err = Interrupted(
                "interrupted: stopped before its answer was whole and written",
                hint="rerun to finish",
                input=name,
            )
            self.sink.emit(ev.Unanswered(Result(name, model, error=err)))
        self.not_started.extend(
            self._unsent(
                it,
                lambda name: Interrupted("interrupted: not started", hint="rerun to finish", input=name),
                count_skips=True,
            )
        )

    def _unsent(
        self,
        it: Iterator[tuple[Source, bool]],
        error: Callable[[str], KimiVisionError],
        *,
        count_skips: bool = False,
    ) -> list[str]:
        """The inputs left in `it`, never started: a record each with `error(name)` (SPEC:
        JSON/JSONL hold one object per input); their names."""
        names: list[str] = []
        for source, skipped in it:
            if skipped:
                if count_skips:
                    self.tally.skip()
                continue
            names.append(source.display)
            self.sink.emit(
                ev.Unanswered(
                    Result(source.display, self.ctx.settings.request.model, error=error(source.display))
                )
            )
        return names

    def _skipped(self, source: Source) -> None:
        """A lone input skipped says so (issue 11); in a batch the summary counts them, and
        -v names each."""
        if not self.multi or self.ctx.settings.run.verbose:
            self.ctx.diag.note(
                f"{quote_name(source.display)}: skipped, its caption is already written (--on-exists skip) — "
                "pass --on-exists overwrite to describe it again"
            )
        self.sink.emit(ev.Skipped(source.display))
        self._progress()

    def _progress(self, total: int | None = None) -> None:
        t = self.tally
        self.sink.emit(ev.Progress(done=t.done, failed=t.failed, skipped=t.skipped, total=total))

    def _paced(self, message: str, detail: bool) -> None:
        """From the worker whose request met the 429 (the pacing's notices), or from this
        thread (the slots grew back)."""
        self.sink.emit(ev.Paced(message, detail=detail))

    def _spent(self, result: Result) -> None:
        """Count one request's answer (or an input's); halt once --max-cost is reached."""
        self.spend.add(result)  # priced there if it was not yet
        if self.halt is None and self.spend.reached:
            self.halt = NotStartedError(self.spend.reason(), hint=self.spend.not_started().hint)
            self.halt_by_spend = True

    def _stop_the_rest(self, it: Iterator[tuple[Source, bool]]) -> None:
        """After a halt (nothing in flight): each input cut short or never started fails as
        not started (its JSON record says so), and one line names them all."""
        halt = self.halt
        assert halt is not None
        if self.halt_by_spend:  # nothing in flight now: the money spent in the end
            halt = self.halt = NotStartedError(self.spend.reason(), hint=halt.hint)
        model = self.ctx.settings.request.model

        def failed(name: str) -> NotStartedError:
            return NotStartedError(f"not started: {halt.message}", hint=halt.hint, input=name)

        for group in self.groups.take_partly_sent():
            name = group.source.display
            group.results[group.queued] = Result(name, model, error=failed(name))
            group.failed = True  # partly sent: it fails (reported), a rerun sends it whole
            done = self._write(group.source, group.split.join(group.results))
            done.joined = True
            self._finish(done)
        self.not_started.extend(self._unsent(it, failed, count_skips=True))
        if self.not_started:
            self.tally.fold(ExitCode.TEMPORARY)
            n = len(self.not_started)
            names = ", ".join(quote_name(n) for n in self.not_started[:3]) + (", …" if n > 3 else "")
            what = f"{n} inputs not started ({names})" if n > 1 else f"{names}: not started"
            self.ctx.diag.error(NotStartedError(f"{what}: {halt.message}", hint=halt.hint))

    def _records_for_the_rest(self, it: Iterator[tuple[Source, bool]]) -> None:
        """After a stop (a 401, quota, an unknown model): JSON/JSONL still hold one record
        per input (SPEC), the unsent ones `not_started`, and the summary counts them (in
        every format); the error already said, once."""
        why = "the run stopped at an error every input would share (see above)"
        self.not_started.extend(
            self._unsent(
                it,
                lambda name: NotStartedError(f"not started: {why}", hint="fix it and rerun", input=name),
                count_skips=True,
            )
        )

    def _part_done(self, part: Part, result: Result) -> Done | None:
        """Note one part's answer; the input's joined Done once its last part has ended."""
        group = part.group
        if not group.answered(part.index, result):
            return None
        done = self._write(group.source, group.split.join(group.results))
        done.joined = True
        return None if done.dropped else done  # dropped: Ctrl-C came first, as for any input

    def _finish(self, item: Done) -> None:
        if item.exc is not None:
            raise item.exc
        if item.split is not None:
            source, split = item.split
            self.groups.add(source, split)
            return
        if item.part is not None:
            assert item.result is not None
            self._spent(item.result)  # each request counts as it answers
            joined = self._part_done(item.part, item.result)
            if joined is None:
                return
            item = joined
        result = item.result
        assert result is not None
        if self.sent[result.input] > 1:
            self.sent[result.input] -= 1
        else:
            self.sent.pop(result.input, None)
        if not item.joined:
            self._spent(result)
        self.sink.emit(ev.Finished(result, streamed=item.streamed))
        if result.error is None:
            self.tally.ok()
            grown = self.pacing.on_success()
            if grown:
                self._paced(grown, True)
        else:
            self.tally.error(result.error)  # reported (once after a stop) and folded
        self._reached(result)
        self._progress()

    def _reached(self, result: Result) -> None:
        """A few inputs in a row that could not reach the API (each after its retries):
        the server is down or --base-url is wrong, so the rest are not started (exit 75)
        rather than each waiting out its own retries."""
        if not isinstance(result.error, UnreachableError):
            self.unreachable = 0 if result.error is None else self.unreachable
            return
        self.unreachable += 1
        if self.unreachable >= UNREACHABLE_STOP and self.halt is None:
            self.halt = NotStartedError(
                f"{self.ctx.settings.connection.base_url} could not be reached for {self.unreachable} inputs in a row",
                hint="check the network or --base-url, then rerun to finish",
            )
