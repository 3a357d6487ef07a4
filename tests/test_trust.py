"""Issue 11: a CI job trusts the exit code and the files. No traceback, no caption lost
without an error, no paid request whose answer cannot be kept."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import installed_command
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
    ("fault", "code"),
    [
        (Fault(cut_after=2), 75),  # the stream cut mid-answer (no [DONE]), --retries 0
        (Fault(finish_reason="length"), 1),  # max_tokens reached: the caption stops mid-sentence
    ],
)
def test_at_j2_a_failed_answer_prints_nothing_on_stdout(
    kv, fake, tmp_path: Path, fault: Fault, code: int
) -> None:
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


def test_batch_results_in_text_print_no_half_answer(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    batch_id = kv("batch", "submit", "a.png", "--max-tokens", "3").stdout.strip()
    kv("batch", "status", batch_id)  # the loopback server ends a batch once it is polled
    r = kv("batch", "results", batch_id)
    assert r.returncode == 1, r.all
    assert r.stdout == "" and "a.png: the answer was cut at the max_tokens limit" in r.stderr
    assert "— raise --max-tokens (max_tokens) and resubmit" in r.stderr
    r = kv("batch", "results", batch_id, "--format", "jsonl")
    assert json.loads(r.stdout)["text"]  # the record keeps what came, next to its error


# -- SIGTERM is Ctrl-C with exit 143 --------------------------------------------------------


def _wait_for(check, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check(), "the run never got there"


@pytest.mark.process
def test_sigterm_stops_like_ctrl_c_with_exit_143(env, fake, tmp_path: Path) -> None:
    names = [write_image(tmp_path / f"img{i:02d}.png", 8 + i, 6).name for i in range(16)]
    fake.state.latency = 0.3
    cmd = [*installed_command(), "describe", "-j", "2", "--output-dir", "caps", *names]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(lambda: len(list((tmp_path / "caps").glob("*.txt"))) >= 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    text = err.decode()
    assert proc.returncode == 143, text
    assert "Traceback" not in text
    assert "kimi-vision: interrupted:" in text and "rerun to finish the rest" in text  # the summary
    done = sorted((tmp_path / "caps").glob("*"))
    assert 3 <= len(done) < 16 and all(p.name.endswith(".png.txt") for p in done)  # no temp files
    assert all(p.read_text().endswith(".\n") for p in done)  # each whole
    sent = len(fake.chat_requests)
    assert sent < 16  # no request started after the signal but those already in flight


@pytest.mark.process
def test_sigterm_during_ask_is_one_line_exit_143(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.state.chunk_delay = 0.2  # a long answer: the signal comes while it streams
    proc = subprocess.Popen(
        [*installed_command(), "ask", "What is it?", "a.png"], cwd=tmp_path, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_for(lambda: len(fake.chat_requests) == 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert err.decode().strip().splitlines()[-1] == "kimi-vision: terminated — rerun to finish"
    assert "Traceback" not in err.decode()


@pytest.mark.process
@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_ctrl_c_during_ask_gives_the_interrupted_record_describe_gives(
    env, fake, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.8: an interrupted `ask --format json` printed `null`, jsonl nothing, and
    SIGINT said nothing on stderr. Now one record with code `interrupted`, a line on
    stderr, exit 130, as a describe gives."""
    from tests.test_batch import _interrupted

    write_image(tmp_path / "a.png")
    fake.state.chunk_delay = 0.2  # a long answer: the signal comes while it streams
    cmd = [*installed_command(), "ask", "What is it?", "a.png", "--no-thinking", "--format", fmt]
    code, out, err = _interrupted(cmd, env, tmp_path, lambda: len(fake.chat_requests) == 1, then=0.8)
    text = err.decode()
    assert code == 130, text
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1] == "kimi-vision: interrupted — rerun to finish"
    if fmt == "text":  # the streamed half is said to be half
        assert ("the text above on stdout is incomplete" in text) == bool(out.strip()), (out, text)
        return
    record = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()][-1]
    assert len(out.decode().strip().splitlines()) == 1 or fmt == "json"
    assert record["input"] == "a.png"
    assert record["error"]["code"] == "interrupted"
    assert record["error"]["message"].startswith("a.png: interrupted: stopped before the answer was whole")


def test_a_failed_ask_record_names_its_inputs(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.8: `ask q a.png empty.png --format json` gave `"input": ""`."""
    write_image(tmp_path / "a.png")
    (tmp_path / "empty.png").write_bytes(b"")
    r = kv("ask", "What is it?", "a.png", "empty.png", "--format", "json")
    assert r.returncode == 2
    record = json.loads(r.stdout)
    assert record["input"] == "a.png, empty.png"
    assert record["error"]["code"] == "bad_input"
    assert fake.chat_requests == []


# -- nothing found is said ------------------------------------------------------------------


@pytest.mark.parametrize("command", [["describe"], ["estimate"], ["upload"], ["ask", "What?"]])
def test_a_walk_that_finds_nothing_is_an_input_error(kv, fake, tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no media here")
    r = kv(*command, "-r", "empty")
    assert r.returncode == 2, r.all
    assert "empty: no image or video file found in it" in r.stderr
    r = kv(*command, "-r", "notes")
    assert r.returncode == 2 and "notes: no image or video file found in it" in r.stderr
    assert fake.chat_requests == [] and fake.requests_to("/v1/files") == []


def test_a_walk_with_media_deep_inside_is_not_empty(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "top" / "sub").mkdir(parents=True)
    write_image(tmp_path / "top" / "sub" / "a.png")
    r = kv("describe", "-r", "top", "--format", "jsonl")
    assert r.returncode == 0, r.all
    assert json.loads(r.stdout)["input"] == "top/sub/a.png"


# -- no paid request wasted -----------------------------------------------------------------


@pytest.mark.parametrize("j", ["1", "4"])
def test_an_unknown_model_stops_a_run_at_the_first_404(kv, fake, tmp_path: Path, j: str) -> None:
    # GET /v1/models lists it, the chat endpoint says it does not exist (a model retired
    # between the two): the first 404 stops the run, naming the account's vision models.
    listed = fake._server.models()
    fake._server.models = lambda: [*listed, {**listed[0], "id": "kimi-nonexistent"}]  # type: ignore[method-assign]
    names = [write_image(tmp_path / f"img{i:02d}.png", 8 + i, 6).name for i in range(12)]
    r = kv("describe", "-j", j, "-m", "kimi-nonexistent", *names, "--format", "jsonl")
    assert r.returncode == 1, r.all
    assert len(fake.chat_requests) <= int(j)  # the first answer stops it; those in flight end
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "model kimi-nonexistent no longer exists" in errors[0]
    assert "pick one with -m: kimi-k2.6, kimi-k3" in errors[0]
    assert "stopped:" in r.stderr  # the summary says the rest was not sent
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 12  # one per input (SPEC): the unsent ones say not_started
    assert {rec["error"]["code"] for rec in records} == {"model_not_found", "not_started"}
    assert records[0]["error"]["code"] == "model_not_found"


def test_temperature_on_a_k2_model_is_refused_before_any_input_is_read(kv, fake, tmp_path: Path) -> None:
    names = [write_image(tmp_path / f"img{i}.png").name for i in range(3)]
    for command in (
        ["describe", *names],
        ["describe", "missing.png", *names],
        ["ask", "What?", *names],
        ["estimate", *names],
    ):
        r = kv(*command, "-m", "kimi-k2.6", "--temperature", "0.3")
        assert r.returncode == 2, r.all
        # once, with no input named, and before missing.png is even looked at
        assert r.stderr.splitlines() == [
            "kimi-vision: error: --temperature (temperature) cannot be set for kimi-k2.6: its sampling is fixed — "
            "drop --temperature, or use a moonshot-v1-*-vision-preview model"
        ], r.stderr
    assert fake.state.requests == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_sidecar_no_input_could_write_stops_the_run(
    kv, fake, tmp_path: Path, monkeypatch, code: int
) -> None:
    from kimi_vision_cli.output import sidecar

    def full(path: Path, data: bytes) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(sidecar, "replace_file", full)
    names = [write_image(tmp_path / f"img{i:02d}.png", 8 + i, 6).name for i in range(8)]
    r = kv("describe", "-j", "1", "--output-dir", "caps", *names)
    assert r.returncode == 1, r.all
    assert len(fake.chat_requests) == 1  # no answer paid for after the first that could not be kept
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "img00.png: cannot write sidecar" in errors[0]
    assert "stopped:" in r.stderr


def test_a_sidecar_one_input_cannot_write_fails_that_input_only(kv, fake, tmp_path: Path) -> None:
    names = [write_image(tmp_path / f"img{i}.png", 8 + i, 6).name for i in range(3)]
    (tmp_path / "caps").mkdir()
    (tmp_path / "caps" / "img1.png.txt").mkdir()  # a directory where its sidecar goes
    r = kv("describe", "-j", "1", "--output-dir", "caps", "--on-exists", "overwrite", *names)
    assert r.returncode == 1, r.all
    assert len(fake.chat_requests) == 3
    assert (tmp_path / "caps" / "img2.png.txt").read_text().endswith(".\n")


# -- a skip is said -------------------------------------------------------------------------


def test_a_single_input_skipped_says_so(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 30, 20)
    assert kv("describe", "--sidecar", "txt", "a.png").returncode == 0
    r = kv("describe", "--sidecar", "txt", "a.png")
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "kimi-vision: a.png: skipped, its caption is already written (--on-exists skip) — "
        "pass --on-exists overwrite to describe it again"
    ]
    # several: the summary counts them; -v names each
    r = kv("describe", "--sidecar", "txt", "a.png", "b.png")
    assert "a.png: skipped" not in r.stderr and "1 done, 0 failed, 1 skipped" in r.stderr
    r = kv("describe", "--sidecar", "txt", "-v", "a.png", "b.png")
    assert "a.png: skipped" in r.stderr and "b.png: skipped" in r.stderr
    assert len(fake.chat_requests) == 2


# -- no caption lost to a shared sidecar ----------------------------------------------------


def test_x_and_dotdot_x_get_two_sidecars(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    write_image(tmp_path / "x.png", 40, 30)
    write_image(tmp_path / "work" / "x.png", 30, 20)
    r = kv("describe", "x.png", "../x.png", "--output-dir", "caps", cwd=tmp_path / "work")
    assert r.returncode == 0, r.all
    mine = tmp_path / "work" / "caps" / "x.png.txt"
    above = tmp_path / "work" / "caps" / (str(tmp_path / "x.png").lstrip("/") + ".txt")
    assert "a 30x20 image/png" in mine.read_text() and "a 40x30 image/png" in above.read_text()


def test_an_absolute_path_whose_sidecar_is_another_files_is_refused(kv, fake, tmp_path: Path) -> None:
    """`/d/x.png` and `d/x.png` (another file, under the current directory) would both
    caption into caps/d/x.png.txt: the absolute one is refused, naming both, in either
    order and in a later run too; the relative one is described."""
    (tmp_path / "elsewhere").mkdir()
    absolute = str(write_image(tmp_path / "elsewhere" / "x.png", 40, 30))
    rel = absolute.lstrip("/")  # what `absolute` is named by under --output-dir
    work = tmp_path / "work"
    (work / rel).parent.mkdir(parents=True)
    write_image(work / rel, 20, 10)  # another file, whose own name that is
    for order in ([absolute, rel], [rel, absolute]):
        sent = len(fake.chat_requests)
        r = kv("describe", *order, "--output-dir", "caps", "--on-exists", "overwrite", cwd=work)
        assert r.returncode == 2, r.all
        errors = [line for line in r.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1
        assert errors[0].startswith(f"kimi-vision: error: {absolute}: its sidecar caps/{rel}.txt")
        assert f"is also the sidecar of {rel}, another file" in errors[0]
        assert len(fake.chat_requests) - sent == 1  # only the relative one was sent
        assert "a 20x10 image/png" in (work / "caps" / (rel + ".txt")).read_text()
    # a later run with the absolute one alone is refused too, not skipped
    r = kv("describe", absolute, "--output-dir", "caps", cwd=work)
    assert r.returncode == 2 and "is also the sidecar of" in r.stderr
    # the same file given both ways is no conflict
    r = kv("describe", str(work / rel), rel, "--output-dir", "caps", "--on-exists", "overwrite", cwd=work)
    assert r.returncode == 0, r.all


def test_a_url_whose_sidecar_is_a_files_is_refused(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "example.com").mkdir()
    write_image(tmp_path / "example.com" / "a.png")
    r = kv("describe", "https://example.com/a.png", "--output-dir", "caps", cwd=tmp_path)
    assert r.returncode == 2 and "is also the sidecar of example.com/a.png, another file" in r.stderr
    assert fake.chat_requests == [] and fake.requests_to("/", "GET") == []


def test_url_sidecars_keep_the_port(tmp_path: Path) -> None:
    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.types import Source

    out = SidecarSpec("txt", tmp_path)
    a = out.path_for(Source("url", "http://h:8080/a.png"))
    b = out.path_for(Source("url", "http://h/a.png"))
    assert a == tmp_path / "h_8080/a.png.txt" and b == tmp_path / "h/a.png.txt"


def test_stdin_is_never_skipped_and_its_sidecar_holds_the_last(kv, fake, tmp_path: Path) -> None:
    from tests.media import image_bytes

    first, other = image_bytes(40, 30), image_bytes(30, 20)
    assert kv("describe", "-", "--output-dir", "caps", input=first).returncode == 0
    r = kv("describe", "-", "--output-dir", "caps", input=other)
    assert r.returncode == 0, r.all
    assert "skipped" not in r.stderr and len(fake.chat_requests) == 2
    assert "a 30x20 image/png" in (tmp_path / "caps" / "stdin.txt").read_text()


# -- where captions go is checked before the first request ---------------------------------


@pytest.mark.parametrize("where", ["afile/caps", "afile"])
def test_an_output_dir_under_a_file_is_refused_before_any_request(
    kv, fake, tmp_path: Path, where: str
) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "afile").write_text("not a directory")
    r = kv("describe", "a.png", "--output-dir", where)
    assert r.returncode == 2, r.all
    assert r.stderr.count("\n") == 1 and "--output-dir" in r.stderr
    if where == "afile/caps":  # (`afile` itself is refused by the option's own check)
        assert f"{tmp_path / 'afile'} is not a directory — pass a directory path" in r.stderr
    assert fake.state.requests == [] and not (tmp_path / "afile.txt").exists()


def test_an_unwritable_output_dir_is_refused_before_any_request(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "ro").mkdir()
    from kimi_vision_cli import atomic

    real = atomic.try_creating

    def refuse(where: Path) -> None:  # the suite may run as root: permission bits stop no write
        if where == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied")
        real(where)

    monkeypatch.setattr(atomic, "try_creating", refuse)
    r = kv("describe", "a.png", "--output-dir", "ro/caps")
    assert r.returncode == 1, r.all
    assert (
        "--output-dir ro/caps:" in r.stderr
        and "cannot be written" in r.stderr
        and "nothing was sent" in r.stderr
    )
    assert r.stderr.count("\n") == 1 and fake.state.requests == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_dir_where_no_file_can_be_made_is_refused_before_any_request(
    kv, fake, tmp_path: Path
) -> None:
    """access(2) says yes to root in /proc, where no file can be made: the check tries, so
    the run stops before paying for a caption it could not write (exit 1, one line)."""
    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "--output-dir", "/proc/caps")
    assert r.returncode == 1, r.all
    assert r.stderr.startswith("kimi-vision: error: --output-dir /proc/caps: /proc cannot be written (")
    assert r.stderr.count("\n") == 1 and fake.state.requests == []
