"""The Python API: `import kimi_vision_cli as kv; kv.describe(...)`, `kv.ask(...)`,
`kv.estimate(...)` (docs/python.md). The same core as the CLI: settings resolved through
the one option table (settings.resolve: keyword > env > config file > default, checked
the same way, so a bad value is the same typed error), the same flows, and a sink that
shows nothing (events.py). Records are the objects the JSON contract serialises
(output/records.py). Errors are the typed errors of kimi_vision_cli.errors, never
SystemExit; nothing is printed.

Safe from several threads or processes at once: each call resolves its own settings
and makes its own client and worker threads; no module global is changed, and no
signal handler is installed (the run is on a thread of its own)."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_vision_cli import events as ev
from kimi_vision_cli.errors import KimiVisionError, Tally, UsageError
from kimi_vision_cli.inputs.discover import classify
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.output.records import Estimate, Result
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.host import Host
from kimi_vision_cli.settings import Settings, resolve
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import Source

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
    for name in ("format", "dry_run", "show_thinking"):  # what only the CLI shows
        if name in flags:
            raise TypeError(f"{name} is a CLI option: the Python API returns records")
    return resolve(flags, dict(os.environ) if env is None else env, command=command)


def _context(settings: Settings, env: dict[str, str] | None, host: Host | None = None) -> Context:
    """The run's Context on a terminal that shows nothing; `env` (cache directory,
    download cap) as the settings read it; `host`: the clock, sleep and cores to run on
    (runner/host.py; None: the real machine)."""
    from kimi_vision_cli.flows.start import start

    term = Terminal(
        stdout=_Discard(), stderr=_Discard(), stdin=io.BytesIO(), stdout_isatty=False,
        stderr_isatty=False, stdin_isatty=False, color=False, env=dict(os.environ) if env is None else env,
    )  # fmt: skip
    return start(settings, term, Diagnostics(term), host=host)


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
        if isinstance(event, ev.Finished | ev.NotStarted | ev.Interrupted):
            self.queue.put(event.result)


@dataclass(frozen=True)
class _End:
    tally: Tally | None = None
    error: BaseException | None = None


def describe(
    inputs: Input | Iterable[Input],
    *,
    prompt: str | None = None,
    model: str | None = None,
    system: str | None = None,
    concurrency: int | None = None,
    schema: str | dict[str, Any] | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    recursive: bool = False,
    env: dict[str, str] | None = None,
    host: Host | None = None,
    **options: Any,
) -> Iterator[Result]:
    """One request per input; the records as inputs finish (not in input order with
    concurrency > 1). A failed input is a record whose `error` says why; an error every
    input would share (no key, a rejected key, exhausted quota) is raised, once the
    records of what finished before it. Other keywords: any option of the table by its
    settings name (thinking, max_size, upload, convert, keep_metadata, retries, ...).
    `host` (every function): the clock, sleep and cores to run on (runner/host.py).
    Settings are checked now; the run starts on the first `next()`."""
    settings = _settings(
        "describe",
        dict(options, prompt=prompt, model=model, system=system, concurrency=concurrency, schema=schema,
             max_tokens=max_tokens, max_cost=max_cost, api_key=api_key, base_url=base_url),
        env,
    )  # fmt: skip
    sources = _sources(inputs, recursive)
    ctx = _context(settings, env, host)
    return _run_describe(sources, ctx)


def _run_describe(sources: list[Source], ctx: Context) -> Iterator[Result]:
    from kimi_vision_cli.flows import describe as flow

    sink, cancel = _Records(), threading.Event()

    def run() -> None:
        try:
            tally = flow.run(sources, ctx, sink, multi=len(sources) > 1, cancel=cancel)
        except BaseException as exc:  # handed to the caller's thread
            sink.queue.put(_End(error=exc))
        else:
            sink.queue.put(_End(tally))

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


def ask(
    question: str,
    inputs: Input | Iterable[Input],
    *,
    prefix: str | None = None,
    model: str | None = None,
    system: str | None = None,
    schema: str | dict[str, Any] | None = None,
    max_tokens: int | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    env: dict[str, str] | None = None,
    host: Host | None = None,
    **options: Any,
) -> Result:
    """One request holding every input; its record. A failure is raised (the typed
    error), so a returned record always holds an answer."""
    from kimi_vision_cli.flows import ask as flow

    if not question.strip():
        raise UsageError("the question is empty", hint="ask something about the inputs")
    settings = _settings(
        "ask",
        dict(options, model=model, system=system, schema=schema, max_tokens=max_tokens, api_key=api_key,
             base_url=base_url),
        env,
    )  # fmt: skip
    sources = _sources(inputs, recursive=False)
    ctx = _context(settings, env, host)
    sink = _Records()
    flow.ask(question, sources, ctx, sink, prefix=prefix)
    result = sink.queue.get_nowait()
    assert isinstance(result, Result)
    if result.error is not None:
        raise result.error
    return result


def estimate(
    inputs: Input | Iterable[Input],
    *,
    prompt: str | None = None,
    model: str | None = None,
    system: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    recursive: bool = False,
    env: dict[str, str] | None = None,
    host: Host | None = None,
    **options: Any,
) -> list[Estimate]:
    """The input tokens of what describe would send, one Estimate per input (`tokens`,
    `media`, `error`), counted by Moonshot's tokenizer; nothing is sent to a model."""
    from kimi_vision_cli.flows import estimate as flow

    settings = _settings(
        "estimate",
        dict(options, prompt=prompt, model=model, system=system, api_key=api_key, base_url=base_url),
        env,
    )  # fmt: skip
    sources = _sources(inputs, recursive)
    ctx = _context(settings, env, host)
    ctx.client  # noqa: B018 - a missing key is raised before any input is read
    done: list[Estimate] = []
    for est in flow.estimate_each(sources, ctx):
        done.append(est)
        if est.error is not None and est.error.stops:
            raise est.error
    return done


__all__ = ["ask", "describe", "estimate"]
