"""Batch benchmark (issue 5): N images against the loopback server with a set latency.

    .venv/bin/python benchmarks/batch.py                 # 100 and 10,000 inputs, -j 8
    .venv/bin/python benchmarks/batch.py --sizes 100 --latency 0.2 -j 4
    .venv/bin/python benchmarks/batch.py --sizes 1000 --latency 2 -j 256 --cpu
    .venv/bin/python benchmarks/batch.py --cpu --source /tmp/old-tree ...   # A/B another tree

For each size it runs the INSTALLED `kimi-vision describe --files-from LIST -j J
--format jsonl` as a child process and reports the wall time against the ideal
(N x latency / J), and the child's peak resident memory (ru_maxrss from wait4, so
each run is measured on its own). Targets: >= 80% of ideal at -j 8, and peak memory
for 10,000 inputs within 1.5x of that for 100 (issue 24's scale row: 90% at -j 256 with
2 s latency, and 1.2x).

`--cpu` adds the child's user + system CPU seconds (from the same wait4) per request,
less the CPU of the fixed-cost run (start-up): a figure the load of other processes
does not distort as it does wall time. `--source DIR` runs `python -m kimi_vision_cli`
from another checkout (e.g. `git worktree add /tmp/old main`) instead of the installed
command, to compare two trees on the same machine in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.launch import launch  # noqa: E402
from tests.fake_moonshot import FakeMoonshot  # noqa: E402
from tests.media import image_bytes  # noqa: E402

SOURCE: Path | None = None  # --source: the checkout to run instead of the installed command


def command() -> list[str]:
    if SOURCE is not None:
        return [sys.executable, "-m", "kimi_vision_cli"]
    exe = Path(sys.executable).parent / "kimi-vision"
    return [str(exe)] if exe.exists() else ["kimi-vision"]


def make_inputs(root: Path, n: int) -> Path:
    """n distinct small PNG files (a few hundred bytes each) and a --files-from list."""
    data = image_bytes(32, 24, "PNG")
    listing = root / f"list-{n}.txt"
    with listing.open("w") as fh:
        for i in range(n):
            sub = root / f"set{n}" / f"d{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True, exist_ok=True)
            path = sub / f"img{i:05d}.png"
            path.write_bytes(data)
            fh.write(f"{path}\n")
    return listing


def run_once(fake: FakeMoonshot, listing: Path, n: int, jobs: int, latency: float) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
    env.update(
        MOONSHOT_API_KEY=fake.api_key,
        MOONSHOT_BASE_URL=fake.base_url,
        XDG_CONFIG_HOME=str(listing.parent / "xdg"),
        NO_COLOR="1",
    )
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    before = len(fake.chat_requests)
    fake.state.latency = latency
    fake.state.max_in_flight = 0
    args = [*command(), "describe", "--files-from", str(listing), "-j", str(jobs), "--format", "jsonl"]
    got = launch(args, env, listing.parent)  # its own peak RSS: see benchmarks/launch.py
    lines = len(got["out"].splitlines())
    wall = got["wall"]
    if got["exit"] != 0 or lines != n:
        sys.exit(f"run failed: exit {got['exit']}, {lines}/{n} lines\n{got['err'][-2000:]}")
    ideal = n * latency / jobs
    return {
        "n": n,
        "wall": wall,
        "ideal": ideal,
        "efficiency": ideal / wall if wall else 0.0,
        "peak_mb": got["kb"] / 1024,  # Linux: kilobytes
        "cpu": got["cpu"],
        "requests": len(fake.chat_requests) - before,
        "max_in_flight": fake.state.max_in_flight,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per chat request [0.1]")
    ap.add_argument("-j", "--jobs", type=int, default=8)
    ap.add_argument("--cpu", action="store_true", help="also print CPU seconds per request")
    ap.add_argument("--source", type=Path, help="run this checkout's kimi_vision_cli instead")
    args = ap.parse_args()
    global SOURCE
    SOURCE = args.source.resolve() if args.source else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="kv-bench-") as tmp, FakeMoonshot() as fake:
        fake.state.record_bodies = False  # 10,000 request bodies would measure the server, not us
        # The fixed cost of a run (interpreter, imports, one request with no latency) is
        # paid once whatever N is; shown apart so small N is not judged on start-up time.
        one = run_once(fake, make_inputs(Path(tmp), 1), 1, args.jobs, 0.0)
        fixed = one["wall"]
        print(
            f"fixed cost of one run (start-up + 1 request, no latency): {fixed:.2f}s"
            + (f", {one['cpu']:.2f}s CPU" if args.cpu else ""),
            flush=True,
        )
        for n in args.sizes:
            listing = make_inputs(Path(tmp), n)
            r = run_once(fake, listing, n, args.jobs, args.latency)
            rows.append(r)
            steady = r["ideal"] / max(r["wall"] - fixed, 1e-9)
            print(
                f"{r['n']:>7,} inputs  -j {args.jobs}  latency {args.latency:g}s  "
                f"wall {r['wall']:7.2f}s  ideal {r['ideal']:7.2f}s  "
                f"{100 * r['efficiency']:5.1f}% of ideal ({100 * steady:5.1f}% without the fixed cost)  "
                f"peak RSS {r['peak_mb']:6.1f} MB  max in flight {r['max_in_flight']}",
                flush=True,
            )
            if args.cpu:  # the start-up's CPU is paid once: per request is what N adds
                per = (r["cpu"] - one["cpu"]) / max(r["n"] - 1, 1)
                print(
                    f"{'':>16}CPU {r['cpu']:7.2f}s  {1000 * per:6.2f} ms per request beyond start-up",
                    flush=True,
                )
    if len(rows) >= 2:
        ratio = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
        print(f"peak memory {rows[-1]['n']:,} vs {rows[0]['n']:,} inputs: {ratio:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
