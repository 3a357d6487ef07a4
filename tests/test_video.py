"""Videos: probe, the 2048x1080 warning, --downscale-video, undecodable input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import pytest

from kimi_vision_cli.media import video
from tests.media import video_bytes


def probe_size(data: bytes) -> tuple[int, int, str]:
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height, s.codec_context.name


@pytest.fixture(scope="module")
def big_video() -> bytes:
    return video_bytes(2560, 1440, frames=3)


@pytest.fixture(scope="module")
def tall_video() -> bytes:
    return video_bytes(1080, 1920, frames=2)  # portrait, inside 1080x2048


def test_bound_is_taken_in_the_videos_own_orientation() -> None:
    assert video.fits(1920, 1080) and video.fits(1080, 1920)
    assert not video.fits(2560, 1440) and not video.fits(1440, 2560)
    assert video.fit_size(2560, 1440) == (1920, 1080)
    assert video.fit_size(1440, 2560) == (1080, 1920)
    w, h = video.fit_size(4001, 3001)
    assert w % 2 == h % 2 == 0 and w <= 2048 and h <= 1080


def test_probe_fills_the_media_record(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(video_bytes(96, 64, frames=5))
    r = kv("describe", "v.mp4", "--format", "json")
    assert r.returncode == 0, r.stderr
    [m] = json.loads(r.stdout)[0]["media"]
    assert (m["width"], m["height"], m["original_width"], m["original_height"]) == (96, 64, 96, 64)
    assert m["mime"] == "video/mp4" and m["resized"] is False
    assert "warning" not in r.stderr


def test_oversized_video_warns_and_is_sent_as_is(kv, fake, tmp_path: Path, big_video: bytes) -> None:
    (tmp_path / "big.mp4").write_bytes(big_video)
    r = kv("describe", "big.mp4")
    assert r.returncode == 0, r.stderr
    assert "big.mp4: video is 2560x1440, over Moonshot's recommended 2048x1080" in r.stderr
    assert "--downscale-video" in r.stderr
    assert f"video/mp4 video of {len(big_video)} bytes" in r.stdout


def test_portrait_video_within_its_bound_does_not_warn(kv, fake, tmp_path: Path, tall_video: bytes) -> None:
    (tmp_path / "tall.mp4").write_bytes(tall_video)
    r = kv("describe", "tall.mp4")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr


def test_downscale_video_fits_the_recommendation(kv, fake, tmp_path: Path, big_video: bytes) -> None:
    (tmp_path / "big.mp4").write_bytes(big_video)
    r = kv("describe", "--downscale-video", "--upload", "always", "big.mp4", "--format", "json")
    assert r.returncode == 0, r.stderr
    [m] = json.loads(r.stdout)[0]["media"]
    sent = fake.state.file_data[m["file_id"]]  # the bytes the server received
    w, h, codec = probe_size(sent)
    assert (w, h, codec) == (1920, 1080, "h264")
    assert (m["width"], m["height"], m["original_width"], m["original_height"]) == (1920, 1080, 2560, 1440)
    assert m["resized"] is True and m["mime"] == "video/mp4"
    assert "warning" not in r.stderr


def test_upload_downscale_video(kv, fake, tmp_path: Path, big_video: bytes) -> None:
    (tmp_path / "big.mp4").write_bytes(big_video)
    r = kv("upload", "--downscale-video", "big.mp4")
    assert r.returncode == 0, r.stderr
    assert probe_size(fake.state.file_data[r.stdout.strip()[5:]])[:2] == (1920, 1080)


def test_no_resize_leaves_the_video_alone(kv, fake, tmp_path: Path, big_video: bytes) -> None:
    (tmp_path / "big.mp4").write_bytes(big_video)
    r = kv("upload", "--downscale-video", "--no-resize", "--keep-metadata", "big.mp4")
    assert r.returncode == 0, r.stderr
    assert fake.state.file_data[r.stdout.strip()[5:]] == big_video
    assert "--no-resize" in r.stderr  # the warning still says it is over the recommendation
    # Without --keep-metadata the size is still left alone; only metadata boxes are blanked.
    r = kv("upload", "--no-cache", "--no-resize", "big.mp4")
    assert r.returncode == 0, r.stderr
    sent = fake.state.file_data[r.stdout.strip()[5:]]
    assert probe_size(sent)[:2] == (2560, 1440) and len(sent) == len(big_video)


def test_undecodable_video_is_exit_2(kv, fake, tmp_path: Path) -> None:
    good = video_bytes()
    # A real MP4 header (libmagic says video/mp4), then garbage instead of boxes.
    (tmp_path / "broken.mp4").write_bytes(good[:32] + b"\x07" * 4000)
    (tmp_path / "ok.mp4").write_bytes(good)
    r = kv("describe", "broken.mp4", "ok.mp4")
    assert r.returncode == 2
    assert "broken.mp4: cannot decode video" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(fake.chat_requests) == 1  # the good one still went


def test_downscale_progress_bar_on_a_terminal(invoke, fake, tmp_path: Path, big_video: bytes) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(big_video)
    (tmp_path / "big2.mp4").write_bytes(big_video)
    # Two inputs: the batch bar is live on the same console while the videos downscale.
    code, out, err = invoke("describe", "--downscale-video", str(path), str(tmp_path / "big2.mp4"), tty=True)
    assert code == 0, err
    assert out.count("video/mp4 video of") == 2
    assert "downscaling" in err  # rich's transient bar drew on the (fake) terminal stderr
    assert "downscaling" not in out


def test_batch_submit_downscale_video(kv, fake, tmp_path: Path, big_video: bytes) -> None:
    import base64

    (tmp_path / "big.mp4").write_bytes(big_video)
    r = kv("batch", "submit", "--downscale-video", "big.mp4")
    assert r.returncode == 0, r.stderr
    (batch_file,) = [fid for fid, m in fake.state.files.items() if m["purpose"] == "batch"]
    (line,) = fake.state.file_data[batch_file].decode().splitlines()
    part = json.loads(line)["body"]["messages"][-1]["content"][0]
    url = part["video_url"]["url"]
    if url.startswith("ms://"):
        sent = fake.state.file_data[url[5:]]
    else:
        sent = base64.b64decode(url.split(",", 1)[1])
    assert probe_size(sent)[:2] == (1920, 1080)


def test_frame_bar_joins_the_batch_bar_instead_of_a_second_live_display() -> None:
    """Two rich Live displays on one console break its live stack: the batch bar lifted for
    an answer (stop, then start) while a downscale bar ran recursed without end."""
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.progress import BatchProgress, frame_bar
    from kimi_vision_cli.terminal import Terminal
    from tests.conftest import FakeTTY

    err = FakeTTY()
    term = Terminal(
        stdout=FakeTTY(), stderr=err, stdin=io.BytesIO(), stdout_isatty=True, stderr_isatty=True,
        stdin_isatty=False, color=False, width=100,
    )  # fmt: skip
    diag = Diagnostics(term)
    batch = BatchProgress(diag, live=True, pause_for_stdout=True)
    batch.start()
    with frame_bar(diag, "downscaling big.mp4", 3) as tick:
        tick(1)
        with batch.lifted():  # an answer printing on the same terminal
            pass
        tick(2)
        assert len(diag.console._live_stack) == 1  # one live display, the batch bar's
        diag.live_progress.refresh()  # draw now rather than at the next auto-refresh
    batch.stop()
    assert diag.console._live_stack == []
    assert "downscaling big.mp4: 2 frames" in err.getvalue()

    # Without a batch bar the frame bar is a transient display of its own.
    with frame_bar(diag, "downscaling solo.mp4", 3) as tick:
        tick(3)
        assert len(diag.console._live_stack) == 1 and diag.live_progress is None
    assert diag.console._live_stack == [] and "downscaling solo.mp4" in err.getvalue()
