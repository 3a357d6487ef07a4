"""Where the time of a batch goes (issue 24, item 5): one run at a high -j against the
loopback server, with each chat request's times taken on the server's side.

    .venv/bin/python benchmarks/timeline.py                          # 2,560 inputs, -j 256, 2 s
    .venv/bin/python benchmarks/timeline.py --size 10000
    .venv/bin/python benchmarks/timeline.py --source /tmp/old-tree   # another checkout

batch.py says how far a run is from the ideal (N x latency / J); this says why. For each
chat request the server notes when its connection was accepted, when its body was read,
when its latency ended and when its answer was written, and the child's resident memory
is read every second. It prints:

- start-up: from launching the child to the first request accepted;
- per request, what the server took beyond the latency (accept to last byte);
- the refill gap: from a request's last byte to the next connection accepted;
- the steady rate (the middle of the run, 5 s in from either end) and the cycle it
  implies (J / rate: the ideal is the latency);
- the quarter seconds in which fewer than J - 8 requests were in flight (ramp-up, the
  waves after it, the tail);
- the child's resident memory over the run.

The server runs in this process, sharing the cores with the child, as in batch.py. The
times are taken by wrapping the server's handler (its private methods): a benchmark's
probe, not an interface of tests/fake_moonshot.py.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.batch import make_inputs  # noqa: E402
from tests import fake_moonshot  # noqa: E402

STAMPS: list[dict[str, float]] = []
_ACCEPTED: dict[int, float] = {}
_LOCK = threading.Lock()


def _wrap(cls: type, name: str, before: Callable[[Any, tuple[Any, ...]], None]) -> None:
    real = getattr(cls, name)

    def wrapped(self: Any, *args: Any) -> Any:
        before(self, args)
        return real(self, *args)

    setattr(cls, name, wrapped)


def instrument() -> None:
    """Stamp each connection's accept and each chat request's stages on the server."""
    handler, server = fake_moonshot._Handler, fake_moonshot._Server

    def accepted(srv: Any, args: tuple[Any, ...]) -> None:
        _ACCEPTED[args[0].fileno()] = time.monotonic()

    def setup(h: Any, args: tuple[Any, ...]) -> None:
        h._stamps = {"accept": _ACCEPTED.pop(h.request.fileno(), time.monotonic())}

    def stage(key: str) -> Callable[[Any, tuple[Any, ...]], None]:
        return lambda h, args: h._stamps.__setitem__(key, time.monotonic())

    _wrap(server, "process_request", accepted)
    _wrap(handler, "setup", setup)
    _wrap(handler, "_chat", stage("chat"))
    _wrap(handler, "_answer", stage("answer"))
    real_finish = handler.finish

    def finish(h: Any) -> None:
        real_finish(h)
        stamps = getattr(h, "_stamps", {})
        if "answer" in stamps:
            stamps["end"] = time.monotonic()
            with _LOCK:
                STAMPS.append(stamps)

    handler.finish = finish  # type: ignore[method-assign]


def percentiles(values: list[float]) -> str:
    xs = sorted(values)
    if not xs:
        return "none"
    picks = " ".join(f"p{p}={1000 * xs[min(len(xs) - 1, len(xs) * p // 100)]:.1f}" for p in (10, 50, 90, 99))
    return f"{picks} mean={1000 * statistics.mean(xs):.1f} ms"


def run(
    source: Path | None, n: int, jobs: int, latency: float, tmp: Path
) -> tuple[float, float, Any, list[tuple[float, float]]]:
    """One child run: (when it was launched, its wall time, its rusage, its RSS in MB
    each second)."""
    with fake_moonshot.FakeMoonshot() as fake:
        fake.state.record_bodies = False
        fake.state.latency = latency
        listing = make_inputs(tmp, n)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
        env.update(
            MOONSHOT_API_KEY=fake.api_key,
            MOONSHOT_BASE_URL=fake.base_url,
            XDG_CONFIG_HOME=str(tmp / "xdg"),
            NO_COLOR="1",
            PYTHONPATH=str(source or ROOT),
        )
        args = [sys.executable, "-m", "kimi_vision_cli", "describe", "--files-from", str(listing)]
        args += ["-j", str(jobs), "--format", "jsonl"]
        start = time.monotonic()
        child = subprocess.Popen(args, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rss: list[tuple[float, float]] = []
        threading.Thread(target=_sample, args=(child.pid, start, rss), daemon=True).start()
        assert child.stderr is not None
        err = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - start
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"run failed: {err.decode(errors='replace')[-2000:]}")
    return start, wall, usage, rss


def _sample(pid: int, start: float, out: list[tuple[float, float]]) -> None:
    while True:
        try:
            with open(f"/proc/{pid}/status") as fh:
                kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            return
        out.append((time.monotonic() - start, kb / 1024))
        time.sleep(1.0)


def report(
    start: float, wall: float, usage: Any, rss: list[tuple[float, float]], n: int, jobs: int, latency: float
) -> None:
    ideal = n * latency / jobs
    print(
        f"{n:,} inputs  -j {jobs}  latency {latency:g}s  wall {wall:.2f}s  ideal {ideal:.2f}s  "
        f"{100 * ideal / wall:.1f}% of ideal  CPU {usage.ru_utime + usage.ru_stime:.2f}s  "
        f"peak RSS {usage.ru_maxrss / 1024:.1f} MB"
    )
    s = sorted(STAMPS, key=lambda d: d["accept"])
    ends = sorted(d["end"] for d in s)
    accepts = [d["accept"] for d in s]
    print(
        f"start-up: first request accepted {accepts[0] - start:.2f}s after launch; exit {start + wall - ends[-1]:.2f}s after the last"
    )
    print(
        "server beyond the latency, accept to last byte:",
        percentiles([d["end"] - d["accept"] - latency for d in s]),
    )
    print("  of which before the body was read:          ", percentiles([d["chat"] - d["accept"] for d in s]))
    print("  of which writing the answer:                ", percentiles([d["end"] - d["answer"] for d in s]))
    gaps = [
        accepts[i] - e
        for e in ends[: len(ends) - jobs]
        if (i := bisect.bisect_left(accepts, e)) < len(accepts)
    ]
    print("refill gap, last byte to next accept:         ", percentiles(gaps))
    middle = [a for a in accepts if accepts[0] + 5 < a < ends[-1] - 5]
    if len(middle) > 1:
        rate = len(middle) / (middle[-1] - middle[0])
        print(
            f"steady: {rate:.1f} requests/s (ideal {jobs / latency:.1f}): a cycle of {jobs / rate:.3f}s per slot"
        )
    changes = sorted([(a - start, 1) for a in accepts] + [(e - start, -1) for e in ends])
    quarters: dict[int, list[int]] = defaultdict(list)
    now = 0
    for t, step in changes:
        now += step
        quarters[int(t * 4)].append(now)
    low = [f"{k / 4:.2f}s:{min(v)}-{max(v)}" for k, v in sorted(quarters.items()) if min(v) < jobs - 8]
    print("in flight, quarter seconds below J - 8:", " ".join(low) or "none")
    step = max(1, len(rss) // 20)
    print("RSS (s:MB):", " ".join(f"{t:.0f}:{mb:.1f}" for t, mb in rss[::step]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2560)
    ap.add_argument("--latency", type=float, default=2.0, help="seconds per chat request [2]")
    ap.add_argument("-j", "--jobs", type=int, default=256)
    ap.add_argument("--source", type=Path, help="run this checkout's kimi_vision_cli [this one]")
    args = ap.parse_args()
    instrument()
    with tempfile.TemporaryDirectory(prefix="kv-timeline-") as tmp:
        source = args.source.resolve() if args.source else None
        start, wall, usage, rss = run(source, args.size, args.jobs, args.latency, Path(tmp))
    report(start, wall, usage, rss, args.size, args.jobs, args.latency)


if __name__ == "__main__":
    main()
