"""The error boundary (issue 11): whatever goes wrong at the edges is one line and the
exit code from SPEC.md, before any request is paid for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import installed_command
from tests.media import image_bytes, write_image


@pytest.mark.process
@pytest.mark.parametrize("args", [["--help"], ["describe", "--help"], ["--version"]])
def test_help_to_a_full_disk_is_one_line_exit_1(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            installed_command() + args,
            env=env,
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "kimi-vision: error: cannot write to standard output: No space left on device — "
        "check the disk or where stdout goes"
    ]


def test_stdin_twice_is_refused_before_anything_is_sent(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "-", "a.png", "-", input=image_bytes(10, 10))
    assert r.returncode == 2
    assert r.stderr.startswith("kimi-vision: error: -: standard input can be read only once")
    assert r.stderr.count("\n") == 1
    assert fake.chat_requests == []


def test_stdin_with_files_from_stdin_is_refused(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("describe", "-", "--files-from", "-", input=b"a.png\n")
    assert r.returncode == 2 and "--files-from - reads the list from it" in r.stderr
    assert fake.chat_requests == []
    r = kv("estimate", "-", "--files-from", "-", input=b"a.png\n")
    assert r.returncode == 2 and fake.requests_to("/v1/tokenizers") == []


def test_a_second_dash_in_the_list_fails_that_line_only(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "list.txt").write_text("-\na.png\n-\n")
    r = kv("describe", "--files-from", "list.txt", "--format", "jsonl", input=image_bytes(12, 12))
    assert r.returncode == 2, r.stderr
    assert "standard input is already used" in r.stderr
    assert len(fake.chat_requests) == 2  # the first `-` and a.png


def test_max_cost_zero_sends_nothing(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png")
    for args in (["a.png"], ["a.png", "b.png"]):
        r = kv("describe", "--max-cost", "0", *args)
        assert r.returncode == 75, r.stderr
    assert fake.chat_requests == []


@pytest.mark.parametrize("url", ["http://", "http://a b/c.png", "https://"])
def test_a_url_that_cannot_work_is_bad_input_not_temporary(kv, fake, tmp_path: Path, url: str) -> None:
    r = kv("describe", url)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_server_text_never_carries_escape_sequences(kv, fake, tmp_path: Path) -> None:
    from tests.fake_moonshot import Fault

    write_image(tmp_path / "a.png")
    fake.inject(Fault(status=400, type="invalid_request_error", message="line one\nline two\x1b[31mred"))
    r = kv("describe", "a.png")
    assert r.returncode == 1
    assert "\x1b" not in r.stderr and "\\x1b[31mred" in r.stderr


def test_engine_overloaded_is_not_blamed_on_the_tier(kv, fake, tmp_path: Path) -> None:
    from tests.fake_moonshot import Fault

    write_image(tmp_path / "a.png")
    fake.inject(
        *[Fault(status=429, type="engine_overloaded_error", message="The engine is currently overloaded")] * 3
    )
    r = kv("describe", "--retries", "1", "a.png")
    assert r.returncode == 75
    assert "overloaded" in r.stderr and "tier" not in r.stderr


def test_a_stopped_run_still_gives_one_record_per_input(kv, fake, tmp_path: Path) -> None:
    import json

    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    r = kv(
        "describe",
        "-j",
        "1",
        "--format",
        "jsonl",
        "a.png",
        "b.png",
        "c.png",
        extra_env={"MOONSHOT_API_KEY": "sk-wrong"},
    )
    assert r.returncode == 3, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["input"] for rec in recs] == ["a.png", "b.png", "c.png"]
    assert recs[0]["error"]["code"] == "auth"
    assert [rec["error"]["code"] for rec in recs[1:]] == ["not_started", "not_started"]
    assert r.stderr.count("kimi-vision: error:") == 1


@pytest.mark.parametrize("args", [[], ["files"], ["batch"]])
def test_no_command_prints_its_help_once_on_stderr_exit_2(kv, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.9: bare `kimi-vision`, `files` and `batch` printed their help twice, on
    stdout. A missing command is a usage error: the help once, on stderr, exit 2."""
    r = kv(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("Usage: kimi-vision") == 1, r.stderr
    assert f"Usage: kimi-vision {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND" in " ".join(
        r.stderr.split()
    )


@pytest.mark.process
def test_bare_command_help_once_through_the_installed_command(kv_process) -> None:  # type: ignore[no-untyped-def]
    r = kv_process()
    assert (r.returncode, r.stdout, r.stderr.count("Usage: kimi-vision")) == (2, "", 1)
