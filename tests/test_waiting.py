"""flows/waiting.py: `batch results --wait` polls with a growing delay (no real sleeps)."""

from __future__ import annotations

from typing import Any

import pytest

from kimi_vision_cli.errors import AuthError, BatchMissingError
from kimi_vision_cli.flows.waiting import wait_batches
from kimi_vision_cli.runner.host import Backoff


def scripted(states: dict[str, list[str]]) -> Any:
    def retrieve(batch_id: str) -> dict[str, Any]:
        if batch_id not in states:
            raise BatchMissingError("no such batch", input=batch_id)
        seq = states[batch_id]
        return {"id": batch_id, "status": seq.pop(0) if len(seq) > 1 else seq[0]}

    return retrieve


def test_each_batch_comes_back_as_it_ends_with_growing_delays() -> None:
    slept: list[float] = []
    polls: list[tuple[str, str, float | None]] = []
    retrieve = scripted({
        "b1": ["validating", "in_progress", "in_progress", "completed"],
        "b2": ["in_progress", "failed"],
    })  # fmt: skip
    out = list(wait_batches(
        ["b1", "b2", "b1"], retrieve, sleep=slept.append, backoff=Backoff(first=2, factor=2, cap=5),
        on_poll=lambda i, b, d: polls.append((i, b["status"], d)),
    ))  # fmt: skip
    assert [(i, b["status"]) for i, b in out] == [("b2", "failed"), ("b1", "completed")]  # type: ignore[index]
    assert slept == [2, 4, 5]
    assert polls[-1] == ("b1", "completed", None)
    assert ("b1", "in_progress", 4) in polls


def test_an_unknown_id_is_handed_back_and_the_rest_go_on() -> None:
    out = list(wait_batches(["nope", "b1"], scripted({"b1": ["completed"]}), sleep=lambda s: None))
    assert out[0][0] == "nope" and isinstance(out[0][1], BatchMissingError)
    assert out[1] == ("b1", {"id": "b1", "status": "completed"})


def test_auth_errors_stop_the_wait() -> None:
    def retrieve(batch_id: str) -> dict[str, Any]:
        raise AuthError("Invalid Authentication")

    with pytest.raises(AuthError):
        list(wait_batches(["b1"], retrieve, sleep=lambda s: None))


def test_ctrl_c_in_the_sleep_reaches_the_caller() -> None:
    def sleep(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(wait_batches(["b1"], scripted({"b1": ["in_progress"]}), sleep=sleep))
