"""The Python API: `import kimi_vision_cli as kv; kv.describe(...)`, `kv.ask(...)`,
`kv.estimate(...)`, and `kv.Client(...)` holding one connection and one pacing for many
calls (docs/python.md). The same core as the CLI: settings resolved through
the one option table (settings.resolve: keyword > env > config file > default, checked
the same way, so a bad value is the same typed error), the same flows, and a sink that
shows nothing (events.py). Records are the objects the JSON contract serialises
(output/records.py). Errors are the typed errors of kimi_vision_cli.errors, never
SystemExit; nothing is printed.

Safe from several threads or processes at once: each call resolves its own settings and
runs on worker threads of its own; the functions make a client per call, a Client shares
its one (thread-safe) between its calls; no module global is changed, and no signal
handler is installed (the run is on a thread of its own). One process-wide setting is:
a run of more than 32 at once sets glibc's mmap threshold to 64 KiB (runner/memory.py).
"""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_vision_cli import events as ev
from kimi_vision_cli.errors import AuthError, KimiVisionError, Tally, UsageError
from kimi_vision_cli.inputs.discover import classify
from kimi_vision_cli.keywords import (
    CALL_KEYWORDS,
    CLI_ONLY,
    CONNECTION,
    KEYWORDS,
    AskCall,
    AskOptions,
    CallOptions,
    DescribeCall,
    DescribeOptions,
    EstimateCall,
    EstimateOptions,
)
from kimi_vision_cli.options import OPTIONS
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.records import Estimate, Result
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.host import Host
from kimi_vision_cli.settings import Settings, resolve
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import Source

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.runner.pacing import Pacing

# What an input may be: a path, a URL, an ms://FILE_ID, bytes, or a PIL image.
Input = str | os.PathLike[str] | bytes | bytearray | memoryview | Any


class _Discard(io.StringIO):
    """Stderr for a library run: warnings and notes are dropped, never printed."""

    def write(self, text: str) -> int:
        return len(text)


def _settings(command: str, options: dict[str, Any], env: dict[str, str] | None) -> Settings:
    """Keywords as flags (None: not given), over env and config, checked by the option
    table. A `schema` given as a dict is sent as its JSON text, as --schema takes it."""
    flags = {k: v for k, v in options.items() if v is not None}
    if isinstance(flags.get("schema"), dict):
        flags["schema"] = json.dumps(flags["schema"])
    if "max_size" in flags and isinstance(flags["max_size"], tuple):
        flags["max_size"] = "{}x{}".format(*flags["max_size"])
    for name in CLI_ONLY:
        if name in flags:
            raise TypeError(f"{name} is a CLI option: the Python API returns records")
    unknown = sorted(set(flags) - KEYWORDS)
    if unknown:  # the caller's mistake, said in the API's words (not settings.resolve's)
        where = " (an argument of describe() and estimate())" if unknown == ["recursive"] else ""
        raise TypeError(f"unexpected keyword {', '.join(unknown)}{where}: see docs/python.md")
    for name, value in flags.items():  # segment=30: checked as "30" is (the table parses text only)
        if OPTIONS[name].parse is not None and isinstance(value, int | float) and not isinstance(value, bool):
            flags[name] = str(value)
    return resolve(flags, dict(os.environ) if env is None else env, command=command)


def _context(
    settings: Settings, env: dict[str, str], shared: MoonshotClient, pacing: Pacing, host: Host
) -> Context:
    """The run's Context on a terminal that shows nothing, using the Client's `shared`
    client and its `pacing`; `env` (cache directory, download cap) as the settings read
    it; `host`: the clock, sleep and cores to run on (runner/host.py)."""
    from kimi_vision_cli.flows.start import start

    term = Terminal(
        stdout=_Discard(), stderr=_Discard(), stdin=io.BytesIO(), stdout_isatty=False,
        stderr_isatty=False, stdin_isatty=False, color=False, env=env,
    )  # fmt: skip
    return start(Context(settings, term, Diagnostics(term), host=host, shared=shared, pacing=pacing))


def _sources(inputs: Input | Iterable[Input], recursive: bool) -> list[Source]:
    """Each input as the CLI would take it; bytes and PIL images as in-memory media."""
    if isinstance(inputs, str | os.PathLike | bytes | bytearray | memoryview) or _is_image(inputs):
        inputs = [inputs]
    sources: list[Source] = []
    for n, item in enumerate(inputs, 1):
        if isinstance(item, bytes | bytearray | memoryview):
            sources.append(Source("bytes", f"<bytes #{n}>", data=bytes(item)))
        elif _is_image(item):
            sources.append(Source("bytes", f"<image #{n}>", data=_png(item)))
        elif isinstance(item, str | os.PathLike):
            name = os.fspath(item)
            if name == "-":
                raise UsageError("standard input is not an input of the Python API", hint="pass its bytes")
            source = classify(name)
            if recursive and source.kind == "path" and Path(name).is_dir():
                from kimi_vision_cli.inputs.discover import iter_sources

                sources.extend(iter_sources([name], recursive=True))
            else:
                sources.append(source)
        else:
            raise TypeError(
                f"input #{n}: a path, URL, ms:// id, bytes or PIL image, not {type(item).__name__}"
            )
    return sources


def _is_image(item: Any) -> bool:
    return type(item).__module__.startswith("PIL.") and hasattr(item, "save")


def _png(image: Any) -> bytes:
    """A PIL image as lossless PNG bytes, prepared then like any PNG input."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Records:
    """The library's sink: each input's final record into a queue; nothing shown."""

    streams = False

    def __init__(self) -> None:
        self.queue: queue.Queue[Result | _End] = queue.Queue()

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Finished | ev.Unanswered):
            self.queue.put(event.result)


@dataclass(frozen=True)
class _End:
    tally: Tally | None = None
    error: BaseException | None = None


def _run_describe(
    sources: list[Source], ctx: Context, on_end: Callable[[], None] | None = None
) -> Iterator[Result]:
    """The run on a thread of its own, its records handed over as they come. `on_end`:
    called on that thread when the run has ended (a one-shot Client closes there); not
    when the caller stopped reading early, since requests in flight end on their own."""
    from kimi_vision_cli.flows import describe as flow

    sink, cancel = _Records(), threading.Event()

    def run() -> None:
        end = _End()
        try:
            end = _End(flow.run(sources, ctx, sink, multi=len(sources) > 1, cancel=cancel))
        except BaseException as exc:  # handed to the caller's thread
            end = _End(error=exc)
        finally:
            try:
                if on_end is not None and not cancel.is_set():
                    on_end()
            finally:
                sink.queue.put(end)

    worker = threading.Thread(target=run, name="kimi-vision-describe", daemon=True)
    worker.start()
    stops: KimiVisionError | None = None
    try:
        while not isinstance(item := sink.queue.get(), _End):
            if item.error is not None and item.error.stops and stops is None:
                stops = item.error
            yield item
    finally:
        cancel.set()  # the caller stopped reading: no new request starts
    if item.error is not None:
        raise item.error
    if stops is not None and item.tally is not None and item.tally.stopped:
        raise stops


class Client:
    """One connection to Moonshot for many calls, as `openai.OpenAI()` is: one HTTP
    connection pool, one SDK client and one pacing state (the rate limits its 429s taught,
    Moonshot's "try again after N seconds", the inputs in flight it allows), kept from
    one call to the next (issue 24). The Client's `concurrency` is the ceiling: a call's
    may lower it, not raise it.

    Made with the keywords the functions take (keywords.py DescribeCall: api_key, base_url,
    env, model, prompt, concurrency...): a bad value is the same typed error, a missing key
    an AuthError, now. `describe`, `ask` and `estimate` take their command's keywords
    (DescribeOptions...), over the Client's; the connection (keywords.Connection) is fixed.

    Threads: a Client may be shared. Each call resolves its own settings and runs on
    threads of its own; the calls share the connections and the pacing, so calls at once
    stay within what the 429s taught, each with its own `concurrency` (they add up).
    `close()` (or leaving `with`) ends the connections: call it once no call is under way.
    """

    def __init__(self, **options: Unpack[DescribeCall]) -> None:
        from kimi_vision_cli.api.client import MoonshotClient
        from kimi_vision_cli.runner.pacing import Pacing

        env, host = options.pop("env", None), options.pop("host", None)
        self._env = dict(os.environ) if env is None else dict(env)
        # The key lives in Settings (repr=False) and the client, never in a plain dict.
        api_key = options.pop("api_key", None)
        self._options: dict[str, Any] = dict(options)
        self._base = _settings("describe", dict(self._options, api_key=api_key), self._env)
        self._shown = (
            f"Client(model={self._base.request.model!r}, base_url={self._base.connection.base_url!r})"
        )
        self._host = host or Host()
        # One Pacing for every call: what a 429 taught (limits, slots, "try again after")
        # holds in the next call. Its ceiling is the Client's concurrency.
        if not self._base.connection.api_key:
            # str(err) is all a traceback shows: what to do is in the message, in the API's
            # words (the CLI's error says --api-key, and prints its hint beside it).
            raise AuthError(
                f"no API key: set {OPTIONS['api_key'].env[0]} or pass api_key=",
                hint="get one at platform.moonshot.ai",
            )
        self._pacing = Pacing.for_settings(self._base, self._host.clock)
        self._client = MoonshotClient(self._base, pacer=self._pacing, sleep=self._host.sleep)
        self._closed = False
        self._one_shot = False  # a function's own Client: closed when its one call ends
        for name in OPTIONS["api_key"].env:  # each call is given the key: no copy kept here
            self._env.pop(name, None)

    def __repr__(self) -> str:
        return self._shown

    def __reduce__(self) -> Any:
        # Ray or multiprocessing would send it to another process: its connections (and
        # key) cannot go, so say where to make it instead of "cannot pickle _thread.lock".
        raise TypeError("a kv.Client holds open connections: make it in the process that uses it "
                        "(in Ray, in the __init__ of the class given to map_batches)")  # fmt: skip

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections; the Client takes no call after."""
        self._closed = True
        self._client.close()

    def _start(self, command: str, call: CallOptions) -> Context:
        """The call's Context: its keywords over the Client's, checked by the option table."""
        if self._closed:
            raise RuntimeError(f"{self._shown} is closed: make another")
        given = {k: v for k, v in call.items() if v is not None}
        fixed = sorted(set(given) & CONNECTION)
        if fixed:
            raise TypeError(f"{', '.join(fixed)}: fixed when the Client is made; make another Client")
        other = sorted(set(given) & KEYWORDS - CALL_KEYWORDS[command])
        if other:  # segment=30 to ask: accepted, and no video was cut
            raise TypeError(f"{command}() takes no keyword {', '.join(other)}: see docs/python.md")
        settings = _settings(
            command, {**self._options, **given, "api_key": self._base.connection.api_key}, self._env
        )
        ceiling = self._base.run.concurrency
        if settings.run.concurrency > ceiling:  # its Pacing allows no more: say so, not run slower
            raise UsageError(
                f"concurrency {settings.run.concurrency} is over this Client's {ceiling}",
                hint=f"make the Client with concurrency={settings.run.concurrency}",
            )
        return _context(settings, self._env, self._client, self._pacing, self._host)

    def describe(
        self, inputs: Input | Iterable[Input], *, recursive: bool = False, **options: Unpack[DescribeOptions]
    ) -> Iterator[Result]:
        """One request per input; the records as inputs finish (not in input order with
        concurrency > 1). A failed input is a record whose `error` says why; an error every
        input would share (a rejected key, exhausted quota) is raised, once the records of
        what finished before it. Keywords: any option of the table by its settings name
        (DescribeOptions). Settings are checked now; the run starts on the first `next()`;
        stopping early cancels it."""
        ctx = self._start("describe", options)
        return _run_describe(_sources(inputs, recursive), ctx, self.close if self._one_shot else None)

    def ask(
        self, question: str, inputs: Input | Iterable[Input], *, prefix: str | None = None,
        **options: Unpack[AskOptions],
    ) -> Result:  # fmt: skip
        """One request holding every input; its record. A failure is raised (the typed
        error), so a returned record always holds an answer."""
        from kimi_vision_cli.flows import ask as flow

        if not question.strip():
            raise UsageError("the question is empty", hint="ask something about the inputs")
        ctx = self._start("ask", options)
        sink = _Records()
        flow.ask(question, _sources(inputs, recursive=False), ctx, sink, prefix=prefix)
        result = sink.queue.get_nowait()
        assert isinstance(result, Result)
        if result.error is not None:
            raise result.error
        return result

    def estimate(
        self, inputs: Input | Iterable[Input], *, recursive: bool = False, **options: Unpack[EstimateOptions]
    ) -> list[Estimate]:
        """The input tokens of what describe would send, one Estimate per input (`tokens`,
        `media`, `error`), counted by Moonshot's tokenizer; nothing is sent to a model."""
        from kimi_vision_cli.flows import estimate as flow

        ctx = self._start("estimate", options)
        done: list[Estimate] = []
        for est in flow.estimate_each(_sources(inputs, recursive), ctx):
            done.append(est)
            if est.error is not None and est.error.stops:
                raise est.error
        return done


def describe(
    inputs: Input | Iterable[Input], *, recursive: bool = False, **options: Unpack[DescribeCall]
) -> Iterator[Result]:
    """One request per input, a record each as it finishes: Client.describe on a Client
    of its own, closed when the records end. For many calls, make one Client."""
    client = Client(**options)
    client._one_shot = True  # closed by its run when it ends
    try:
        records = client.describe(inputs, recursive=recursive)
    except BaseException:  # an input refused before the run (stdin, a type): no run to close it
        client.close()
        raise
    # Records never read, or left early: the run never ends on its own terms, so its
    # connections are closed when the records are dropped.
    weakref.finalize(records, client.close)
    return records


def ask(
    question: str, inputs: Input | Iterable[Input], *, prefix: str | None = None, **options: Unpack[AskCall]
) -> Result:
    """One request holding every input, its record: Client.ask on a Client of its own."""
    connection, call = _split(options)
    with Client(**connection) as client:
        return client.ask(question, inputs, prefix=prefix, **call)


def estimate(
    inputs: Input | Iterable[Input], *, recursive: bool = False, **options: Unpack[EstimateCall]
) -> list[Estimate]:
    """The input tokens describe would send, per input: Client.estimate on a Client of
    its own."""
    connection, call = _split(options)
    with Client(**connection) as client:
        return client.estimate(inputs, recursive=recursive, **call)


def _split(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A function's keywords: its Client's connection, and its call's own (checked as the
    call's, so a keyword the command does not take is refused, not kept by the Client)."""
    connection = {k: v for k, v in options.items() if k in CONNECTION}
    return connection, {k: v for k, v in options.items() if k not in CONNECTION}


__all__ = ["Client", "ask", "describe", "estimate"]
