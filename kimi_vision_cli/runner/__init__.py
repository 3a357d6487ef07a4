"""Running many requests: what `describe` (flows/describe.py, where it starts) uses to
keep `-j` requests in flight over a stream of inputs. Flows call into it; it never
imports a flow, never reads the output format or the terminal, and never prints an
answer: it emits events (kimi_vision_cli/events.py) to the sink the caller chose (the
CLI's RenderSink, output/sinks.py; the Python API's, library.py, keeps the records).

- scheduler.py  the run: the main loop, what a worker does with a job, halts, summary
- workers.py    the sending threads, one slot per -j, each thread replaced after 2 jobs
- stop.py       how a run is asked to stop: Ctrl-C, SIGTERM, the Python API's cancel
- jobs.py       what moves between the threads (Done, Split/Part Groups, Writes)
- memory.py     a long high -j batch's memory: glibc's mmap threshold, malloc_trim
- ahead.py      the pool that prepares the next inputs while requests wait on the network
- admission.py  preparation slots and the --max-memory byte budget, by ticket
- pacing.py     one Pacing: what the 429s teach (concurrency, RPM/TPM spacing of the
                client's request starts, "try again after") and how many inputs may be
                in flight (slow start, adaptive concurrency)
- budget.py     money: pricing answers, --max-cost, the daily allowance
- prepare.py    one input read and prepared (also used by ask, estimate, upload, batch)
- send.py       one planned request streamed into a Result (also used by ask and batch)
- context.py    what every flow and the runner are given: settings, terminal, Host,
                Pacing, client
- host.py       the machine as a value: clock, sleep, batch polling, cores (injected:
                tests pass fakes, nothing patches a module)

The threading discipline, the one rule every module here keeps:

- The thread that calls `Scheduler.run` (the main thread in the CLI; any thread in the
  Python API) owns the run: the Tally, the counters, the halt and stop flags, the split
  groups and the workers' queue's producer side. It alone emits events to the sink, so a
  sink needs no lock and events for one input arrive in order. Two exceptions: the
  live stream (`Started`, `TextStreamed`, `ReasoningStreamed`) of an answer shown as it
  comes, which the worker sending it emits, and `Paced`, from the worker that met the
  429. The run streams live only when at most one request is in flight at a time or
  there is one input, so streams never interleave.
- Worker threads (`-j` at a time) take jobs from the workers' queue and hand back each
  finished job as a `Done` on the `done` queue; they share nothing else with the main
  thread except `Writes` (a Condition: Ctrl-C waits for sidecar writes under way).
- Signals are trapped only when run on the main thread; the Python API runs on a
  thread of its own and cancels through an Event (`Scheduler(cancel=...)`).
- The ahead pool (daemon threads) and the byte budget (`Admission`, one Condition) are
  the only other shared state; each guards itself. The Context's `Pacing` is shared by
  the workers (the client holds each attempt on it and tells it each 429) and the run's
  thread (slots, pauses, successes); one Condition guards it, and it calls nothing while
  holding it (runner/pacing.py).
"""
