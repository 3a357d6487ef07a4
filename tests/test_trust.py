"""Issue 11: a CI job trusts the exit code and the files. No traceback, no caption lost
without an error, no paid request whose answer cannot be kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import write_image

# -- bad ids: one line, exit 2, never looked up ------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["describe", "photo.png", "ms://"],
        ["describe", "ms://a/b"],
        ["ask", "what?", "ms://a/b"],
        ["ask", "what?", "ms://"],
        ["estimate", "ms://"],
        ["estimate", "--ask", "what?", "ms://a/b"],
        ["upload", "ms://"],
    ],
)
def test_a_bad_file_id_is_one_line_exit_2_and_never_looked_up(
    kv, fake, tmp_path: Path, args: list[str]
) -> None:
    write_image(tmp_path / "photo.png")
    r = kv(*args)
    assert r.returncode == 2, r.all
    assert "Traceback" not in r.all
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "not a valid ms://FILE_ID" in errors[0], r.stderr
    assert fake.requests_to("/v1/files", "GET") == []  # no lookup of the bad id
    if args[0] == "describe" and "photo.png" in args:
        assert len(fake.chat_requests) == 1  # the good input still goes
    else:
        assert fake.chat_requests == [] and fake.requests_to("/v1/tokenizers") == []


@pytest.mark.parametrize("action", ["status", "cancel", "results"])
@pytest.mark.parametrize("bad", ["", "a/b", ".."])
def test_a_bad_batch_id_is_one_line_exit_2_and_never_looked_up(kv, fake, action: str, bad: str) -> None:
    r = kv("batch", action, bad)
    assert r.returncode == 2, r.all
    assert "Traceback" not in r.all
    assert r.stderr.count("\n") == 1 and "not a batch id" in r.stderr
    assert fake.state.requests == []


# -- upload lines match their inputs -------------------------------------------------------


def test_upload_of_several_inputs_names_each_line(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "bad.png").write_text("not an image")
    write_image(tmp_path / "c.png", 30, 20)
    r = kv("upload", "a.png", "bad.png", "c.png")
    assert r.returncode == 2
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [name for _, name in rows] == ["a.png", "c.png"]  # the failed one has no line
    assert all(url.startswith("ms://") and url[5:] in fake.state.files for url, _ in rows)
    # -r counts as several (as describe's headers do)
    (tmp_path / "d").mkdir()
    write_image(tmp_path / "d" / "x.png", 20, 10)
    r = kv("upload", "-r", "d")
    assert r.returncode == 0 and r.stdout.rstrip("\n").split("\t")[1] == "d/x.png"
    # one input: the bare ms://ID, as before
    r = kv("upload", "a.png")
    assert r.returncode == 0 and r.stdout.count("\t") == 0 and r.stdout.startswith("ms://")


# -- stdout holds whole answers only ------------------------------------------------------


@pytest.mark.parametrize(
    "fault,code",
    [
        (Fault(cut_after=2), 75),  # the stream cut mid-answer (no [DONE]), --retries 0
        (Fault(finish_reason="length"), 1),  # max_tokens reached: the caption stops mid-sentence
    ],
)
def test_at_j2_a_failed_answer_prints_nothing_on_stdout(kv, fake, tmp_path: Path, fault: Fault, code: int) -> None:
    write_image(tmp_path / "a.png", 40, 30)
    write_image(tmp_path / "b.png", 30, 20)
    fake.inject(fault)
    r = kv("describe", "-j", "2", "--retries", "0", "a.png", "b.png")
    assert r.returncode == code, r.all
    failed = [name for name in ("a.png", "b.png") if f"{name}:" in r.stderr]
    ok = [name for name in ("a.png", "b.png") if name not in failed]
    assert len(failed) == len(ok) == 1, r.stderr
    # only the whole answer, under its header; the failed input is not on stdout at all
    assert failed[0] not in r.stdout
    assert r.stdout.startswith(f"==> {ok[0]} <==\n") and r.stdout.count("==>") == 1


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_ask_prefix_that_fails_prints_no_prefix(kv, fake, tmp_path: Path, fmt: str) -> None:
    write_image(tmp_path / "a.png")
    fake.inject(Fault(status=400, type="invalid_request_error", message="something is wrong"))
    r = kv("ask", "Name it", "a.png", "--prefix", "Verdict:", "--format", fmt)
    assert r.returncode == 1, r.all
    assert "Verdict" not in r.stdout
    if fmt != "text":
        record = json.loads(r.stdout)
        assert record["text"] == "" and record["error"]["code"]
    # and when it answers, the answer starts with the prefix, in text and in json
    r = kv("ask", "Name it", "a.png", "--prefix", "Verdict:", "--format", fmt)
    assert r.returncode == 0, r.all
    text = r.stdout if fmt == "text" else json.loads(r.stdout)["text"]
    assert text.startswith("Verdict:")
