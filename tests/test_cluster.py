"""docs/cluster.md's Ray Data recipe (issue 24, item 3), run as the page shows it, on a
local Ray cluster against the loopback server and moto's S3 server: 200 images, exactly
one record each, each with its own image's answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_vision_cli.runner.host import Host
from tests.conftest import S3, Made
from tests.fake_moonshot import FakeMoonshot
from tests.media import image_bytes

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"
MARKER = "<!-- recipe: tests/test_cluster.py runs the next python block verbatim -->"
N = 200


def recipe() -> str:
    """The python block right after the marker, as the page shows it."""
    found = re.search(re.escape(MARKER) + r"\n```python\n(.*?)^```$", PAGE.read_text(), flags=re.S | re.M)
    assert found, f"docs/cluster.md lost its recipe marker: {MARKER}"
    return found.group(1)


def test_the_page_marks_its_recipe() -> None:
    code = recipe()
    assert "class Captioner" in code and "def caption_bucket" in code and "map_batches" in code


def test_a_worker_keeps_one_client_and_its_pacing_for_every_batch(
    env: dict[str, str], one_at_a_time: FakeMoonshot, made: Made, minute_host: Host
) -> None:
    """The recipe's Captioner, called as a Ray worker calls it (here in this process,
    batch after batch): one kv.Client for every batch, and what a 429 taught in the first
    batch holds in the next (the account allows 1 request at a time)."""
    pytest.importorskip("ray", reason="ray is not installed: pip install 'kimi-vision[ray]'")
    fake = one_at_a_time
    namespace: dict[str, Any] = {}
    exec(compile(recipe(), "docs/cluster.md recipe", "exec"), namespace)  # our own docs
    worker = namespace["Captioner"](concurrency=2, options={"env": env, "host": minute_host})

    def batch(*widths: int) -> dict[str, list[Any]]:
        return {"path": [f"bucket/{w}.png" for w in widths], "bytes": [image_bytes(w, 8) for w in widths]}

    first = worker(batch(20, 30))
    taught = fake.state.rate_limited
    assert taught >= 1  # two at once: the 429 named the account's concurrency, 1
    second = worker(batch(40, 50))
    assert fake.state.rate_limited == taught  # the second batch started within it
    assert first["error"] + second["error"] == [None] * 4
    texts = first["text"] + second["text"]
    assert all(f"a {w}x8 image/png image" in t for w, t in zip((20, 30, 40, 50), texts, strict=True))
    assert made.http == 1  # one connection pool for the worker's batches


@pytest.fixture
def local_ray(env: dict[str, str], s3: S3) -> Iterator[Any]:
    """A 2-CPU Ray cluster on this machine, its workers given the test's environment
    (loopback Moonshot, S3 endpoint and fake credentials); always shut down, so no Ray
    process outlives the test."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'kimi-vision[ray]'")
    pytest.importorskip("ray.data", reason="ray[data] is not installed: pip install 'kimi-vision[ray]'")
    wanted = ("MOONSHOT_", "XDG_", "KIMI_VISION_", "AWS_")
    env_vars = {k: v for k, v in env.items() if k.startswith(wanted)}
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env_vars},
    )  # fmt: skip
    try:
        yield ray
    finally:
        ray.shutdown()


def test_the_recipe_captions_every_image_once_on_a_local_ray_cluster(
    local_ray: Any, fake: FakeMoonshot, s3: S3
) -> None:
    sizes = {s3.put(f"photos/{i:03d}.png", image_bytes(8 + i, 8, "PNG")): f"{8 + i}x8" for i in range(N)}
    namespace: dict[str, Any] = {}
    exec(compile(recipe(), "docs/cluster.md recipe", "exec"), namespace)  # our own docs
    namespace["caption_bucket"](
        s3.url("photos/"), s3.url("captions/"), workers=2, account_limit=32, cpus_per_worker=0.25
    )
    lines = [
        json.loads(line)
        for key in s3.fs.find(f"{s3.bucket}/captions/")  # type: ignore[attr-defined]
        for line in s3.fs.cat_file(key).decode().splitlines()  # type: ignore[attr-defined]
    ]
    assert sorted(row["input"] for row in lines) == sorted(sizes)  # each image exactly once
    for row in lines:
        record = json.loads(row["record"])
        assert row["error"] is None and record["error"] is None, row
        assert record["input"] == row["input"]
        # the fake answers with the image's size: this answer is this image's own
        assert f"a {sizes[row['input']]} image/png image" in row["text"], row
    assert len(fake.chat_requests) == N
