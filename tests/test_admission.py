"""Issue 12: -j bounds the requests in flight; preparation has its own pool sized to the
cores (and at most -j), and the media held by the requests in flight stays within
--max-memory (flows/admission.py). Instrumented, no timing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kimi_vision_cli.flows import admission, describe
from kimi_vision_cli.flows.admission import Admission, ByteBudget
from tests.media import write_image

# The instruments are monkeypatched into this process: not through the installed command.
in_process = pytest.mark.skipif(
    bool(os.environ.get("KIMI_VISION_TEST_PROCESS")), reason="instrumented in-process"
)


def _noise_png(path: Path, w: int, h: int) -> None:
    """A PNG that stays large once prepared (noise does not compress)."""
    Image.frombytes("RGB", (w, h), os.urandom(w * h * 3)).save(path, format="PNG")


def test_the_preparation_pool_is_the_cores_and_at_most_j(monkeypatch) -> None:
    monkeypatch.setattr(admission, "cores", lambda: 2)
    assert Admission(8, 512).preparers == 2
    assert Admission(1, 512).preparers == 1
    monkeypatch.setattr(admission, "cores", lambda: 16)
    assert Admission(4, 512).preparers == 4


@in_process
def test_j8_on_two_cores_prepares_at_most_two_at_once(kv, fake, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(admission, "cores", lambda: 2)
    lock = threading.Lock()
    inside, peak, seen = 0, 0, []
    real = describe.prepare_source

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

    monkeypatch.setattr(describe, "prepare_source", counted)
    names = [f"img{i:02d}.png" for i in range(16)]
    for i, name in enumerate(names):
        write_image(tmp_path / name, 8 + i, 6)
    r = kv("describe", "-j", "8", "--format", "jsonl", *names)
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

    def acquire(self: ByteBudget, size: int) -> None:
        nonlocal held_peak
        real(self, size)
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
