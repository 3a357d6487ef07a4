"""What one request costs in CPU on this machine (issue 24, item 4): the figures behind
docs/batch.md "Choosing the engine".

    .venv/bin/python benchmarks/engines.py

Measured in this process with time.process_time (CPU, not wall), median of --rounds:
- preparation per image size: a photo-like JPEG (noise over a gradient, quality 90) of
  1, 4, 12 and 24 megapixels through media.image.prepare_image (decode, resize to fit
  4096x2160, strip, re-encode), as describe prepares it;
- the request body: the JSON text and the base64 of that prepared image
  (api.transport.WireBody, as it is sent);
- the answer: parsing a streamed answer of 150 SSE chunks (api/stream.py parse_sse).
Then what an account with 1,000 requests in flight (tier 5) needs in cores for 12 MP
photos, for answers taking 5, 10 and 20 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"1 MP": (1224, 816), "4 MP": (2448, 1632), "12 MP": (4240, 2832), "24 MP": (6000, 4000)}


def photo(w: int, h: int) -> bytes:
    """A JPEG that compresses like a photo: noise over a gradient (a flat image would
    decode and encode unrealistically fast)."""
    from PIL import Image

    noise = Image.effect_noise((w, h), 40).convert("RGB")
    grad = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, grad, 0.5).save(out, "JPEG", quality=90)
    return out.getvalue()


def cpu(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def sse_lines(chunks: int = 150) -> list[str]:
    lines = []
    for i in range(chunks):
        chunk = {"id": "c", "object": "chat.completion.chunk", "model": "kimi-k2.6",
                 "choices": [{"index": 0, "delta": {"content": f"word{i} "}}]}  # fmt: skip
        lines += [f"data: {json.dumps(chunk)}", ""]
    usage = {"prompt_tokens": 1200, "completion_tokens": chunks, "total_tokens": 1200 + chunks}
    last = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
    return [*lines, f"data: {json.dumps(last)}", "", "data: [DONE]", ""]


def _wire(wire_body: Any, body: dict[str, Any]) -> bytes:
    return b"".join(wire_body(body))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import PIL

    from kimi_vision_cli.api.stream import parse_sse
    from kimi_vision_cli.api.transport import WireBody
    from kimi_vision_cli.media.image import ImageOptions, prepare_image
    from kimi_vision_cli.plan import MediaRef

    with open("/proc/cpuinfo") as info:
        cpu_name = next(
            (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?"
        )
    print(f"machine: {os.cpu_count()} cores ({cpu_name}), {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, Pillow {PIL.__version__}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"CPU seconds (process_time), median of {args.rounds}\n")
    print(
        "| image | JPEG bytes | prepare | sent as | JSON + base64 body | SSE answer (150 chunks) | total CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    lines = sse_lines()
    sse = cpu(lambda: list(parse_sse(iter(lines), str)), args.rounds * 10)
    totals = {}
    for label, (w, h) in SIZES.items():
        data = photo(w, h)
        prepared = prepare_image(data, "image/jpeg", ImageOptions())
        prep = cpu(partial(prepare_image, data, "image/jpeg", ImageOptions()), args.rounds)
        ref = MediaRef("image", prepared.mime, data=prepared.data)
        body = {"model": "kimi-k2.6", "stream": True, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": ref}}, {"type": "text", "text": "Describe it."}]}]}  # fmt: skip
        wire = cpu(partial(_wire, WireBody, body), args.rounds * 5)
        totals[label] = prep + wire + sse
        print(f"| {label} ({w}x{h}) | {len(data):,} | {prep * 1000:.0f} ms | {prepared.width}x{prepared.height}, "
              f"{len(prepared.data):,} B | {wire * 1000:.1f} ms | {sse * 1000:.2f} ms | {totals[label] * 1000:.0f} ms |")  # fmt: skip
    per = totals["12 MP"]
    print("\nA tier-5 account (1,000 requests in flight), 12 MP photos:")
    for seconds in (5, 10, 20):
        rate = 1000 / seconds
        print(f"- answers taking {seconds} s: {rate:.0f} requests/s x {per * 1000:.0f} ms CPU = "
              f"{rate * per:.1f} cores busy preparing and sending")  # fmt: skip


if __name__ == "__main__":
    main()
