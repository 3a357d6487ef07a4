"""Issue 21, item 2: the runner and the flows emit typed events to the sink they are
given, and print no answer themselves (the CLI's RenderSink renders them)."""

from __future__ import annotations

import io
from pathlib import Path

from kimi_vision_cli import events as ev
from kimi_vision_cli.flows import ask, describe
from kimi_vision_cli.flows.start import start
from kimi_vision_cli.inputs.discover import classify
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.settings import resolve
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import Source
from tests.media import write_image


def _context(env: dict[str, str], **flags: object) -> tuple[Context, io.StringIO]:
    out = io.StringIO()
    term = Terminal(
        stdout=out, stderr=io.StringIO(), stdin=io.BytesIO(), stdout_isatty=False, stderr_isatty=False,
        stdin_isatty=False, color=False, env=env,
    )  # fmt: skip
    return start(Context(resolve(dict(flags), env, command="describe"), term, Diagnostics(term))), out


def _kinds(events: list[ev.Event]) -> list[str]:
    kinds = [type(e).__name__ for e in events if not isinstance(e, ev.Tick | ev.Progress)]
    # A stream is many pieces: one name for a run of them.
    return [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1] or not k.endswith("Streamed")]


def test_one_input_streams_to_a_sink_that_shows_streams(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    ctx, out = _context(env)
    sink = ev.Collect(streams=True)
    tally = describe.run([classify(str(tmp_path / "a.png"))], ctx, sink, multi=False)
    assert tally.done == 1
    assert _kinds(sink.events) == [
        "RunStarted", "Started", "ReasoningStreamed", "TextStreamed", "Finished", "RunEnded"
    ]  # fmt: skip
    streamed = "".join(e.text for e in sink.events if isinstance(e, ev.TextStreamed))
    (finished,) = [e for e in sink.events if isinstance(e, ev.Finished)]
    assert finished.streamed and finished.result.text == streamed
    assert "a 64x48 image/png image" in streamed
    assert out.getvalue() == ""  # the runner printed nothing: showing is the sink's


def test_several_inputs_come_whole_to_a_sink_that_does_not_stream(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png")
    (tmp_path / "a.png.txt").write_text("kept")
    ctx, out = _context(env, concurrency=1)
    sink = ev.Collect()
    names = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    options = describe.BatchOptions(writers=_sidecars())
    describe.run([classify(n) for n in names], ctx, sink, multi=True, options=options)
    assert _kinds(sink.events) == ["RunStarted", "Skipped", "Finished", "RunEnded", "Summary"]
    assert not any(isinstance(e, ev.Started | ev.TextStreamed) for e in sink.events)
    progress = [e for e in sink.events if isinstance(e, ev.Progress)]
    assert (progress[-1].done, progress[-1].skipped) == (1, 1)
    assert [e.total for e in progress if e.total is not None] == [2]  # once every input is listed
    assert out.getvalue() == ""


def _sidecars():  # type: ignore[no-untyped-def]
    """--sidecar txt: an input whose .txt exists is skipped."""
    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.output.writers import Writers

    return Writers(sidecar=SidecarSpec("txt", None))


def test_ask_emits_its_record(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    ctx, out = _context(env)
    sink = ev.Collect()
    ask.ask("What is it?", [classify(str(tmp_path / "a.png"))], ctx, sink)
    assert _kinds(sink.events) == ["Started", "Finished"]
    (finished,) = [e for e in sink.events if isinstance(e, ev.Finished)]
    assert not finished.streamed and "20x10" in finished.result.text
    assert out.getvalue() == ""


def test_no_flow_or_runner_module_decides_output() -> None:
    """STYLE rule 12: flows and the runner neither read the output format nor ask whether
    a stream is a terminal, nor import a renderer or the progress bar: the sink decides."""
    import ast

    pkg = Path(__file__).resolve().parent.parent / "kimi_vision_cli"
    offenders = []
    for path in [*(pkg / "flows").rglob("*.py"), *(pkg / "runner").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            name = f"{path.relative_to(pkg)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and (
                node.attr.endswith("isatty") or (node.attr == "format" and isinstance(node.ctx, ast.Load))
            ):
                offenders.append(f"{name} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in (
                "kimi_vision_cli.output.render",
                "kimi_vision_cli.output.progress",
                "kimi_vision_cli.output.sinks",
            ):
                offenders.append(f"{name} imports {node.module}")
    assert offenders == []


def test_a_rate_limit_notice_is_a_paced_event(env, fake, tmp_path: Path) -> None:
    from tests.fake_moonshot import Limits

    fake.state.limits = Limits(concurrency=1, rpm=None, window=1.0)
    fake.state.latency = 0.05
    for n in range(4):
        write_image(tmp_path / f"{n}.png")
    ctx, _out = _context(env, concurrency=3)
    sink = ev.Collect()
    describe.run([classify(str(tmp_path / f"{n}.png")) for n in range(4)], ctx, sink, multi=True)
    paced = [e for e in sink.events if isinstance(e, ev.Paced)]
    notices = [e.message for e in paced if not e.detail]
    assert notices == ["rate limited: Moonshot's 429 named max concurrency: 1 — from now on 1 request at a time"
                       " (-v shows more)"]  # fmt: skip
    assert any(e.detail and "concurrency 3 -> 1" in e.message for e in paced)
    assert ctx.diag.term.stderr.getvalue() == ""  # type: ignore[attr-defined]  # the sink's, not stderr


def test_a_context_kept_across_runs_keeps_its_pacing(env, fake, tmp_path: Path) -> None:
    """A library session keeps one Context (or hands its Pacing to the next): later runs
    start paced as the first ended, so the 429 that taught the limit is not met again,
    and a finished run is not called back by the client it shared."""
    from tests.fake_moonshot import Limits

    fake.state.limits = Limits(concurrency=1, rpm=None, window=1.0)
    fake.state.latency = 0.05
    for n in range(3):
        write_image(tmp_path / f"{n}.png")

    def sources() -> list[Source]:
        return [classify(str(tmp_path / f"{n}.png")) for n in range(3)]

    ctx, _out = _context(env, concurrency=3)
    assert describe.run(sources(), ctx, ev.Collect(), multi=True).done == 3
    refused = fake.state.rate_limited
    assert refused >= 1 and ctx.pacing.slots == 1 and ctx.client.observer.callbacks == []
    sink = ev.Collect()
    assert describe.run(sources(), ctx, sink, multi=True).done == 3
    assert fake.state.rate_limited == refused and ctx.client.observer.callbacks == []
    again = Context(ctx.settings, ctx.term, ctx.diag, pacing=ctx.pacing)
    assert again.client.pacer is ctx.pacing
    assert describe.run(sources(), again, ev.Collect(), multi=True).done == 3
    assert fake.state.rate_limited == refused
