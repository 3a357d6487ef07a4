"""Issue 12: -j bounds the requests in flight; preparation has its own pool sized to the
cores (and at most -j), and the media held by the requests in flight stays within
--max-memory (runner/admission.py). Instrumented, no timing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kimi_vision_cli.runner import ahead
from kimi_vision_cli.runner.admission import Admission, ByteBudget
from kimi_vision_cli.runner.host import Host
from tests.media import write_image

# The instruments are monkeypatched into this process: not through the installed command.
in_process = pytest.mark.skipif(
    bool(os.environ.get("KIMI_VISION_TEST_PROCESS")), reason="instrumented in-process"
)


def _noise_png(path: Path, w: int, h: int) -> None:
    """A PNG that stays large once prepared (noise does not compress)."""
    Image.frombytes("RGB", (w, h), os.urandom(w * h * 3)).save(path, format="PNG")


def test_the_preparation_pool_is_the_cores_and_at_most_j() -> None:
    assert Admission(8, 512, cores=2).preparers == 2
    assert Admission(1, 512, cores=2).preparers == 1
    assert Admission(4, 512, cores=16).preparers == 4
    assert Host(cores=2).cores == 2 and Host().cores >= 1  # the real one: this process's CPUs


@in_process
def test_j8_on_two_cores_prepares_at_most_two_at_once(kv, fake, tmp_path: Path, monkeypatch) -> None:
    lock = threading.Lock()
    inside, peak, seen = 0, 0, []
    real = ahead.prepare_source

    def counted(source: Any, ctx: Any) -> Any:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
            seen.append(source.display)
        try:
            return real(source, ctx)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(ahead, "prepare_source", counted)
    names = [f"img{i:02d}.png" for i in range(16)]
    for i, name in enumerate(names):
        write_image(tmp_path / name, 8 + i, 6)
    r = kv("describe", "-j", "8", "--format", "jsonl", *names, host=Host(cores=2))
    assert r.returncode == 0, r.stderr
    assert 1 <= peak <= 2
    assert sorted(seen) == names  # each input prepared once
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(rec["input"] for rec in recs) == names  # and described once
    assert len(fake.chat_requests) == 16


@in_process
def test_the_byte_budget_holds_with_large_inputs_at_j4(kv, fake, tmp_path: Path, monkeypatch) -> None:
    lock = threading.Lock()
    held_peak, sizes = 0, []
    real = ByteBudget.acquire

    def acquire(self: ByteBudget, size: int, ticket: int | None = None) -> None:
        nonlocal held_peak
        real(self, size, ticket)
        with lock:
            held_peak = max(held_peak, self.held)
            sizes.append(size)

    monkeypatch.setattr(ByteBudget, "acquire", acquire)
    names = [f"big{i}.png" for i in range(6)]
    for i, name in enumerate(names):
        _noise_png(tmp_path / name, 600 + i, 400)  # ~0.7 MB each once prepared
    r = kv("describe", "-j", "4", "--max-memory", "1", "--format", "jsonl", *names)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(line)["input"] for line in r.stdout.splitlines()) == names
    assert len(sizes) == 6 and min(sizes) > 512 * 1024
    assert held_peak <= 1024 * 1024 + max(sizes)


def test_a_body_bigger_than_the_budget_goes_alone_and_others_wait() -> None:
    budget = ByteBudget(100)
    budget.acquire(250)  # nothing held: it goes, alone
    assert budget.held == 250
    entered = threading.Event()

    def second() -> None:
        budget.acquire(10)
        entered.set()

    t = threading.Thread(target=second)
    t.start()
    assert not entered.is_set()  # still waiting (it cannot enter while 250 are held)
    budget.release(250)
    t.join()
    assert entered.is_set() and budget.held == 10


@in_process
def test_the_next_input_is_prepared_while_a_request_is_in_flight(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    """Item 1: at -j 1 the second input is prepared while the first request waits on the
    network (runner/ahead.py), not after it. The first send waits until it has been; without
    the pool working ahead it would wait in vain (5 s) and the order below would differ."""
    from kimi_vision_cli.runner import send

    events: list[str] = []
    second_prepared = threading.Event()
    real_prepare, real_send = ahead.prepare_source, send.send_checked

    def prepare(source: Any, ctx: Any) -> Any:
        events.append(f"prepare {source.display}")
        out = real_prepare(source, ctx)
        if source.display == "b.png":
            second_prepared.set()
        return out

    def send_checked(ctx: Any, planned: Any, result: Any, renderer: Any = None) -> None:
        if result.input == "a.png":
            second_prepared.wait(5)
        events.append(f"send {result.input}")
        real_send(ctx, planned, result, renderer)

    monkeypatch.setattr(ahead, "prepare_source", prepare)
    monkeypatch.setattr(send, "send_checked", send_checked)
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    r = kv("describe", "-j", "1", "--format", "jsonl", "a.png", "b.png", "c.png")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["input"] for line in r.stdout.splitlines()] == ["a.png", "b.png", "c.png"]
    assert events.index("prepare b.png") < events.index("send a.png")
    assert sorted(e for e in events if e.startswith("prepare")) == [
        "prepare a.png",
        "prepare b.png",
        "prepare c.png",
    ]


@in_process
def test_a_stopped_run_prepares_nothing_more_and_gives_the_bytes_back(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    """An error every input shares (a 401) stops the run: the inputs prepared ahead are
    not sent, the rest are not prepared, and the byte budget ends empty."""
    budgets: list[ByteBudget] = []
    real_init = ByteBudget.__init__

    def init(self: ByteBudget, budget: int) -> None:
        real_init(self, budget)
        budgets.append(self)

    monkeypatch.setattr(ByteBudget, "__init__", init)
    prepared: list[str] = []
    real_prepare = ahead.prepare_source
    monkeypatch.setattr(
        ahead,
        "prepare_source",
        lambda source, ctx: prepared.append(source.display) or real_prepare(source, ctx),
    )
    names = [f"img{i:02d}.png" for i in range(12)]
    for name in names:
        write_image(tmp_path / name)
    r = kv(
        "describe", "-j", "1", "--format", "jsonl", *names, extra_env={"MOONSHOT_API_KEY": "sk-wrong"},
        host=Host(cores=2),
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert "authentication failed" in r.stderr
    assert len(prepared) <= 1 + 2 * 2  # the first, and at most a window ahead (2 cores)
    assert len(budgets) == 1
    for _ in range(500):  # a preparation still under way when the run ended gives its bytes back as it ends
        if budgets[0].held == 0:
            break
        threading.Event().wait(0.01)
    assert budgets[0].held == 0


@in_process
def test_a_failed_inputs_media_is_freed_without_the_garbage_collector(kv, fake, tmp_path: Path) -> None:
    """A failure kept on its Result until printed used to hold, through its traceback, the
    frames that held the media's bytes: a cycle only the garbage collector frees (it runs
    on object counts, not bytes, so failed videos piled up past --max-memory)."""
    import gc

    from kimi_vision_cli.types import MediaRef
    from tests.fake_moonshot import Fault
    from tests.media import video_bytes

    (tmp_path / "v.mp4").write_bytes(video_bytes(64, 48, frames=10))
    fake.inject(Fault(status=400, type="invalid_request_error", message="nope"))
    gc.collect()
    gc.disable()
    try:
        r = kv("describe", "--retries", "0", "--format", "jsonl", "v.mp4", "v.mp4")
        alive = [o for o in gc.get_objects() if isinstance(o, MediaRef) and o.data is not None]
    finally:
        gc.enable()
    assert r.returncode == 1, r.stderr
    assert "request refused: nope" in r.stderr
    assert alive == []


@in_process
def test_a_big_input_before_a_small_one_does_not_stall_the_run(kv, fake, tmp_path: Path) -> None:
    """The pool prepares both at once; the small one, prepared first, must not take the
    byte budget that the big one, sent first, waits for (at the default -j one request
    starts at a time, so that run used to wait forever). Admission follows the send order."""
    _noise_png(tmp_path / "a_big.png", 700, 700)  # ~1.4 MB once prepared: over a 1 MB budget
    write_image(tmp_path / "b_small.png")
    out: list[Any] = []
    t = threading.Thread(
        target=lambda: out.append(
            kv("describe", "--max-memory", "1", "--format", "jsonl", "a_big.png", "b_small.png")
        ),
        daemon=True,
    )
    t.start()
    t.join(60)
    assert out, "the run stalled"
    r = out[0]
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(line)["input"] for line in r.stdout.splitlines()) == ["a_big.png", "b_small.png"]


def test_tickets_are_admitted_in_order_and_a_passed_one_does_not_block() -> None:
    budget = ByteBudget(100)
    first, second, third = budget.ticket(), budget.ticket(), budget.ticket()
    order: list[int] = []

    def admit(ticket: int) -> None:
        budget.acquire(10, ticket)
        order.append(ticket)

    t3 = threading.Thread(target=admit, args=(third,))
    t3.start()
    t3.join(0.05)
    assert order == []  # its turn has not come
    budget.acquire(10, first)
    budget.pass_turn(second)  # e.g. its preparation failed
    t3.join(5)
    assert order == [third] and budget.held == 20


@in_process
def test_inputs_are_not_read_beyond_the_byte_budget(kv, fake, tmp_path: Path, monkeypatch) -> None:
    """--max-memory bounds what is read, not only what is sent: a local file is admitted at
    its size before it is read, so with room for one, a second is not read (by the pool
    working ahead) while the first is in flight."""
    from tests.fake_moonshot import Fault

    lock = threading.Lock()
    alive, peak = 0, 0
    real_prepare, real_release = ahead.prepare_source, ByteBudget.release

    def prepare(source: Any, ctx: Any) -> Any:
        nonlocal alive, peak
        with lock:
            alive += 1
            peak = max(peak, alive)
        return real_prepare(source, ctx)

    def release(self: ByteBudget, size: int) -> None:
        nonlocal alive
        if size:
            with lock:
                alive -= 1
        real_release(self, size)

    monkeypatch.setattr(ahead, "prepare_source", prepare)
    monkeypatch.setattr(ByteBudget, "release", release)
    names = [f"big{i}.png" for i in range(4)]
    for i, name in enumerate(names):
        _noise_png(tmp_path / name, 700 + i, 700)  # ~1.5 MB each: one fits in 1 MB, alone
    fake.inject(*(Fault(delay=0.2) for _ in names))
    r = kv("describe", "-j", "4", "--max-memory", "1", "--format", "jsonl", *names)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(line)["input"] for line in r.stdout.splitlines()) == names
    assert peak == 1


def test_growth_after_reading_waits_for_room_unless_alone() -> None:
    """A file admitted at its size that holds more once prepared (a HEIC converted to PNG)
    waits for the difference to fit, unless nothing else is held."""
    budget = ByteBudget(100)
    budget.acquire(30)  # a file admitted at its size on disk, alone
    budget.adjust(30, 150)  # alone: it goes, over the budget
    assert budget.held == 150
    budget.release(150)
    budget.acquire(10)  # the next file, admitted at its size
    grown = threading.Event()

    def grow() -> None:
        budget.adjust(10, 95)  # 10 held by itself + 85 more, while 20 others are held
        grown.set()

    budget.acquire(20)  # another input's bytes
    t = threading.Thread(target=grow)
    t.start()
    t.join(0.05)
    assert not grown.is_set()  # 30 + 85 > 100: waits
    budget.release(20)
    t.join(5)
    assert grown.is_set() and budget.held == 95
