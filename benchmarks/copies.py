"""Where an inline video request holds copies of its media (issue 12, item 3).

    .venv/bin/python benchmarks/copies.py               # a 62 MiB MP4 made for the run
    .venv/bin/python benchmarks/copies.py VIDEO.mp4

Runs `describe --upload never VIDEO` in a child process under tracemalloc, against the
loopback server, and prints every block of 1 MiB or more still alive when the request
goes to the HTTP client (httpx2.Client.send), with the line that allocated it; then the
traced memory before and after base64.b64encode and json.dumps of the body, at the send
and at the end of the run (what dies in between, e.g. json.dumps's intermediates or the
chunks of a streamed body, shows only in those peaks), and the child's peak RSS.
tracemalloc slows the child; it is not a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import perf  # noqa: E402

import tests.fake_answers as fake_answers  # noqa: E402
import tests.fake_moonshot as fake_moonshot  # noqa: E402

CHILD = """
import atexit, base64, json, sys, tracemalloc
tracemalloc.start(20)
import httpx2

ROOT = sys.argv[1]
MiB = 2**20
stages = []
report = {}

def where(tb):
    frames = list(tb)  # most recent call last
    ours = [f for f in frames if "kimi_vision_cli" in f.filename]
    inner = frames[-1]
    at = lambda f: f"{f.filename.replace(ROOT + '/', '')}:{f.lineno}"
    return at(inner) + (f" (from {at(ours[-1])})" if ours and ours[-1] is not inner else "")

def stage(name):
    current, peak = tracemalloc.get_traced_memory()
    stages.append([name, current, peak])
    tracemalloc.reset_peak()

def spying(fn, name, size):
    def spy(*args, **kw):
        stage(f"before {name}") if size(args) else None
        out = fn(*args, **kw)
        stage(f"after {name}") if size(args) else None
        return out
    return spy

def at_send(self, request, **kw):
    if request.url.path.endswith("/chat/completions"):
        stage("request handed to httpx2")
        snap = tracemalloc.take_snapshot()
        big = [s for s in snap.statistics("traceback") if s.size >= MiB]
        report.update(blocks=[[s.size, s.count, where(s.traceback)] for s in big],
                      body=int(request.headers.get("content-length") or 0))
        tracemalloc.reset_peak()
    return send(self, request, **kw)

def at_exit():
    stage("end of the run (body sent)")
    print(json.dumps(dict(report, stages=stages)), file=sys.stderr)

atexit.register(at_exit)

send = httpx2.Client.send
httpx2.Client.send = at_send
base64.b64encode = spying(base64.b64encode, "base64.b64encode", lambda a: len(a[0]) >= MiB)
json.dumps = spying(json.dumps, "json.dumps", lambda a: isinstance(a[0], dict) and "messages" in a[0])
sys.argv = ["kimi-vision", *sys.argv[2:]]
from kimi_vision_cli.__main__ import main
main()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "video", nargs="?", type=Path, help="a video to send inline [a 62 MiB MP4 made for the run]"
    )
    args = ap.parse_args()
    fake_answers.describe_media = perf.header_caption  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="kv-copies-") as tmp, fake_moonshot.FakeMoonshot() as fake:
        fake.state.record_bodies = False
        video = args.video.resolve() if args.video else perf.make_video(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_", "OPENAI_"))}
        env.update(
            MOONSHOT_API_KEY=fake.api_key, MOONSHOT_BASE_URL=fake.base_url, NO_COLOR="1",
            XDG_CONFIG_HOME=str(Path(tmp) / "config"), XDG_CACHE_HOME=str(Path(tmp) / "cache"),
            PYTHONPATH=str(ROOT),
        )  # fmt: skip
        argv = ["describe", "--upload", "never", "--format", "jsonl", str(video)]
        r = perf.run([sys.executable, "-c", CHILD, str(ROOT), *argv], env, Path(tmp))
        size = video.stat().st_size
    report = json.loads(next(line for line in r.stderr.splitlines() if line.startswith('{"blocks"')))
    mib = 2**20
    print(f"video {size / mib:.1f} MiB, body {report['body'] / mib:.1f} MiB")
    print("alive when the request is handed to httpx2 (blocks >= 1 MiB):")
    for size, count, where in sorted(report["blocks"], key=lambda b: -b[0]):
        print(f"  {size / mib:7.1f} MiB  {count:>3} block(s)  {where}")
    print("traced memory at each stage (peak: the highest since the stage before):")
    for name, current, peak in report["stages"]:
        print(f"  {name:<28} now {current / mib:6.1f} MiB  peak {peak / mib:6.1f} MiB")
    print(f"child peak RSS {r.peak_mb:.0f} MiB (under tracemalloc)")


if __name__ == "__main__":
    main()
