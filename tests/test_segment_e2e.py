"""`describe --segment` end to end (issue 15): timed captions as WebVTT, SRT, JSONL."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import headless_video, shots_video, timed_video, write_image

CUE = re.compile(r"^(\d\d:\d\d:\d\d[.,]\d{3}) --> (\d\d:\d\d:\d\d[.,]\d{3})$", re.M)


def seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def cues(text: str) -> list[tuple[float, float]]:
    return [(seconds(a), seconds(b)) for a, b in CUE.findall(text)]


def sent_videos(fake) -> list[float | None]:  # type: ignore[no-untyped-def]
    """The seconds of each video part the server received, over every chat request."""
    return sorted(v for r in fake.chat_requests for v in r.videos)  # type: ignore[type-var]


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    return timed_video(12, keyframe_every=2)


@pytest.fixture
def clip(tmp_path: Path, clip_bytes: bytes) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip_bytes)
    return path


def test_vtt_gives_three_contiguous_cues_from_three_four_second_parts(kv, fake, clip: Path) -> None:
    r = kv("describe", "--segment", "4s", "--format", "vtt", "clip.mp4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("WEBVTT\n\n")
    assert cues(r.stdout) == [(0, 4), (4, 8), (8, 12)]
    assert len(fake.chat_requests) == 3
    assert all(len(req.videos) == 1 for req in fake.chat_requests)
    assert sent_videos(fake) == pytest.approx([4.0, 4.0, 4.0])
    # Each cue holds the answer about its own part: the fake model names the part it got.
    assert r.stdout.count("video/mp4 video of") == 3 and "part 2 of 3" in r.stdout


def test_an_x264_clip_with_scene_cut_keyframes_gives_three_parts_on_the_grid(
    kv, fake, tmp_path: Path
) -> None:
    """Issue 23's "done when": 10 fps, GOP 10, scene-cut keyframes on; it gave four cues."""
    (tmp_path / "x264.mp4").write_bytes(shots_video([3.9, 7.9, 11.0]))
    r = kv("describe", "--segment", "4s", "--format", "vtt", "x264.mp4")
    assert r.returncode == 0, r.stderr
    assert cues(r.stdout) == [(0, 3.9), (3.9, 7.9), (7.9, 12)]
    assert sent_videos(fake) == pytest.approx([3.9, 4.0, 4.1])


def test_a_clip_with_one_keyframe_is_reencoded_into_parts(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "one.mp4").write_bytes(timed_video(12, keyframe_every=None))
    r = kv("describe", "--segment", "4s", "--format", "srt", "one.mp4")
    assert r.returncode == 0, r.stderr
    assert cues(r.stdout) == [(0, 4), (4, 8), (8, 12)]
    assert r.stdout.startswith("1\n00:00:00,000 --> 00:00:04,000\n")
    assert sent_videos(fake) == pytest.approx([4.0, 4.0, 4.0])


def test_srt_sidecar_and_text_under_time_spans(kv, fake, clip: Path, tmp_path: Path) -> None:
    r = kv("describe", "--segment", "4s", "--sidecar", "srt", "clip.mp4")
    assert r.returncode == 0, r.stderr
    srt = (tmp_path / "clip.mp4.srt").read_text()
    assert [line for line in srt.splitlines() if line.isdigit()] == ["1", "2", "3"]
    assert cues(srt) == [(0, 4), (4, 8), (8, 12)]
    spans = re.findall(r"^\[(.*)\]$", r.stdout, re.M)
    assert spans == ["00:00:00–00:00:04", "00:00:04–00:00:08", "00:00:08–00:00:12"]


def test_jsonl_record_carries_segments_and_the_joined_text(kv, fake, clip: Path) -> None:
    r = kv("describe", "--segment", "4s", "--format", "jsonl", "clip.mp4")
    assert r.returncode == 0, r.stderr
    [record] = [json.loads(line) for line in r.stdout.splitlines()]
    segs = record["segments"]
    assert [(s["start"], s["end"]) for s in segs] == [(0, 4), (4, 8), (8, 12)]
    assert all(set(s) == {"start", "end", "text", "usage"} for s in segs)
    assert record["text"] == "\n\n".join(s["text"] for s in segs)
    assert record["usage"]["total_tokens"] == sum(s["usage"]["total_tokens"] for s in segs)
    assert len(record["media"]) == 3 and record["error"] is None


def test_a_failed_segment_fails_the_input_and_writes_no_subtitle_file(
    kv, fake, clip: Path, tmp_path: Path
) -> None:
    fake.inject(Fault(finish_reason="content_filter"))
    r = kv("describe", "--segment", "4s", "--sidecar", "vtt", "clip.mp4")
    assert r.returncode == 1
    assert "clip.mp4 [00:00:0" in r.stderr and "content filter" in r.stderr
    assert not (tmp_path / "clip.mp4.vtt").exists()
    again = kv("describe", "--segment", "4s", "--sidecar", "vtt", "clip.mp4")  # a rerun resumes
    assert again.returncode == 0, again.stderr
    assert cues((tmp_path / "clip.mp4.vtt").read_text()) == [(0, 4), (4, 8), (8, 12)]
    sent = len(fake.chat_requests)
    skipped = kv("describe", "--segment", "4s", "--sidecar", "vtt", "clip.mp4")
    assert (
        skipped.returncode == 0 and len(fake.chat_requests) == sent
    )  # the sidecar exists: not cut, not sent


def test_segment_on_an_image_is_exit_2(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "photo.png")
    r = kv("describe", "--segment", "4s", "photo.png")
    assert r.returncode == 2
    assert "photo.png: --segment cuts videos" in r.stderr
    assert fake.chat_requests == []


def test_a_model_without_video_is_refused_before_cutting(kv, fake, clip: Path) -> None:
    r = kv("describe", "--segment", "4s", "-m", "moonshot-v1-8k-vision-preview", "clip.mp4")
    assert r.returncode == 2
    assert "cannot take video input" in r.stderr and fake.chat_requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe", "--segment", "soon", "clip.mp4"], "--segment 'soon' is not a duration"),
        (["describe", "--segment", "0.5s", "clip.mp4"], "--segment '0.5s' must be at least 1s"),
        (["describe", "--format", "vtt", "clip.mp4"], "--format vtt needs --segment"),
        (["describe", "--sidecar", "srt", "clip.mp4"], "--sidecar srt needs --segment"),
        (["describe", "--segment", "4s", "--format", "vtt", "clip.mp4", "clip.mp4"], "use --sidecar vtt"),
        (["ask", "--format", "vtt", "what?", "clip.mp4"], "'vtt' is not one of 'text', 'json', 'jsonl'"),
        (["estimate", "--format", "srt", "clip.mp4"], "'srt' is not one of"),
        (["estimate", "--segment", "4s", "--ask", "what?", "clip.mp4"], "--ask and --segment"),
    ],
)
def test_usage_errors_are_one_line_exit_2(kv, fake, clip: Path, args: list[str], message: str) -> None:
    r = kv(*args)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert fake.chat_requests == []


def test_estimate_counts_each_segment(kv, fake, clip: Path) -> None:
    r = kv("estimate", "--segment", "4s", "--format", "jsonl", "clip.mp4")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["input"] for row in rows] == [
        "clip.mp4 [00:00:00–00:00:04]", "clip.mp4 [00:00:04–00:00:08]", "clip.mp4 [00:00:08–00:00:12]",
    ]  # fmt: skip
    assert all(row["tokens"] for row in rows)
    assert len(fake.requests_to("/v1/tokenizers/estimate-token-count")) == 3
    assert fake.chat_requests == []


def test_dry_run_shows_each_segments_request(kv, fake, clip: Path) -> None:
    r = kv("describe", "--segment", "4s", "--dry-run", "--format", "jsonl", "clip.mp4")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and "part 3 of 3" in json.dumps(rows[2]["body"])
    assert fake.state.requests == []


def test_prompt_applies_to_each_segment(kv, fake, clip: Path) -> None:
    r = kv(
        "describe", "--segment", "6s", "-j", "1", "-p", "List the colours.", "clip.mp4", "--format", "json"
    )
    assert r.returncode == 0, r.stderr
    texts = [req.body["messages"][-1]["content"][-1]["text"] for req in fake.chat_requests]
    assert texts == ["List the colours."] * 2
    assert fake.state.max_in_flight == 1  # -j 1: the segments are requests like inputs
    assert [(s["start"], s["end"]) for s in json.loads(r.stdout)[0]["segments"]] == [(0, 6), (6, 12)]


def test_several_videos_under_j_each_get_their_own_cues(kv, fake, clip_bytes: bytes, tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(clip_bytes)
    (tmp_path / "b.mp4").write_bytes(timed_video(6, keyframe_every=2))
    write_image(tmp_path / "c.png")
    r = kv("describe", "--segment", "4s", "--sidecar", "vtt", "-j", "4", "a.mp4", "b.mp4", "c.png")
    assert r.returncode == 2  # c.png: --segment on an image; the videos still finish
    assert cues((tmp_path / "a.mp4.vtt").read_text()) == [(0, 4), (4, 8), (8, 12)]
    assert cues((tmp_path / "b.mp4.vtt").read_text()) == [(0, 4), (4, 6)]
    assert not (tmp_path / "c.png.vtt").exists()
    assert len(fake.chat_requests) == 5


def test_a_video_within_one_segment_is_sent_whole_with_the_video_prompt(
    kv, fake, clip_bytes: bytes, clip: Path
) -> None:
    r = kv("describe", "--segment", "1m", "--format", "vtt", "clip.mp4")
    assert r.returncode == 0, r.stderr
    assert cues(r.stdout) == [(0, 12)]
    [req] = fake.chat_requests
    assert req.body["messages"][-1]["content"][-1]["text"] == "Describe the content of the video."
    assert req.videos == [12.0]


def test_segments_are_downscaled_and_keep_their_length(kv, fake, tmp_path: Path) -> None:
    """--downscale-video applies to each segment; a downscaled part lasts as long as its segment
    (the encoder once numbered frames in 1/rate while the muxer read 1/10240: 3 s became 0.1 s)."""
    (tmp_path / "big.mp4").write_bytes(timed_video(3, keyframe_every=1, w=2560, h=1440))
    r = kv("describe", "--segment", "1s", "--downscale-video", "--format", "jsonl", "big.mp4")
    assert r.returncode == 0, r.stderr
    [record] = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(m["width"], m["height"], m["resized"]) for m in record["media"]] == [(1920, 1080, True)] * 3
    assert sent_videos(fake) == pytest.approx([1.0, 1.0, 1.0])


def test_an_oversized_video_in_parts_warns_once_per_video(kv, fake, tmp_path: Path) -> None:
    """Every part of a 2560x1440 clip is over the recommended size: said once for each
    video, naming it, not once per part; the same in estimate's walk over the parts."""
    big = timed_video(3, keyframe_every=1, w=2560, h=1440)
    (tmp_path / "big.mp4").write_bytes(big)
    (tmp_path / "big 2.mp4").write_bytes(big)
    r = kv("describe", "--segment", "1s", "-j", "4", "big.mp4", "big 2.mp4")
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 6  # three parts each
    warned = sorted(line for line in r.stderr.splitlines() if "warning:" in line)
    assert warned == [
        f"kimi-vision: warning: {name}: video is 2560x1440, over Moonshot's recommended 2048x1080 "
        "— pass --downscale-video to transcode it to fit"
        for name in ("'big 2.mp4'", "big.mp4")
    ]
    r = kv("estimate", "--segment", "1s", "big.mp4")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("over Moonshot's recommended") == 1


def test_on_a_terminal_each_span_stands_on_its_own_line(invoke, fake, clip: Path, tmp_path: Path) -> None:
    """Markdown joins a label and the next line into one paragraph; the rich renderer
    leaves a blank line so the span does not run into the answer."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, out, err = invoke("describe", "--segment", "4s", "clip.mp4", tty=True)
    finally:
        os.chdir(here)
    assert code == 0, err
    import re

    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line).strip() for line in out.splitlines()]
    for label in ("[00:00:00–00:00:04]", "[00:00:04–00:00:08]", "[00:00:08–00:00:12]"):
        assert label in lines, lines  # alone on its line, not run into the answer


def test_a_clip_without_a_leading_keyframe_and_a_broken_one_do_not_stop_the_run(
    kv, fake, clip: Path, tmp_path: Path
) -> None:
    """Issue 23: the headless clip was a KeyError traceback that ended the whole run."""
    (tmp_path / "headless.mp4").write_bytes(headless_video(12, drop=5, keyframe_every=3))
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    args = ("--segment", "2s", "broken.mp4", "headless.mp4", "clip.mp4")
    r = kv("describe", "--sidecar", "vtt", "-j", "1", *args)
    assert r.returncode == 2 and "Traceback" not in r.all
    [error] = [line for line in r.stderr.splitlines() if "error" in line]
    assert error.startswith("kimi-vision: error: broken.mp4: cannot cut video")
    assert cues((tmp_path / "headless.mp4.vtt").read_text())[-1][1] == pytest.approx(9.0)
    assert cues((tmp_path / "clip.mp4.vtt").read_text())[-1] == (10, 12)
    est = kv("estimate", "--format", "jsonl", *args)
    assert est.returncode == 2 and "Traceback" not in est.all
    rows = [json.loads(line) for line in est.stdout.splitlines()]
    assert sum(row["input"].startswith("headless.mp4 [") and bool(row["tokens"]) for row in rows) == 5


@pytest.fixture(scope="module")
def shots_bytes() -> bytes:
    return shots_video([3, 8])  # three visibly different shots of 3, 5 and 4 s


def test_segment_scenes_gives_one_cue_per_shot(kv, fake, shots_bytes: bytes, tmp_path: Path) -> None:
    (tmp_path / "shots.mp4").write_bytes(shots_bytes)
    r = kv("describe", "--segment", "scenes", "--format", "vtt", "shots.mp4")
    assert r.returncode == 0, r.stderr
    assert [t for cue in cues(r.stdout) for t in cue] == pytest.approx([0, 3, 3, 8, 8, 12], abs=0.5)
    assert sent_videos(fake) == pytest.approx([3, 4, 5], abs=0.5)
    est = kv("estimate", "--segment", "scenes", "--format", "jsonl", "shots.mp4")
    assert est.returncode == 0, est.stderr
    assert [json.loads(line)["input"] for line in est.stdout.splitlines()] == [
        "shots.mp4 [00:00:00–00:00:03]", "shots.mp4 [00:00:03–00:00:08]", "shots.mp4 [00:00:08–00:00:12]",
    ]  # fmt: skip


def test_segment_scenes_bounds(kv, fake, shots_bytes: bytes, tmp_path: Path) -> None:
    (tmp_path / "shots.mp4").write_bytes(shots_bytes)
    r = kv("describe", "--segment", "scenes", "--min-segment", "3.5s", "--max-segment", "6s",
           "--format", "vtt", "shots.mp4")  # fmt: skip
    assert r.returncode == 0, r.stderr
    ends = [end for _start, end in cues(r.stdout)]  # 0-8 (the 3 s shot joined the next) in two, then 8-12
    assert len(ends) == 3 and ends[0] == pytest.approx(4, abs=0.5) and ends[1:] == [8, 12]
    bad = kv("describe", "--segment", "scenes", "--min-segment", "10s", "--max-segment", "5s", "shots.mp4")
    assert bad.returncode == 2 and "--min-segment 10s is longer than --max-segment 5s" in bad.stderr
    assert len(fake.chat_requests) == 3


def test_schema_with_segment_each_part_answers_to_it(kv, fake, clip: Path, tmp_path: Path) -> None:
    """Issue 23 item 5: --schema was refused with --segment."""
    schema = "caption, tags: list"
    r = kv("describe", "--segment", "4s", "--schema", schema, "--format", "jsonl", "clip.mp4")
    assert r.returncode == 0, r.stderr
    [record] = [json.loads(line) for line in r.stdout.splitlines()]
    assert "data" not in record  # each part has its own
    segs = record["segments"]
    assert [set(s) for s in segs] == [{"start", "end", "text", "usage", "data"}] * 3
    captions = [s["data"]["caption"] for s in segs]
    assert [json.loads(s["text"]) == s["data"] for s in segs] == [True] * 3
    assert all(c.startswith("a video/mp4 video of") for c in captions) and len(set(captions)) == 3
    assert record["text"] == "\n\n".join(captions)
    # kimi-k2.6 takes json_schema (issue 20): each part's request carries the schema
    assert all(req.body["response_format"]["type"] == "json_schema" for req in fake.chat_requests)
    vtt = kv("describe", "--segment", "4s", "--schema", schema, "--sidecar", "vtt", "clip.mp4")
    assert vtt.returncode == 0, vtt.stderr
    text = (tmp_path / "clip.mp4.vtt").read_text()
    assert cues(text) == [(0, 4), (4, 8), (8, 12)]
    assert "{" not in text and all(c in text for c in captions)  # the caption field, not the JSON


def test_schema_with_segment_a_part_that_never_matches_fails_the_video(kv, fake, clip: Path) -> None:
    fake.state.answers.extend(["not json"] * 2)  # the first part's answer and its one retry
    r = kv("describe", "--segment", "4s", "-j", "1", "--schema", "caption", "--format", "jsonl", "clip.mp4")
    assert r.returncode == 1
    [record] = [json.loads(line) for line in r.stdout.splitlines()]
    assert record["error"]["code"] and record["segments"] == []
    assert "does not match the schema" in r.stderr


@pytest.mark.process
def test_ctrl_c_in_a_segmented_run_stops_its_parts_and_the_rerun_redoes_the_video(
    env, fake, clip_bytes: bytes, tmp_path: Path
) -> None:
    """Issue 23 item 4: a video whose parts did not all answer writes no subtitle file, and
    a rerun sends all its parts again (finished parts are not kept between runs)."""
    from tests.conftest import installed_command
    from tests.test_batch import _interrupted, _temp_files

    (tmp_path / "a.mp4").write_bytes(timed_video(12, keyframe_every=1))  # six parts of 2 s
    (tmp_path / "b.mp4").write_bytes(clip_bytes)
    fake.state.latency = 0.6
    cmd = [
        *installed_command(),
        "describe",
        "--segment",
        "2s",
        "-j",
        "2",
        "--sidecar",
        "vtt",
        "a.mp4",
        "b.mp4",
    ]
    code, _out, err = _interrupted(cmd, env, tmp_path, lambda: len(fake.chat_requests) >= 2)
    assert code == 130, err
    assert "Traceback" not in err.decode() and "interrupted" in err.decode()
    assert _temp_files(tmp_path) == [] and not (tmp_path / "a.mp4.vtt").exists()
    sent = len(fake.chat_requests)
    assert sent < 12  # the parts not started were not sent
    fake.state.latency = 0.0
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert cues((tmp_path / "a.mp4.vtt").read_text()) == [(t, t + 2) for t in range(0, 12, 2)]
    assert len(fake.chat_requests) - sent == 6 + 6  # every part of both videos, sent again


def test_on_a_terminal_a_segmented_video_shows_its_parts_progress(invoke, fake, clip: Path) -> None:
    fake.state.latency = 0.3  # long enough for the bar to be redrawn between parts
    code, out, err = invoke("describe", "--segment", "4s", "-j", "1", str(clip), tty=True)
    assert code == 0, err
    assert "0/3 parts answered, 0 cut, 0 sent: /" in err
    assert re.search(r"[1-2]/3 parts answered, [1-3] cut, [1-3] sent: /", err), err
    assert "answered" not in out
    two = clip.with_name("two.mp4")
    two.write_bytes(clip.read_bytes())
    code, out, err = invoke("describe", "--segment", "4s", str(clip), str(two), tty=True)
    assert code == 0 and "parts answered" in err and "2 done, 0 failed" in err  # rows of the batch bar
    code, out, err = invoke("describe", "--segment", "4s", str(clip), tty=False)
    assert code == 0 and "answered" not in err  # piped: no bar


def test_batch_submit_segment_round_trip_writes_what_describe_writes(
    kv, fake, clip: Path, tmp_path: Path
) -> None:
    """Issue 23 item 6: each part a batch request; `batch results` joins them back."""
    live = kv("describe", "--segment", "4s", "--sidecar", "vtt", "--format", "jsonl", "clip.mp4")
    assert live.returncode == 0, live.stderr
    live_vtt = (tmp_path / "clip.mp4.vtt").read_text()
    (tmp_path / "clip.mp4.vtt").unlink()
    (tmp_path / "photo.png").write_bytes(b"not an image")
    sub = kv("batch", "submit", "--segment", "4s", "clip.mp4", "photo.png")
    assert sub.returncode == 2 and "photo.png" in sub.stderr and "3 requests in 1 batch" in sub.stderr
    batch_id = sub.stdout.strip()
    lines = [
        json.loads(x)
        for x in fake.state.file_data[fake.requests_to("/v1/batches")[0].body["input_file_id"]].splitlines()
    ]
    # each part's id carries its input (issue 20: results on another machine)
    assert [x["custom_id"] for x in lines] == [f"kv-0000000-p000{i}:path:clip.mp4" for i in range(3)]
    assert "part 2 of 3" in json.dumps(lines[1]["body"])
    kv("batch", "status", batch_id)  # the loopback batch moves on as it is looked at
    res = kv("batch", "results", batch_id, "--sidecar", "vtt", "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    [record] = [json.loads(x) for x in res.stdout.splitlines()]
    [live_record] = [json.loads(x) for x in live.stdout.splitlines()]
    assert record["input"] == "clip.mp4" and record["error"] is None
    assert [(s["start"], s["end"], s["text"]) for s in record["segments"]] == [
        (s["start"], s["end"], s["text"]) for s in live_record["segments"]
    ]
    assert (tmp_path / "clip.mp4.vtt").read_text() == live_vtt


def test_batch_results_subtitles_need_a_batch_submitted_with_segment(
    kv, fake, clip: Path, tmp_path: Path
) -> None:
    batch_id = kv("batch", "submit", "clip.mp4").stdout.strip()
    kv("batch", "status", batch_id)
    res = kv("batch", "results", batch_id, "--sidecar", "srt")
    assert res.returncode == 2 and "--sidecar srt needs timed parts" in res.stderr
    assert not (tmp_path / "clip.mp4.srt").exists()


def test_batch_results_elsewhere_fail_a_segmented_video_instead_of_writing_one_part(
    kv, fake, clip: Path, tmp_path: Path
) -> None:
    """Without the batch's local record (another machine, or a record that could not be
    saved) a video's parts were each taken for the whole video: part 0's text became its
    sidecar, the rest were skipped, exit 0. The parts' times live only in that record,
    so the video fails, named once, and nothing is written for it."""
    batch_id = kv("batch", "submit", "--segment", "4s", "clip.mp4").stdout.strip()
    kv("batch", "status", batch_id)
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}  # no local record: no parts known
    res = kv("batch", "results", batch_id, "--sidecar", "txt", "--format", "jsonl", extra_env=other)
    assert res.returncode == 2, res.all
    [record] = [json.loads(x) for x in res.stdout.splitlines()]
    assert record["input"] == "clip.mp4" and record["error"]["code"]
    assert "parts of a --segment video" in record["error"]["message"]
    assert res.stderr.count("clip.mp4") == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "clip.mp4.txt").exists()


def test_a_parts_bar_left_open_by_a_stopped_run_is_stopped_with_the_run() -> None:
    """Ctrl-C can end a run before a video's parts join, and so before its bar closes."""
    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.progress import BatchProgress, PartsBar
    from tests.test_listing import term

    diag = Diagnostics(term(tty=True))
    bar = PartsBar(diag, "clip.mp4", 3)
    own = diag.live_progress
    assert own is not None and own.live.is_started
    BatchProgress(diag, live=False).stop()  # what the scheduler does as the run ends
    assert not own.live.is_started and diag.live_progress is None
    bar.close()  # the join, had it come: harmless after


def test_segment_scenes_without_pyscenedetect_is_exit_2_before_reading(
    kv, fake, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "scenedetect" else find_spec(n, *a)
    )
    for cmd in (["describe"], ["estimate"], ["batch", "submit"]):
        r = kv(*cmd, "--segment", "scenes", "clip.mp4", "missing.mp4")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "--segment scenes needs PySceneDetect — install the scenes extra" in r.stderr
    assert fake.state.requests == []


@pytest.mark.parametrize("video", ["kv-0000003", "kv-0000003:path:dir-p1/clip-p2.mp4"])
def test_a_part_custom_id_leads_back_to_its_video(video: str) -> None:
    from kimi_vision_cli.flows.batch_segments import part_id, video_id

    ids = [part_id(video, i) for i in (0, 1, 12)]
    assert ids[0].startswith("kv-0000003-p0000") and len(set(ids)) == 3
    assert [video_id(i) for i in ids] == [video] * 3
