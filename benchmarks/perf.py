"""Performance benchmark (issue 12): the figures of its table, ours side by side with a
reference in the same run, against the loopback server, with the machine it ran on.

    .venv/bin/python benchmarks/perf.py                        # every row, 3 rounds
    .venv/bin/python benchmarks/perf.py --rows prepare prune --rounds 5
    .venv/bin/python benchmarks/perf.py --llm /tmp/llm/bin/llm     # compare with `llm`
    .venv/bin/python benchmarks/perf.py --baseline /tmp/old        # and another checkout

Rows (what is timed; the reference it is set against; the goal from issue 12):
  jpeg8    `describe` of 8 distinct 7680x4320 JPEGs at -j 8, zero server latency, whole
           process; vs a naive sequential Pillow resize of the same files (full decode,
           LANCZOS to 3840x2160, save at quality 90), whole process too. Goal <= 0.3x.
  rss      peak RSS of that describe run (ru_maxrss from wait4). Goal <= 450 MB.
  prepare  one 8K JPEG through prepare_image in a fresh process, best of 5; vs the naive
           resize in the same process. Goal <= 0.2 s.
  prune    `files prune --all --yes` of 1,000 files on an instant server. Goal <= 5 s.
  prune20  the same with 20 ms per DELETE, a short network round trip (no goal in the
           issue: it shows what deleting a few at a time buys).
  small    `describe small.png`, whole process; vs `llm -m kimi -a small.png` (--llm) or,
           without llm, a naive client: a script that imports openai, base64-encodes the
           file and streams one chat completion. Goal <= 0.7x.
  big      `describe big8k.jpg`, whole process; vs the same reference, which sends the
           2.3 MB original untouched. Goal <= 0.8x.
  many     `describe -j 8 --format jsonl` of 64 distinct small PNGs, the server taking
           0.5 s per chat request, whole process; figure = the ideal (64 x 0.5 / 8 = 4.0 s)
           / wall. Goal >= 0.8. Shown too without the fixed cost of a run (start-up and
           one request with no latency, measured in the same round), as batch.py does.
  video    peak RSS of `describe --upload never` of one 62 MiB 1920x1080 MP4 (made once
           per run: lossless H.264 of noise, so it is sent inline as it is; an 83 MiB
           body, under Moonshot's 100 MB), over the body size the server received.
           Goal <= 2.0x the body. benchmarks/copies.py shows where that memory goes.
  segments peak RSS of `describe --segment 2s -j 2 --format jsonl` of a 1280x720 30 fps
           clip with one keyframe, so every 2 s part is decoded and re-encoded (issue 23),
           at two lengths (SEGMENT_SECONDS): the peak must not grow with the clip. Goal
           <= 300 MB (issue 23 asks it of a 10-minute clip).

Each figure is the median of --rounds runs, ours and the reference alternating, so that
a noisy machine slows both. Every child is `python -m kimi_vision_cli` with PYTHONPATH
set to the checkout measured (this one, or --baseline DIR for a "before" column).
The loopback server captions an image from its header only here, and a video from its
size: decoding 8K images or probing a 62 MiB video to caption them would measure the
server, which shares the cores with the tool.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.fake_answers as fake_answers  # noqa: E402
import tests.fake_moonshot as fake_moonshot  # noqa: E402
from benchmarks.launch import launch  # noqa: E402
from tests.fake_files import create  # noqa: E402

ROWS = ("jpeg8", "rss", "prepare", "prune", "prune20", "small", "big", "many", "video", "segments")
SEGMENT_SECONDS = (20, 60)  # the segments row: two clip lengths, same peak expected
PRUNE_LATENCY = 0.02  # seconds the server takes per DELETE in the prune20 row
MANY, MANY_LATENCY, MANY_JOBS = 64, 0.5, 8  # the many row: inputs, seconds per chat, -j
VIDEO_BYTES = 62 * 2**20  # the video row: an 83 MiB body once base64-encoded, as in issue 12
VIDEO_SIZE = (1920, 1080)  # within Moonshot's recommended 2048x1080: sent as it is
PROMPT = "Describe the content of the image."
BIG = (7680, 4320)
SENT = (3840, 2160)  # BIG inside the default --max-size 4096x2160

NAIVE_RESIZE = """
import sys
from PIL import Image
for src in sys.argv[1:]:
    with Image.open(src) as img:
        img.load()
        img.resize((3840, 2160), Image.Resampling.LANCZOS).save(src + ".naive.jpg", quality=90)
"""

NAIVE_CLIENT = """
import base64, mimetypes, sys
import openai
path = sys.argv[1]
url = f"data:{mimetypes.guess_type(path)[0]};base64," + base64.b64encode(open(path, "rb").read()).decode()
parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": sys.argv[2]}]
stream = openai.OpenAI().chat.completions.create(
    model="kimi-k2.6", stream=True, messages=[{"role": "user", "content": parts}]
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        sys.stdout.write(chunk.choices[0].delta.content)
print()
"""

# Run in a fresh process with PYTHONPATH at the checkout measured: prints JSON seconds.
PREPARE = """
import io, json, sys, time
from PIL import Image
from kimi_vision_cli.media.image import ImageOptions, prepare_image
data = open(sys.argv[1], "rb").read()
def best(fn, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)
def naive():
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        img.resize((3840, 2160), Image.Resampling.LANCZOS).save(io.BytesIO(), format="JPEG", quality=90)
def ours():
    out = prepare_image(data, "image/jpeg", ImageOptions())
    assert (out.width, out.height) == (3840, 2160), (out.width, out.height)
print(json.dumps({"ours": best(ours), "naive": best(naive)}))
"""


@dataclass
class Run:
    wall: float
    peak_mb: float
    stdout: bytes
    stderr: str


@dataclass
class Bench:
    tmp: Path
    fake: Any
    rounds: int
    llm: str | None
    trees: dict[str, Path]
    env: dict[str, str] = field(default_factory=dict)


def run(
    args: list[str], env: dict[str, str], cwd: Path, *, check: Callable[[Run], bool] | None = None
) -> Run:
    """One child process: wall time and its own peak RSS (ru_maxrss from wait4, in the
    launcher: see benchmarks/launch.py)."""
    got = launch(args, env, cwd)
    r = Run(got["wall"], got["kb"] / 1024, got["out"].encode("latin-1"), got["err"])
    if got["exit"] != 0 or (check is not None and not check(r)):
        sys.exit(f"{' '.join(args[:6])}... failed (exit {got['exit']}):\n{r.stderr[-2000:]}")
    return r


def ours(b: Bench, tree: Path, *args: str, check: Callable[[Run], bool] | None = None) -> Run:
    env = dict(b.env, PYTHONPATH=str(tree))
    return run([sys.executable, "-m", "kimi_vision_cli", *args], env, b.tmp, check=check)


def median_of(b: Bench, fns: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each function run --rounds times, in turn within a round; the median of each."""
    seen: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(b.rounds):
        for name, fn in fns.items():
            seen[name].append(fn())
    return {k: statistics.median(v) for k, v in seen.items()}


# -- media ------------------------------------------------------------------------------


def photo(w: int, h: int, seed: int) -> Any:
    """Soft gradients, shapes and grain, built small and scaled up: compresses like a
    photo (2.3 MB at 8K and quality 90, as the photo of issue 12) and takes a couple of
    seconds to make."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    small = Image.linear_gradient("L").resize((w // 8, h // 8)).convert("RGB")
    draw = ImageDraw.Draw(small)
    for _ in range(80):
        x, y, s = rng.randrange(small.width), rng.randrange(small.height), rng.randrange(8, small.width // 6)
        draw.ellipse(
            [x, y, x + s, y + s * 2 // 3], fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256))
        )
    img = small.filter(ImageFilter.GaussianBlur(1.5)).resize((w, h), Image.Resampling.BICUBIC)
    return Image.blend(img, Image.effect_noise((w, h), 40).convert("RGB"), 0.03)


def make_media(tmp: Path) -> dict[str, Any]:
    from PIL import Image, ImageDraw

    base = photo(*BIG, seed=12)
    bigs = []
    for i in range(8):  # distinct bytes: a different patch in each
        img = base.copy()
        ImageDraw.Draw(img).rectangle([i * 400, 100, i * 400 + 300, 400], fill=(i * 30, 200, 255 - i * 30))
        path = tmp / f"big{i}.jpg"
        img.save(path, quality=90)
        bigs.append(path)
    small = tmp / "small.png"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(small)
    return {"bigs": bigs, "small": small}


def make_smalls(tmp: Path) -> list[Path]:
    """MANY distinct small PNGs (32x24, a colour each)."""
    from PIL import Image

    folder = tmp / "many"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(MANY):
        path = folder / f"img{i:03d}.png"
        Image.new("RGB", (32, 24), (i * 4, 255 - i * 4, (i * 37) % 256)).save(path)
        paths.append(path)
    return paths


def make_video(tmp: Path) -> Path:
    """A VIDEO_BYTES MP4 at VIDEO_SIZE: lossless H.264 of noise frames, about 3.7 MiB a
    frame, so a second of it is enough (about a second to make). zerolatency: each frame
    comes out of the encoder as it goes in, so the size is known while writing."""
    import av
    from PIL import Image

    path = tmp / "video.mp4"
    w, h = VIDEO_SIZE
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "0", "tune": "zerolatency"}
        written, rng = 0, random.Random(62)
        while written < VIDEO_BYTES:
            frame = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                written += packet.size
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def header_caption(data: bytes, mime: str) -> str:
    from PIL import Image

    if mime.startswith("video/"):  # probing 62 MiB with PyAV would cost the server a core
        return f"a {mime} video of {len(data)} bytes"
    try:
        with Image.open(io.BytesIO(data)) as img:
            return f"a {img.size[0]}x{img.size[1]} {mime} image"
    except Exception:
        return f"a {mime} of {len(data)} bytes"


# -- rows --------------------------------------------------------------------------------


def row_jpeg8(b: Bench, media: dict[str, Any]) -> dict[str, Any]:
    files = [str(p) for p in media["bigs"]]
    peaks: dict[str, float] = {}

    def describe(name: str, tree: Path) -> Callable[[], float]:
        def go() -> float:
            r = ours(b, tree, "describe", "-j", "8", "--format", "jsonl", *files,
                     check=lambda r: len(r.stdout.splitlines()) == 8)  # fmt: skip
            peaks[name] = max(peaks.get(name, 0.0), r.peak_mb)
            return r.wall

        return go

    fns = {name: describe(name, tree) for name, tree in b.trees.items()}
    fns["reference"] = lambda: run([sys.executable, "-c", NAIVE_RESIZE, *files], b.env, b.tmp).wall
    return {"times": median_of(b, fns), "peaks": peaks}


def row_prepare(b: Bench, media: dict[str, Any]) -> dict[str, float]:
    got: dict[str, list[float]] = {k: [] for k in [*b.trees, "reference"]}
    for _ in range(b.rounds):
        for name, tree in b.trees.items():
            env = dict(b.env, PYTHONPATH=str(tree))
            r = run([sys.executable, "-c", PREPARE, str(media["bigs"][0])], env, b.tmp)
            doc = json.loads(r.stdout)
            got[name].append(doc["ours"])
            got["reference"].append(doc["naive"])
    return {k: statistics.median(v) for k, v in got.items()}


def row_prune(b: Bench, latency: float = 0.0, n: int = 1000) -> dict[str, float]:
    def prune(tree: Path) -> Callable[[], float]:
        def go() -> float:
            for _ in range(n):
                create(b.fake.state, {"purpose": "image", "file": b"GIF89a" + bytes(20), "filename": "a.gif"})
            if latency:  # one delay per DELETE (a fault with no status only waits)
                b.fake.inject(*(fake_moonshot.Fault(delay=latency, path="/v1/files/") for _ in range(n)))
            r = ours(
                b, tree, "files", "prune", "--all", "--yes", check=lambda r: len(r.stdout.splitlines()) == n
            )
            assert not b.fake.state.files
            return r.wall

        return go

    return median_of(b, {name: prune(tree) for name, tree in b.trees.items()})


def row_describe_one(b: Bench, path: Path) -> dict[str, float]:
    fns: dict[str, Callable[[], float]] = {
        name: (lambda tree=tree: ours(b, tree, "describe", str(path)).wall)  # type: ignore[misc]
        for name, tree in b.trees.items()
    }
    fns["reference"] = lambda: reference_describe(b, path)
    return median_of(b, fns)


def row_many(b: Bench, smalls: list[Path]) -> dict[str, dict[str, float]]:
    """Wall of MANY inputs at MANY_LATENCY, and the fixed cost of a run (one input, no
    latency) measured in the same round, for each checkout."""
    files = [str(p) for p in smalls]

    def describe(tree: Path, args: list[str], latency: float) -> Callable[[], float]:
        def go() -> float:
            b.fake.state.latency = latency
            try:
                r = ours(b, tree, "describe", "-j", str(MANY_JOBS), "--format", "jsonl", *args,
                         check=lambda r: len(r.stdout.splitlines()) == len(args))  # fmt: skip
            finally:
                b.fake.state.latency = 0.0
            return r.wall

        return go

    fns: dict[str, Callable[[], float]] = {}
    for name, tree in b.trees.items():
        fns[name] = describe(tree, files, MANY_LATENCY)
        fns[f"{name} fixed"] = describe(tree, files[:1], 0.0)
    times = median_of(b, fns)
    return {name: {"wall": times[name], "fixed": times[f"{name} fixed"]} for name in b.trees}


def row_video(b: Bench, video: Path) -> dict[str, dict[str, float]]:
    """Peak RSS of describing the video inline, and the size of the body the server got."""
    bodies: dict[str, int] = {}

    def inline(r: Run) -> bool:
        lines = r.stdout.splitlines()
        return len(lines) == 1 and json.loads(lines[0])["media"][0]["transport"] == "inline"

    def describe(name: str, tree: Path) -> Callable[[], float]:
        def go() -> float:
            r = ours(b, tree, "describe", "--upload", "never", "--format", "jsonl", str(video), check=inline)
            bodies[name] = b.fake.chat_requests[-1].size
            return r.peak_mb

        return go

    peaks = median_of(b, {name: describe(name, tree) for name, tree in b.trees.items()})
    return {name: {"peak": peaks[name], "body": bodies[name] / 2**20} for name in b.trees}


def reference_describe(b: Bench, path: Path) -> float:
    if b.llm:
        env = dict(b.env, LLM_USER_PATH=str(b.tmp / "llm"))
        return run([b.llm, "-m", "kimi", "-a", str(path), PROMPT], env, b.tmp).wall
    env = dict(b.env, OPENAI_API_KEY=b.fake.api_key, OPENAI_BASE_URL=b.fake.base_url)
    return run([sys.executable, "-c", NAIVE_CLIENT, str(path), PROMPT], env, b.tmp).wall


def setup_llm(b: Bench) -> None:
    """An OpenAI-compatible model entry for `llm`, pointing at the loopback server."""
    home = b.tmp / "llm"
    home.mkdir()
    (home / "extra-openai-models.yaml").write_text(
        f'- model_id: kimi\n  model_name: kimi-k2.6\n  api_base: "{b.fake.base_url}"\n'
        "  api_key_name: moonshot\n  vision: true\n"
    )
    (home / "keys.json").write_text(json.dumps({"moonshot": b.fake.api_key}))


# -- the table ----------------------------------------------------------------------------


def ratio_row(
    figure: str, times: dict[str, float], trees: list[str], goal: float, ref_name: str
) -> list[str]:
    ref = times["reference"]
    cells = [f"{times[t]:.2f} s = {times[t] / ref:.2f}x" for t in trees]
    met = "yes" if times[trees[0]] / ref <= goal else "no"
    return [figure, *cells, f"{ref:.2f} s ({ref_name})", f"<= {goal:g}x", met]


def value_row(
    figure: str, values: dict[str, float], trees: list[str], unit: str, goal: float, ref: str
) -> list[str]:
    cells = [f"{values[t]:.{0 if unit == 'MB' else 2}f} {unit}" for t in trees]
    met = "yes" if values[trees[0]] <= goal else "no"
    return [figure, *cells, ref, f"<= {goal:g} {unit}", met]


def measure(b: Bench, rows: list[str], lengths: tuple[int, ...] = SEGMENT_SECONDS) -> list[list[str]]:
    trees = list(b.trees)
    ref_name = "llm" if b.llm else "naive openai client"
    needs_images = {"jpeg8", "rss", "prepare", "small", "big"} & set(rows)
    media = make_media(b.tmp) if needs_images else {}
    out: list[list[str]] = []
    if "jpeg8" in rows or "rss" in rows:
        r = row_jpeg8(b, media)
        if "jpeg8" in rows:
            out.append(ratio_row("8 x 7680x4320 JPEG, -j 8, wall", r["times"], trees, 0.3, "naive Pillow"))
        if "rss" in rows:
            out.append(value_row("peak RSS of that run", r["peaks"], trees, "MB", 450, "-"))
    if "prepare" in rows:
        t = row_prepare(b, media)
        row = value_row("one 8K JPEG prepared", t, trees, "s", 0.2, f"{t['reference']:.2f} s (naive Pillow)")
        row[1:-3] = [f"{c} = {t[k] / t['reference']:.2f}x" for c, k in zip(row[1:-3], trees, strict=True)]
        out.append(row)
    if "prune" in rows:
        out.append(value_row("files prune --all --yes, 1,000 files", row_prune(b), trees, "s", 5, "-"))
    if "prune20" in rows:
        t = row_prune(b, PRUNE_LATENCY)
        cells = [f"{t[k]:.2f} s" for k in trees]
        waits = f"{1000 * PRUNE_LATENCY:g} s of waits one by one"
        out.append(["the same, 20 ms per DELETE", *cells, waits, "none in the issue", "-"])
    if "small" in rows:
        t = row_describe_one(b, media["small"])
        out.append(ratio_row("describe small.png, whole process", t, trees, 0.7, ref_name))
    if "big" in rows:
        t = row_describe_one(b, media["bigs"][0])
        out.append(ratio_row("describe big8k.jpg (2.3 MB), whole process", t, trees, 0.8, ref_name))
    if "many" in rows:
        out.append(many_row(row_many(b, make_smalls(b.tmp)), trees))
    if "video" in rows:
        out.append(video_row(row_video(b, make_video(b.tmp)), trees))
    if "segments" in rows:
        out += row_segments(b, trees, lengths)
    return out


def make_clip(tmp: Path, seconds: int) -> Path:
    """A 1280x720 30 fps H.264 clip with one keyframe (each frame a moving bar: cheap to
    encode), so --segment re-encodes every part."""
    import av
    from PIL import Image, ImageDraw

    path = tmp / f"clip{seconds}.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(seconds * 30 + 1), "sc_threshold": "0"}
        for i in range(seconds * 30):
            img = Image.new("RGB", (1280, 720), (i % 200, 90, 160))
            ImageDraw.Draw(img).rectangle((i * 7 % 1200, 200, i * 7 % 1200 + 80, 520), fill=(250, 250, 250))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def row_segments(b: Bench, trees: list[str], lengths: tuple[int, ...] = SEGMENT_SECONDS) -> list[list[str]]:
    rows = []
    for seconds in lengths:
        clip = make_clip(b.tmp, seconds)

        def parts(r: Run, n: int = seconds // 2) -> bool:
            return len(json.loads(r.stdout.splitlines()[0])["segments"]) == n

        def describe(
            tree: Path, clip: Path = clip, check: Callable[[Run], bool] = parts
        ) -> Callable[[], float]:
            args = ("describe", "--segment", "2s", "-j", "2", "--format", "jsonl", str(clip))
            return lambda: ours(b, tree, *args, check=check).peak_mb

        peaks = median_of(b, {name: describe(tree) for name, tree in b.trees.items()})
        figure = f"peak RSS, --segment 2s -j 2, {seconds} s 720p30 clip re-encoded"
        rows.append(value_row(figure, peaks, trees, "MB", 300, "-"))
    return rows


def many_row(got: dict[str, dict[str, float]], trees: list[str]) -> list[str]:
    ideal = MANY * MANY_LATENCY / MANY_JOBS
    cells = [
        f"{ideal / g['wall']:.2f} ({g['wall']:.2f} s; {ideal / max(g['wall'] - g['fixed'], 1e-9):.2f} "
        f"without the {g['fixed']:.2f} s fixed cost)"
        for g in (got[t] for t in trees)
    ]
    met = "yes" if ideal / got[trees[0]]["wall"] >= 0.8 else "no"
    figure = f"{MANY} small images, {MANY_LATENCY:g} s latency, -j {MANY_JOBS}: ideal / wall"
    return [figure, *cells, f"ideal {ideal:.1f} s", ">= 0.8", met]


def video_row(got: dict[str, dict[str, float]], trees: list[str]) -> list[str]:
    cells = [f"{g['peak']:.0f} MiB = {g['peak'] / g['body']:.2f}x" for g in (got[t] for t in trees)]
    first = got[trees[0]]
    met = "yes" if first["peak"] / first["body"] <= 2.0 else "no"
    size = VIDEO_BYTES / 2**20
    figure = f"peak RSS, one {size:.0f} MiB video inlined"
    return [figure, *cells, f"body {first['body']:.1f} MiB", "<= 2x the body", met]


def machine() -> str:
    import PIL

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, Pillow {PIL.__version__}"
    )


def print_table(rows: list[list[str]], trees: list[str]) -> None:
    head = ["figure", *trees, "reference", "goal", "met"]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    ap.add_argument("--rounds", type=int, default=3, help="runs of each figure; the median is shown [3]")
    ap.add_argument("--llm", help="an `llm` executable to compare describe with (pip install llm)")
    ap.add_argument("--baseline", type=Path, help="another checkout of kimi-vision, shown as a second column")
    ap.add_argument(
        "--segment-seconds", type=int, nargs="+", default=list(SEGMENT_SECONDS),
        help="clip lengths of the segments row [20 60]; issue 23 asks 600 (ten minutes)",
    )  # fmt: skip
    args = ap.parse_args()
    trees = {"ours": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    llm = shutil.which(args.llm) if args.llm else None
    if args.llm and not llm:
        sys.exit(f"--llm: {args.llm} not found")
    # Header-only captions: the server shares the cores and must not decode 8K images.
    fake_answers.describe_media = header_caption  # type: ignore[assignment]
    print(f"machine: {machine()}")
    print(
        f"rounds: {args.rounds} (median); ours: {ROOT}"
        + (f"; baseline: {trees['baseline']}" if args.baseline else "")
    )
    with tempfile.TemporaryDirectory(prefix="kv-perf-") as tmp, fake_moonshot.FakeMoonshot() as fake:
        fake.state.record_bodies = False
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_", "OPENAI_"))}
        env.update(
            MOONSHOT_API_KEY=fake.api_key, MOONSHOT_BASE_URL=fake.base_url, NO_COLOR="1",
            XDG_CONFIG_HOME=str(Path(tmp) / "config"), XDG_CACHE_HOME=str(Path(tmp) / "cache"),
        )  # fmt: skip
        b = Bench(Path(tmp), fake, args.rounds, llm, trees, env)
        if llm:
            setup_llm(b)
            version = run([llm, "--version"], env, b.tmp).stdout.decode().strip()
            print(f"reference for describe: {version} ({llm})")
        t0 = time.monotonic()
        rows = measure(b, args.rows, tuple(args.segment_seconds))
    print()
    print_table(rows, list(trees))
    print(f"\n({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
