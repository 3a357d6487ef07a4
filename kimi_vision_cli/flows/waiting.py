"""`batch results ID... --wait`: poll batches until each ends, with a growing delay.

Moonshot's batch docs have the client poll `GET /v1/batches/{id}`; a batch's answers
arrive within its completion window (12h..7d), so the delay grows from seconds to a
minute rather than hammering the API. Each batch is handed back as soon as it ends, so
its results are written while the others still run. Ctrl-C (KeyboardInterrupt) comes
out of `sleep` to the caller: the batches keep running on Moonshot's side. The delays
and the sleep are the Context's Host's (runner/host.py): a test gives its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kimi_vision_cli.errors import KimiVisionError, stops_run
from kimi_vision_cli.flows.batch import DONE_STATES, FAILED_STATES
from kimi_vision_cli.runner.host import Backoff

if TYPE_CHECKING:
    from kimi_vision_cli.runner.context import Context

# The states after which a batch changes no more (Moonshot's batch object `status`).
ENDED = frozenset(DONE_STATES | FAILED_STATES)


def wait_batches(
    batch_ids: Iterable[str],
    retrieve: Callable[[str], dict[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    backoff: Backoff = Backoff(),
    on_poll: Callable[[str, dict[str, Any], float | None], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any] | KimiVisionError]]:
    """(id, the ended batch) for each batch, as each ends; (id, error) for an id that
    cannot be polled (unknown: it is dropped, the others go on). An error that stops a
    run (auth, quota) is raised. `on_poll(id, batch, next delay or None)` after each look."""
    pending = list(dict.fromkeys(batch_ids))
    delays = backoff.delays()
    while pending:
        delay = next(delays)
        for batch_id in list(pending):
            try:
                batch = retrieve(batch_id)
            except KimiVisionError as err:
                if stops_run(err):
                    raise
                pending.remove(batch_id)
                yield batch_id, err
                continue
            ended = batch.get("status") in ENDED
            if on_poll is not None:
                on_poll(batch_id, batch, None if ended else delay)
            if ended:
                pending.remove(batch_id)
                yield batch_id, batch
        if pending:
            sleep(delay)


def finished(
    batch_ids: list[str], ctx: Context, *, wait: bool
) -> Iterator[tuple[str, dict[str, Any] | KimiVisionError]]:
    """Each batch to fetch, with its batch object or why it cannot be had. Without
    `wait`, every id at once (a running batch is then exit 75 in batch_results.results); with it,
    each batch as it ends, a note on stderr when one's state or count changes."""
    from kimi_vision_cli.flows import batch as batch_api

    if not wait:
        for batch_id in dict.fromkeys(batch_ids):
            try:
                yield batch_id, batch_api.status(batch_id, ctx)
            except KimiVisionError as err:
                if stops_run(err):
                    raise
                yield batch_id, err
        return
    seen: dict[str, tuple[Any, Any]] = {}

    def note(batch_id: str, batch: dict[str, Any], delay: float | None) -> None:
        counts = batch.get("request_counts") or {}
        now = (batch.get("status"), counts.get("completed"))
        if seen.get(batch_id) != now and delay is not None:
            done = f", {counts.get('completed', 0)}/{counts.get('total', '?')} done" if counts else ""
            ctx.diag.note(f"batch {batch_id}: {now[0]}{done}; waiting (next look in {delay:.0f}s)")
        seen[batch_id] = now

    host = ctx.host
    yield from wait_batches(
        batch_ids, lambda i: batch_api.status(i, ctx), sleep=host.sleep, backoff=host.poll, on_poll=note
    )
