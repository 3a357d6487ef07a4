"""Issue 2: describe / ask end to end, through the installed command, against the
loopback server."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.media import animated_gif, image_bytes, jpeg_with_exif, video_bytes, write_image


def _parts(req) -> list[dict]:  # type: ignore[no-untyped-def]
    return req.body["messages"][-1]["content"]


def _sent_bytes(req, index: int = 0) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    media = [p for p in _parts(req) if p["type"] in ("image_url", "video_url")]
    url = media[index][media[index]["type"]]["url"]
    head, data = url.split(";base64,", 1)
    return head[len("data:") :], base64.b64decode(data)


def test_describe_png_streams_plain_text(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "photo.png", 64, 48)
    r = kv("describe", "photo.png")
    assert r.returncode == 0, r.stderr
    assert "a 64x48 image/png image" in r.stdout
    assert r.stdout.startswith("**Answer 1**")  # piped: plain text, Markdown not rendered
    assert r.stderr == ""
    (req,) = fake.chat_requests
    body = req.body
    assert body["model"] == "kimi-k2.6"
    assert body["stream"] is True
    assert body["thinking"] == {"type": "enabled"}
    for fixed in ("temperature", "top_p", "n", "presence_penalty", "frequency_penalty"):
        assert fixed not in body
    content = _parts(req)
    assert isinstance(content, list)
    assert content[0]["type"] == "image_url"
    assert content[-1] == {"type": "text", "text": "Describe the content of the image."}
    mime, sent = _sent_bytes(req)
    assert mime == "image/png"
    assert sent == (tmp_path / "photo.png").read_bytes()  # byte for byte: no needless re-encode


def test_mime_comes_from_content_not_name(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "really-a-png.jpg").write_bytes(image_bytes(30, 20, "PNG"))
    r = kv("describe", "really-a-png.jpg")
    assert r.returncode == 0, r.stderr
    mime, _ = _sent_bytes(fake.chat_requests[0])
    assert mime == "image/png"


def test_webp_and_gif_pass_through(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "a.webp").write_bytes(image_bytes(30, 20, "WEBP"))
    (tmp_path / "b.gif").write_bytes(image_bytes(30, 20, "GIF"))
    r = kv("describe", "a.webp", "b.gif", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert [_sent_bytes(q)[0] for q in fake.chat_requests] == ["image/webp", "image/gif"]


def test_unsupported_type_refused_naming_type_and_list(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "pic.bmp").write_bytes(image_bytes(30, 20, "BMP"))
    r = kv("describe", "pic.bmp")
    assert r.returncode == 2
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("kimi-vision: error: pic.bmp: unsupported type image/bmp")
    assert "png, jpeg, webp, gif" in line and "--convert" in line
    assert "Traceback" not in r.stderr
    assert fake.chat_requests == []


def test_convert_turns_bmp_into_png(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "pic.bmp").write_bytes(image_bytes(30, 20, "BMP"))
    r = kv("describe", "--convert", "pic.bmp", "--format", "json")
    assert r.returncode == 0, r.stderr
    mime, data = _sent_bytes(fake.chat_requests[0])
    assert mime == "image/png"
    assert Image.open(io.BytesIO(data)).format == "PNG"
    (rec,) = json.loads(r.stdout)
    assert rec["media"][0]["converted"] is True
    assert rec["media"][0]["original_mime"] == "image/bmp"


def test_exif_orientation_applied(kv, fake, tmp_path: Path) -> None:
    # orientation 6: stored 80x40, displayed rotated 90 degrees -> 40x80 upright
    (tmp_path / "rot.jpg").write_bytes(jpeg_with_exif(80, 40, orientation=6, gps=False))
    r = kv("describe", "rot.jpg", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    _, data = _sent_bytes(fake.chat_requests[0])
    img = Image.open(io.BytesIO(data))
    assert img.size == (40, 80)
    assert img.getexif().get(0x0112) in (None, 1)
    rec = json.loads(r.stdout)
    assert rec["media"][0]["rotated"] is True


def test_large_landscape_and_portrait_are_bounded_in_own_orientation(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(image_bytes(5000, 3000, "PNG"))
    (tmp_path / "tall.jpg").write_bytes(image_bytes(3000, 5000, "JPEG"))
    r = kv("describe", "wide.png", "tall.jpg", "-j", "1", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    sizes = [Image.open(io.BytesIO(_sent_bytes(q)[1])).size for q in fake.chat_requests]
    assert sizes == [(3600, 2160), (2160, 3600)]
    # kept in its own format
    assert [_sent_bytes(q)[0] for q in fake.chat_requests] == ["image/png", "image/jpeg"]
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert recs[0]["media"][0]["original_width"] == 5000
    assert recs[0]["media"][0]["width"] == 3600


def test_max_size_and_no_resize(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(image_bytes(400, 300, "PNG"))
    assert kv("describe", "a.png", "--max-size", "200x100").returncode == 0
    assert kv("describe", "a.png", "--no-resize", "--max-size", "200x100").returncode == 0
    first = Image.open(io.BytesIO(_sent_bytes(fake.chat_requests[0])[1])).size
    second = Image.open(io.BytesIO(_sent_bytes(fake.chat_requests[1])[1])).size
    assert first == (133, 100)
    assert second == (400, 300)
    bad = kv("describe", "a.png", "--max-size", "huge")
    assert bad.returncode == 2 and "--max-size" in bad.stderr


def test_animated_gif_keeps_frames_and_timing_when_resized(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "anim.gif").write_bytes(animated_gif(400, 300, frames=4, duration=70))
    r = kv("describe", "anim.gif", "--max-size", "200x200")
    assert r.returncode == 0, r.stderr
    mime, data = _sent_bytes(fake.chat_requests[0])
    img = Image.open(io.BytesIO(data))
    assert mime == "image/gif"
    assert img.size == (200, 150)
    assert img.n_frames == 4
    durations = []
    for i in range(img.n_frames):
        img.seek(i)
        durations.append(img.info["duration"])
    assert durations == [70] * 4


def test_bad_images_are_bad_input_and_batch_continues(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    good = image_bytes(30, 20, "PNG")
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "ok.png").write_bytes(good)
    r = kv("describe", "empty.png", "trunc.png", "ok.png", "-j", "1")
    assert r.returncode == 2
    assert "==> ok.png <==" in r.stdout and "a 30x20 image/png image" in r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("kimi-vision: error:")]
    assert any("empty.png: file is empty" in e for e in errors)
    assert any("trunc.png: cannot decode image" in e for e in errors)
    assert len(fake.chat_requests) == 1
    assert "Traceback" not in r.stderr


def test_several_inputs_print_under_headers(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 20, 10)
    r = kv("describe", "a.png", "b.png", "-j", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "==> a.png <=="
    assert "==> b.png <==" in lines
    assert r.stdout.index("10x10") < r.stdout.index("==> b.png <==") < r.stdout.index("20x10")


def test_stdin_input(kv, fake) -> None:
    r = kv("describe", "-", input=image_bytes(12, 34, "JPEG"))
    assert r.returncode == 0, r.stderr
    assert "a 12x34 image/jpeg image" in r.stdout


def test_prompt_system_model_max_tokens_json_mode(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv(
        "describe", "a.png", "-p", "What colour?", "--system", "Be terse.", "--max-tokens", "500",
        "--json-mode", "--no-thinking",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    body = fake.chat_requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert body["messages"][-1]["content"][-1] == {"type": "text", "text": "What colour?"}
    assert body["max_tokens"] == 500
    assert body["response_format"] == {"type": "json_object"}
    assert body["thinking"] == {"type": "disabled"}
    assert json.loads(r.stdout)["question"] == "What colour?"


def test_temperature_refused_for_k2_before_any_network(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "--temperature", "0.3")
    assert r.returncode == 2
    assert "--temperature" in r.stderr and "kimi-k2.6" in r.stderr
    assert fake.state.requests == []


def test_v1_vision_model_sends_temperature_and_no_thinking(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "-m", "moonshot-v1-8k-vision-preview", "--temperature", "0.3")
    assert r.returncode == 0, r.stderr
    body = fake.chat_requests[0].body
    assert body["model"] == "moonshot-v1-8k-vision-preview"
    assert body["temperature"] == 0.3
    assert "thinking" not in body


def test_model_from_env(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", extra_env={"KIMI_VISION_MODEL": "moonshot-v1-32k-vision-preview"})
    assert r.returncode == 0, r.stderr
    assert fake.chat_requests[0].body["model"] == "moonshot-v1-32k-vision-preview"


def test_video_goes_as_video_url_and_is_refused_on_v1(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(video_bytes())
    r = kv("describe", "clip.mp4")
    assert r.returncode == 0, r.stderr
    part = _parts(fake.chat_requests[0])[0]
    assert part["type"] == "video_url"
    assert part["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert _parts(fake.chat_requests[0])[-1]["text"] == "Describe the content of the video."
    r2 = kv("describe", "clip.mp4", "-m", "moonshot-v1-8k-vision-preview")
    assert r2.returncode == 2
    assert "cannot take video" in r2.stderr and "kimi-k2.6" in r2.stderr
    assert len(fake.chat_requests) == 1


def test_ask_sends_one_request_with_every_input(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.jpg", 20, 10, "JPEG")
    r = kv("ask", "Which is wider?", "a.png", "b.jpg")
    assert r.returncode == 0, r.stderr
    (req,) = fake.chat_requests
    parts = _parts(req)
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[-1]["text"] == "Which is wider?"
    assert "10x10" in r.stdout and "20x10" in r.stdout
    assert "==>" not in r.stdout


def test_ask_prefix_partial_mode(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("ask", "Name it", "a.png", "--prefix", "Verdict:")
    assert r.returncode == 0, r.stderr
    messages = fake.chat_requests[0].body["messages"]
    assert messages[-1] == {"role": "assistant", "content": "Verdict:", "partial": True}
    assert r.stdout.startswith("Verdict: continued after the prefix")


def test_ask_with_a_bad_input_sends_nothing(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("ask", "Q?", "a.png", "missing.png")
    assert r.returncode == 2
    assert "missing.png: no such file" in r.stderr
    assert fake.chat_requests == []


def test_show_thinking_goes_to_stderr(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "--show-thinking")
    assert r.returncode == 0
    assert "Looking at the media." in r.stderr
    assert "Looking at the media." not in r.stdout
    quiet = kv("describe", "a.png")
    assert "Looking" not in quiet.stderr + quiet.stdout


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_show_thinking_with_several_inputs_labels_each_piece(kv, fake, tmp_path: Path, jobs: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.23: with several inputs, each input's reasoning comes whole under a
    `==> INPUT (reasoning) <==` line on stderr, never unlabelled or interleaved."""
    names = ["a.png", "b.png", "c.png"]
    for name in names:
        write_image(tmp_path / name)
    fake.state.chunk_delay = 0.01  # the answers stream in pieces, as Moonshot's do
    r = kv("describe", "-j", jobs, "--show-thinking", *names)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("kimi-vision:")]
    headers, reasoning = lines[0::2], lines[1::2]
    assert sorted(headers) == [f"==> {n} (reasoning) <==" for n in names]
    assert reasoning == ["Looking at the media. "] * 3
    one = kv("describe", "a.png", "--show-thinking", "--on-exists", "overwrite")
    assert "(reasoning)" not in one.stderr  # one input: nothing to tell apart


def test_terminal_renders_markdown(invoke, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    code, out, err = invoke("describe", str(tmp_path / "a.png"), tty=True)
    assert code == 0, err
    assert "Answer 1" in out
    assert "**Answer 1**" not in out  # rendered, not raw Markdown
    code, out, err = invoke("describe", str(tmp_path / "a.png"), tty=False)
    assert "**Answer 1**" in out


def test_json_and_jsonl_formats(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 20, 10)
    r = kv("describe", "a.png", "b.png", "--format", "json", "-j", "1")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [d["input"] for d in doc] == ["a.png", "b.png"]
    assert doc[0]["finish_reason"] == "stop"
    assert doc[0]["usage"]["total_tokens"] > 0
    assert doc[0]["reasoning"].startswith("Looking")
    assert doc[0]["media"][0]["transport"] == "inline"
    r = kv("describe", "a.png", "b.png", "--format", "jsonl", "-j", "1")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 2 and lines[1]["input"] == "b.png"
    r = kv("ask", "Q?", "a.png", "b.png", "--format", "json")
    obj = json.loads(r.stdout)
    assert isinstance(obj, dict) and len(obj["media"]) == 2


def test_dry_run_prints_body_without_network_or_key(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(image_bytes(300, 200, "PNG"))
    r = kv("describe", "big.png", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert fake.state.requests == []
    body = json.loads(r.stdout)
    url = body["messages"][-1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and "base64 chars>" in url
    assert len(r.stdout) < 3000
    assert fake.api_key not in r.stdout + r.stderr
    # dry run works without a key at all
    r2 = kv("describe", "big.png", "--dry-run", extra_env={"MOONSHOT_API_KEY": ""})
    assert r2.returncode == 0


def test_missing_key_exit_3_names_variable(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", extra_env={"MOONSHOT_API_KEY": "", "KIMI_API_KEY": ""})
    assert r.returncode == 3
    assert "MOONSHOT_API_KEY" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_kimi_api_key_is_read_too(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", extra_env={"MOONSHOT_API_KEY": "", "KIMI_API_KEY": fake.api_key})
    assert r.returncode == 0, r.stderr


def test_wrong_key_exit_3_with_region_hint(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "--api-key", "sk-wrong")
    assert r.returncode == 3
    assert "authentication failed" in r.stderr
    assert "api.moonshot.cn" in r.stderr and "--region" in r.stderr
    assert "sk-wrong" not in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_model_is_named(kv, fake, tmp_path: Path) -> None:
    # Not in the table, not in GET /v1/models: refused before any input is read (issue 20).
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "missing.png", "-m", "kimi-nonexistent")
    assert r.returncode == 2
    assert "kimi-nonexistent" in r.stderr and "kimi-k2.6, kimi-k3, kimi-lens-preview" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "missing.png" not in r.stderr
    assert fake.chat_requests == []


@pytest.mark.process
def test_version_and_module_entry_point(kv) -> None:
    from kimi_vision_cli import __version__

    r = kv("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"kimi-vision {__version__}"
    proc = subprocess.run(
        [sys.executable, "-m", "kimi_vision_cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_usage_errors_are_one_line_exit_2(kv) -> None:
    r = kv("describe", "--format", "xml", "a.png")
    assert r.returncode == 2
    assert r.stderr.startswith("kimi-vision: error:") and len(r.stderr.strip().splitlines()) == 1
    r = kv("describe", "--no-such-flag", "a.png")
    assert r.returncode == 2 and "--no-such-flag" in r.stderr


def test_ask_walks_a_directory_with_r(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    (tmp_path / "set").mkdir()
    write_image(tmp_path / "set" / "a.png", 20, 10)
    write_image(tmp_path / "set" / "b.png", 30, 10)
    r = kv("ask", "Which is wider?", "set")
    assert r.returncode == 2 and "pass -r" in r.stderr  # the hint names an option ask has
    r = kv("ask", "-r", "Which is wider?", "set")
    assert r.returncode == 0, r.stderr
    (req,) = fake.chat_requests
    parts = req.body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
