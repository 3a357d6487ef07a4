"""Faults from the server, through the installed command against the loopback server
(issue 6). Each test would fail without the behaviour it names."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fake_moonshot import Fault
from tests.scenarios import run

CAPTION = "a 24x16 image/png image"


def one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("kimi-vision: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_5xx_once_is_retried_and_succeeds(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "5xx-once")
    assert r.returncode == 0, r.stderr
    assert CAPTION in r.stdout
    assert len(fake.chat_requests) == 2  # the SDK retried once
    assert r.stderr == ""


def test_5xx_forever_exits_75_after_retries(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "5xx-forever")
    assert r.returncode == 75, r.stderr
    assert r.stdout == ""
    line = one_error_line(r.stderr)
    assert "good.png" in line and "busy" in line and "rerun" in line
    assert len(fake.chat_requests) == 2  # --retries 1: one try, one retry
    assert "Traceback" not in r.stderr


def test_cut_before_any_answer_is_retried(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "cut-before-answer")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("**Answer 1**") == 1 and CAPTION in r.stdout
    assert len(fake.chat_requests) == 2
    assert "retrying (1/2)" in r.stderr


def test_cut_forever_is_temporary(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "cut-forever")
    assert r.returncode == 75, r.stderr
    assert r.stdout == ""
    assert "before [DONE]" in one_error_line(r.stderr)
    assert len(fake.chat_requests) == 2


def test_cut_mid_answer_is_reported_truncated_not_retried(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "cut-mid-answer")
    assert r.returncode == 1, r.stderr
    # What was printed stays (it streamed live), ends with a newline, and is flagged.
    assert r.stdout.startswith("**Answer 1**") and r.stdout.endswith("\n")
    assert CAPTION not in r.stdout
    line = one_error_line(r.stderr)
    assert "cut after" in line and "incomplete" in line
    assert len(fake.chat_requests) == 1  # a retry would print a second answer


def test_cut_mid_answer_in_jsonl_is_retried(kv, fake, tmp_path: Path) -> None:
    # Nothing reaches stdout before the whole record: retrying is safe.
    r = run(kv, fake, tmp_path, "cut-mid-answer", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert CAPTION in rec["text"] and rec["error"] is None and rec["finish_reason"] == "stop"


def test_finish_reason_length_warns_and_exits_1(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "finish-length", "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    assert "max_tokens" in one_error_line(r.stderr) and "--max-tokens" in r.stderr
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert rec["finish_reason"] == "length"
    assert rec["error"]["code"] == "truncated"


def test_content_filter_400(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "content-filter-400")
    assert r.returncode == 1, r.stderr
    line = one_error_line(r.stderr)
    assert "content filter" in line and "high risk" in line
    assert len(fake.chat_requests) == 1  # a refusal is not retried


def test_content_filter_finish_reason(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "content-filter-finish", "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    assert "content filter" in one_error_line(r.stderr)
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert rec["error"]["code"] == "content_filter"


def test_slow_server_times_out_with_75(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "slow-server")
    assert r.returncode == 75, r.stderr
    assert "timed out after 1s" in one_error_line(r.stderr)


def test_413_html_points_at_upload(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "413-html")
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "--upload" in line
    # The unit is the one computed (MiB), and --max-size is not offered for videos alone.
    assert "100 MiB" in line and "--downscale-video" in line and "--max-size for images" in line
    assert "<html" not in r.stderr.lower() and "<h1>" not in r.stderr and r.stdout == ""


def test_malformed_chunk(kv, fake, tmp_path: Path) -> None:
    r = run(kv, fake, tmp_path, "malformed-chunk")
    assert r.returncode == 1, r.stderr
    assert "malformed stream chunk" in one_error_line(r.stderr)
    assert "this is not json" not in r.stderr


def test_error_mid_stream_on_a_terminal_keeps_the_partial_text(
    invoke, fake, tmp_path: Path, monkeypatch
) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png", 24, 16)
    monkeypatch.chdir(tmp_path)
    fake.inject(Fault(cut_after=2))
    code, out, err = invoke("describe", "-j", "1", "a.png", tty=True)
    assert code == 1
    assert "Answer 1" in out and CAPTION not in out
    assert "cut after" in err


def test_several_inputs_go_on_past_a_fault(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "b.png", 30, 20)
    fake.inject(Fault(status=400, type="content_filter", message="high risk"))
    write_image(tmp_path / "good.png", 24, 16)
    r = kv("describe", "-j", "1", "b.png", "good.png")
    assert r.returncode == 1
    assert CAPTION in r.stdout and "30x20" not in r.stdout


def test_ask_cut_before_answer_retried_and_mid_answer_reported(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png", 24, 16)
    fake.inject(Fault(cut_after=0))
    r = kv("ask", "What is it?", "a.png")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("**Answer 1**") == 1 and CAPTION in r.stdout
    fake.inject(Fault(cut_after=2))
    r = kv("ask", "What is it?", "a.png")
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("**Answer 1**") and CAPTION not in r.stdout
    assert "incomplete" in one_error_line(r.stderr)
