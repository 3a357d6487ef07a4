"""Small frictions (issue 19, items 19-22 and 25): errors that say what to do, input
lists and walks, and rate-limit pacing that says what it does."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import write_image


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("kimi-vision: error:")]


# -- 19.19: errors that say what to do ------------------------------------------------


def test_a_sidecar_beside_its_input_that_cannot_be_written_names_that_folder(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    from kimi_vision_cli.output import sidecar

    def denied(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(sidecar, "replace_file", denied)
    (tmp_path / "pics").mkdir()
    write_image(tmp_path / "pics" / "a.png", 8, 6)
    r = kv("describe", "--sidecar", "txt", "pics/a.png")
    assert r.returncode == 1, r.all
    (line,) = _errors(r.stderr)
    assert "cannot write sidecar pics/a.png.txt" in line
    assert "--output-dir DIR" in line and "check that pics can be written" in line
    assert "check --output-dir" not in line  # none was given
    r = kv("describe", "--sidecar", "txt", "-", input=(tmp_path / "pics" / "a.png").read_bytes())
    (line,) = _errors(r.stderr)
    assert "cannot write sidecar stdin.txt" in line
    assert (
        "sidecars go under the current directory for URLs, ms:// and -: check that . can be written" in line
    )


def test_a_sidecar_under_output_dir_that_cannot_be_written_names_the_dir(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    from kimi_vision_cli.output import sidecar

    def denied(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(sidecar, "replace_file", denied)
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("describe", "--output-dir", "caps", "a.png")
    (line,) = _errors(r.stderr)
    assert "check that --output-dir caps can be written" in line


@pytest.mark.parametrize("max_tokens", [None, "9000"])
def test_a_token_limit_refusal_names_the_options_that_make_it_fit(
    kv, fake, tmp_path: Path, max_tokens: str | None
) -> None:
    fake.inject(
        Fault(
            status=400,
            type="invalid_request_error",
            message="Invalid request: Your request exceeded model token limit: 8192 (requested: 12285)",
        )
    )
    write_image(tmp_path / "a.png", 8, 6)
    extra = ["--max-tokens", max_tokens] if max_tokens else []
    r = kv("describe", "a.png", *extra)
    assert r.returncode == 1, r.all
    (line,) = _errors(r.stderr)
    assert "exceeded model token limit: 8192" in line
    assert "--max-size" in line and "larger context" in line
    said = (
        "lower --max-tokens (max_tokens), now 9,000"
        if max_tokens
        else "set a smaller --max-tokens (max_tokens)"
    )
    assert said in line


@pytest.mark.parametrize(
    ("args", "message", "named"),
    [
        (["-m", "moonshot-v1-8k-vision-preview", "--temperature", "0.3"],
         "invalid temperature: only 1 is allowed for this model", "--temperature (temperature)"),
        (["-m", "kimi-k3", "--max-tokens", "500000"],
         "max_completion_tokens must be at most 131072", "--max-tokens (max_completion_tokens)"),
        (["-m", "kimi-k3", "--effort", "high"],
         "reasoning_effort must be one of low, high, max", "--effort (reasoning_effort)"),
    ],
)  # fmt: skip
def test_an_api_refusal_of_a_field_names_its_flag_and_the_field(
    kv, fake, tmp_path: Path, args: list[str], message: str, named: str
) -> None:
    """A 400 about a request field names the flag that sets it beside the API's keyword,
    as the refusals made before sending do (`--temperature (temperature) cannot be set`)."""
    fake.inject(Fault(status=400, type="invalid_request_error", message=message))
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("describe", "a.png", *args)
    assert r.returncode == 1, r.all
    assert _errors(r.stderr) == [
        f"kimi-vision: error: a.png: request refused: {message} (invalid_request_error) — "
        f"it is about {named}: change or drop it"
    ]


@pytest.mark.parametrize(
    ("model", "field"), [("kimi-k2.6", "max_tokens"), ("kimi-k3", "max_completion_tokens")]
)
def test_a_cut_answer_names_the_flag_and_the_models_field(
    kv, fake, tmp_path: Path, model: str, field: str
) -> None:
    fake.inject(Fault(finish_reason="length"))
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("describe", "a.png", "-m", model)
    assert r.returncode == 1, r.all
    assert _errors(r.stderr) == [
        f"kimi-vision: error: a.png: the answer was cut at the {field} limit — "
        f"raise --max-tokens ({field}) to get the whole answer"
    ]


@pytest.mark.parametrize("other", [["--json-mode"], ["--schema", "alt_text"]])
def test_ask_prefix_with_a_response_format_is_refused_before_sending(
    kv, fake, tmp_path: Path, other: list[str]
) -> None:
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("ask", "what is it?", "a.png", "--prefix", "{", *other)
    assert r.returncode == 2, r.all
    (line,) = _errors(r.stderr)
    assert f"--prefix (Partial Mode) cannot be combined with {other[0]}" in line
    assert fake.state.requests == []


# -- 19.20: --files-from0, and names quoted so their spaces show ------------------------


def test_files_from0_reads_nul_separated_names_whole(kv, fake, tmp_path: Path) -> None:
    names = ["a b.png", " lead.png", "new\nline.png"]
    for i, name in enumerate(names):
        write_image(tmp_path / name, 8 + i, 6)
    listing = b"\0".join(n.encode() for n in names) + b"\0"  # find -print0 ends with NUL
    (tmp_path / "list0").write_bytes(listing)
    r = kv("describe", "--files-from0", "list0", "--format", "jsonl")
    assert r.returncode == 0, r.all
    assert len(fake.chat_requests) == 3
    r = kv("estimate", "--files-from0", "-", "--dry-run", "--format", "jsonl", input=listing)
    assert r.returncode == 0, r.all
    assert len(r.stdout.splitlines()) == 3


def test_files_from0_and_files_from_together_are_refused(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "l").write_text("a.png\n")
    r = kv("describe", "--files-from", "l", "--files-from0", "l")
    assert r.returncode == 2
    assert "--files-from and --files-from0 cannot be used together" in r.stderr
    r = kv("describe", "-", "--files-from0", "-", input=b"a.png\0")
    assert r.returncode == 2 and "--files-from0 - reads the list from it" in r.stderr
    assert fake.state.requests == []


def test_a_nul_in_a_files_from_line_points_to_files_from0(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "l").write_bytes(b"a.png\0b.png\n")
    r = kv("describe", "--files-from", "l")
    assert r.returncode == 2 and "use --files-from0" in r.stderr


def test_a_name_with_edge_spaces_is_quoted_in_errors_and_kept_in_records(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "l").write_text("  many/img03.png\nit's.png \n")
    r = kv("describe", "--files-from", "l", "--format", "jsonl")
    assert r.returncode == 2
    errors = _errors(r.stderr)
    assert errors[0].startswith("kimi-vision: error: '  many/img03.png': no such file")
    assert errors[1].startswith("kimi-vision: error: 'it'\\''s.png ': no such file")
    import json

    inputs = [json.loads(line)["input"] for line in r.stdout.splitlines()]
    assert inputs == ["  many/img03.png", "it's.png "]  # data keeps the name as it is


def test_plain_names_are_not_quoted(kv, fake, tmp_path: Path) -> None:
    r = kv("describe", "missing.png")
    assert _errors(r.stderr) == ["kimi-vision: error: missing.png: no such file — check the path"]


# -- 19.21: -r skips hidden entries unless --hidden; --exclude GLOB ----------------------


def _tree(root: Path) -> None:
    for rel in ["a.png", "._a.png", ".hidden.png", ".git/b.png", "raw/c.png", "sub/raw/d.png",
                "sub/e.gif", "drafts/f.png", "sub/drafts/g.png"]:  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_image(root / rel, 8, 6, fmt="GIF" if rel.endswith(".gif") else "PNG")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")


def _listed(kv, *args: str) -> list[str]:
    import json

    r = kv("estimate", "--dry-run", "--format", "json", *args)
    assert r.returncode == 0, r.all
    return sorted(item["input"] for item in json.loads(r.stdout)["inputs"])


def test_a_walk_skips_hidden_and_appledouble_files_by_default(kv, fake, tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    assert _listed(kv, "-r", "t") == sorted(
        ["t/a.png", "t/raw/c.png", "t/sub/raw/d.png", "t/sub/e.gif", "t/drafts/f.png", "t/sub/drafts/g.png"]
    )
    shown = _listed(kv, "-r", "t", "--hidden")
    assert {"t/._a.png", "t/.hidden.png", "t/.git/b.png"} <= set(shown)
    # A hidden file named on the command line is taken as given.
    write_image(tmp_path / ".x.png", 8, 6)
    assert _listed(kv, ".x.png") == [".x.png"]


def test_a_hidden_directory_given_to_r_is_walked(kv, fake, tmp_path: Path) -> None:
    (tmp_path / ".photos").mkdir()
    write_image(tmp_path / ".photos" / "a.png", 8, 6)
    assert _listed(kv, "-r", ".photos") == [".photos/a.png"]


def test_exclude_matches_base_names_and_paths_under_the_walked_root(kv, fake, tmp_path: Path) -> None:
    _tree(tmp_path / "t")
    # No slash: a base name at any depth; trailing slash: directories only.
    assert _listed(kv, "-r", "t", "--exclude", "*.gif", "--exclude", "raw/") == sorted(
        ["t/a.png", "t/drafts/f.png", "t/sub/drafts/g.png"]
    )
    # A slash: the path under the walked directory, from its start.
    assert _listed(kv, "-r", "t", "--exclude", "drafts/*.png") == sorted(
        ["t/a.png", "t/raw/c.png", "t/sub/raw/d.png", "t/sub/e.gif", "t/sub/drafts/g.png"]
    )
    assert _listed(kv, "-r", "t", "--exclude", "**/drafts/") == sorted(
        ["t/a.png", "t/raw/c.png", "t/sub/raw/d.png", "t/sub/e.gif"]
    )
    # raw/ is a directory pattern: a file named raw is not matched by it.
    assert "t/sub/e.gif" in _listed(kv, "-r", "t", "--exclude", "e.gif/")


def test_exclude_leaves_named_inputs_alone_and_a_walk_left_empty_says_why(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    write_image(tmp_path / "t" / "a.gif", 8, 6, fmt="GIF")
    assert _listed(kv, "t/a.gif", "--exclude", "*.gif") == ["t/a.gif"]
    r = kv("describe", "-r", "t", "--exclude", "*.gif")
    assert r.returncode == 2
    assert "no image or video file found in it" in r.stderr and "--exclude" in r.stderr
    assert fake.chat_requests == []


def test_appledouble_files_do_not_fail_a_run(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    write_image(tmp_path / "t" / "a.jpg", 8, 6, fmt="JPEG")
    (tmp_path / "t" / "._a.jpg").write_bytes(b"\0\5\26\7" + b"\0" * 60)  # AppleDouble header
    r = kv("describe", "-r", "t")
    assert r.returncode == 0, r.all
    assert len(fake.chat_requests) == 1


# -- 19.25: behaviour the docs hid ------------------------------------------------------


@pytest.mark.parametrize("command", ["describe", "estimate"])
def test_a_text_dry_run_of_several_inputs_names_each_body(kv, fake, tmp_path: Path, command: str) -> None:
    import json

    write_image(tmp_path / "a.png", 8, 6)
    write_image(tmp_path / "b.png", 9, 6)
    r = kv(command, "--dry-run", "a.png", "b.png")
    assert r.returncode == 0, r.all
    first, second = r.stdout.split("\n\n==> b.png <==\n")
    assert first.startswith("==> a.png <==\n")
    for body in (first.split("\n", 1)[1], second):
        assert json.loads(body)["model"]
    one = kv(command, "--dry-run", "a.png")
    assert "==>" not in one.stdout and json.loads(one.stdout)["model"]  # one input: the body alone


def test_a_request_over_the_whole_tpm_is_not_retried_and_stops_the_run(kv, fake, tmp_path: Path) -> None:
    """A TPM 429 that says "try again after 1 seconds" was retried a paced minute at a time,
    in silence (2 min 13 s): a request whose max_tokens alone is over the TPM never fits."""
    import json

    from tests.fake_moonshot import Limits

    fake.state.limits = Limits(concurrency=None, rpm=None, tpm=20_000)
    for i in range(3):
        write_image(tmp_path / f"p{i}.png", 8 + i, 6)
    r = kv("describe", "-j", "1", "--format", "jsonl", "p0.png", "p1.png", "p2.png")
    assert r.returncode == 1, r.all
    assert fake.state.rate_limited == 1 and len(fake.chat_requests) == 1  # no retry, no other input
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["error"]["code"] for rec in recs] == ["rate_limit", "not_started", "not_started"]
    (line,) = _errors(r.stderr)[:1]
    assert (
        "max_tokens (32,768) alone is over it" in line
        and "lower --max-tokens (max_tokens) well below 20,000" in line
    )


# -- 19.22: a progress line in CI ------------------------------------------------------


def test_progress_lines_come_every_interval_of_the_injected_clock() -> None:
    import io

    from kimi_vision_cli.output.diagnostics import Diagnostics
    from kimi_vision_cli.output.progress import BatchProgress
    from kimi_vision_cli.terminal import Terminal

    err = io.StringIO()
    term = Terminal(stdout=io.StringIO(), stderr=err, stdin=io.StringIO(), stdout_isatty=False,
                    stderr_isatty=False, stdin_isatty=False, color=False, env={})  # fmt: skip
    now = [100.0]
    progress = BatchProgress(Diagnostics(term), live=False, every=30.0, clock=lambda: now[0])
    progress.start()
    progress.update(done=2, failed=1, skipped=0)
    for t in (110.0, 129.9):
        now[0] = t
        progress.tick(lambda: "10 tokens in, 2 out, 0.0001 USD")
    assert err.getvalue() == ""  # not 30 s yet
    now[0] = 130.0
    progress.tick(lambda: "10 tokens in, 2 out, 0.0001 USD")
    progress.update(done=5, failed=1, skipped=1, total=9)
    now[0] = 155.0
    progress.tick(lambda: None)  # 25 s after the last line: nothing
    now[0] = 195.0
    progress.tick(lambda: None)
    assert err.getvalue().splitlines() == [
        "kimi-vision: progress: 2 done, 1 failed, 0 skipped after 30s; 10 tokens in, 2 out, 0.0001 USD",
        "kimi-vision: progress: 5/9 done, 1 failed, 1 skipped after 1m35s",
    ]
    live = BatchProgress(Diagnostics(term), live=True, every=30.0, clock=lambda: now[0])
    assert live.every is None  # a terminal has its bar


def test_a_ci_run_prints_progress_lines_and_one_run_does_not(kv, fake, tmp_path: Path) -> None:
    from kimi_vision_cli.runner.host import Host, SystemClock

    fake.state.limits = None
    fake.state.latency = 0.3
    for i in range(3):
        write_image(tmp_path / f"p{i}.png", 8 + i, 6)
    fast = Host(clock=SystemClock(scale=300))  # 30 s in 0.1 s
    r = kv("describe", "-j", "1", "p0.png", "p1.png", "p2.png", host=fast)
    assert r.returncode == 0, r.all
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("kimi-vision: progress: ")]
    import re

    assert len(lines) >= 2, r.stderr
    shape = r"kimi-vision: progress: \d(/3)? done, 0 failed, 0 skipped after \d+(m\d\d)?s(; .* USD)?"
    assert all(re.fullmatch(shape, ln) for ln in lines), lines
    assert any(ln.endswith("USD") for ln in lines), lines  # the spend, once an answer is in
    r = kv("describe", "p0.png", "--sidecar", "txt")  # one input: no progress lines
    assert r.returncode == 0 and "progress:" not in r.stderr


def test_estimate_with_describes_sidecar_options_counts_what_describe_would_send(
    kv, fake, tmp_path: Path
) -> None:
    import json

    (tmp_path / "photos").mkdir()
    for i in range(3):
        write_image(tmp_path / "photos" / f"p{i}.png", 8 + i, 6)
    (tmp_path / "caps" / "photos").mkdir(parents=True)
    (tmp_path / "caps" / "photos" / "p1.png.txt").write_text("done before\n")
    (tmp_path / "photos" / "p2.png.json").write_text("{}\n")

    def counted(*args: str) -> list[str]:
        r = kv("estimate", "-r", "photos", "--format", "json", *args)
        assert r.returncode == 0, r.all
        return [e["input"] for e in json.loads(r.stdout)["inputs"]]

    assert counted() == ["photos/p0.png", "photos/p1.png", "photos/p2.png"]
    assert counted("--output-dir", "caps") == ["photos/p0.png", "photos/p2.png"]
    assert counted("--sidecar", "json") == ["photos/p0.png", "photos/p1.png"]
    assert counted("--output-dir", "caps", "--on-exists", "overwrite") == [
        "photos/p0.png",
        "photos/p1.png",
        "photos/p2.png",
    ]
    r = kv("estimate", "-r", "photos", "--output-dir", "caps", "--dry-run")
    assert "kimi-vision: 1 input not counted: captioned already" in r.stderr
    assert "==> photos/p1.png <==" not in r.stdout and "==> photos/p0.png <==" in r.stdout
    # The same options as describe: describe sends exactly what estimate counted.
    kv("describe", "-r", "photos", "--output-dir", "caps")
    assert len(fake.chat_requests) == 2


def test_names_inside_a_message_keep_their_spaces_quoted(kv, fake, tmp_path: Path, monkeypatch) -> None:
    from kimi_vision_cli.output import sidecar

    def denied(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(sidecar, "replace_file", denied)
    write_image(tmp_path / "two  spaces.png", 8, 6)
    r = kv("describe", "--sidecar", "txt", "two  spaces.png")
    (line,) = _errors(r.stderr)
    assert line.startswith(
        "kimi-vision: error: 'two  spaces.png': cannot write sidecar 'two  spaces.png.txt'"
    )
