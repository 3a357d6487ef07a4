"""Secrets (issue 6): the API key never shows in stdout, stderr, dry-run, JSON output or
any file the tool writes, on every error path above, with --verbose, and also when the
key comes from --api-key on the command line."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import write_image
from tests.scenarios import FAULTS, HOSTILE, by_name, web_server


def assert_no_key(key: str, *texts: str, root: Path | None = None) -> None:
    for text in texts:
        assert key not in text
        assert key[-12:] not in text, "a piece of the key leaked"
    if root is not None:  # caches, sidecars, manifests: nothing written may hold it
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    assert key.encode() not in path.read_bytes(), path


def replay(kv, fake, tmp_path: Path, name: str, *extra: str, key_on_cli: bool = False):  # type: ignore[no-untyped-def]
    sc = by_name(name)
    env = dict(sc.env or {})
    flags = list(extra)
    if key_on_cli:
        env["MOONSHOT_API_KEY"] = ""
        flags += ["--api-key", fake.api_key]
    with web_server() as web:
        args = sc.setup(tmp_path, fake, web)
        return kv("describe", *flags, *args, extra_env=env, timeout=60), sc


@pytest.mark.parametrize("name", [s.name for s in FAULTS + HOSTILE])
def test_key_never_shown_on_any_error_path_verbose(kv, fake, tmp_path: Path, name: str) -> None:
    r, sc = replay(kv, fake, tmp_path, name, "--verbose", "--format", "jsonl")
    # jsonl prints nothing before the record is whole, so even a mid-answer cut is retried.
    assert r.returncode == (0 if name == "cut-mid-answer" else sc.exit_code), r.stderr
    assert_no_key(fake.api_key, r.stdout, r.stderr, root=tmp_path)


@pytest.mark.parametrize(
    "name", ["5xx-forever", "cut-mid-answer", "413-html", "missing", "url-redirect-file"]
)
def test_key_from_the_command_line_never_shown(kv, fake, tmp_path: Path, name: str) -> None:
    r, sc = replay(kv, fake, tmp_path, name, "--verbose", key_on_cli=True)
    assert r.returncode == sc.exit_code, r.stderr
    assert_no_key(fake.api_key, r.stdout, r.stderr, root=tmp_path)


def test_key_echoed_by_the_server_is_redacted(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.inject(
        Fault(status=400, type="invalid_request_error", message=f"bad request for key {fake.api_key}")
    )
    r = kv("describe", "--verbose", "--format", "json", "a.png")
    assert r.returncode == 1
    assert "bad request for key ***" in r.stderr  # the message is kept, the key is not
    assert_no_key(fake.api_key, r.stdout, r.stderr)


def test_wrong_key_error_does_not_echo_it(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    wrong = "sk-wrong-" + "x" * 12
    r = kv("describe", "--verbose", "--api-key", wrong, "a.png", extra_env={"MOONSHOT_API_KEY": ""})
    assert r.returncode == 3
    assert_no_key(wrong, r.stdout, r.stderr)


def test_dry_run_and_json_hold_no_key(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    for args in (
        ["--dry-run"],
        ["--dry-run", "--format", "jsonl"],
        ["--format", "json"],
        ["--format", "jsonl"],
    ):
        r = kv("describe", "--verbose", *args, "a.png")
        assert r.returncode == 0, r.stderr
        assert_no_key(fake.api_key, r.stdout, r.stderr, root=tmp_path)
        if "--dry-run" in args:
            assert "Authorization" not in r.stdout and "Bearer" not in r.stdout
            json.loads(r.stdout.splitlines()[0] if "jsonl" in args else r.stdout)


def test_verbose_shows_attempts_and_timings_not_headers(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 24, 16)
    fake.inject(Fault(status=500, type="server_error", message="boom"))
    r = kv("describe", "--verbose", "a.png")
    assert r.returncode == 0, r.stderr
    assert "POST /v1/chat/completions -> HTTP 500" in r.stderr
    assert "POST /v1/chat/completions (retry 1)" in r.stderr
    assert "-> HTTP 200 in " in r.stderr
    assert "finish_reason stop" in r.stderr
    assert "Bearer" not in r.stderr and "uthorization" not in r.stderr
    assert "a 24x16 image/png image" in r.stdout and "HTTP" not in r.stdout


def test_settings_repr_has_no_key() -> None:
    from kimi_vision_cli.settings import resolve

    key = "sk-test-" + "k" * 16
    s = resolve({"api_key": key}, {"XDG_CONFIG_HOME": "/nonexistent"})
    assert s.connection.api_key == key
    assert key not in repr(s) and key not in str(s)
    assert key not in repr(s.with_(model="kimi-k2.5"))


def test_url_credentials_used_never_shown_nor_forwarded(kv, fake, tmp_path: Path) -> None:
    with web_server() as web:
        base = web.replace("http://", "http://bob:hunter2@")
        r = kv(
            "describe", "-j", "1", "--verbose", f"{base}/auth.png", f"{base}/auth-redirect", f"{base}/nope"
        )
    assert r.returncode == 2, r.stderr  # /nope is a 404
    assert r.stdout.count("a 20x10 image/png image") == 2  # auth sent; not forwarded on redirect
    assert "http://***@127.0.0.1" in r.stdout and "http://***@127.0.0.1" in r.stderr
    assert_no_key("hunter2", r.stdout, r.stderr, root=tmp_path)


@pytest.mark.process
def test_sdk_debug_logging_holds_no_key(kv_process, fake, tmp_path: Path) -> None:
    # A real process: the SDK reads OPENAI_LOG from os.environ when it is imported.
    write_image(tmp_path / "a.png")
    fake.inject(Fault(status=500, type="server_error", message="boom"))
    r = kv_process("describe", "--verbose", "a.png", extra_env={"OPENAI_LOG": "debug"})
    assert r.returncode == 0, r.stderr
    assert_no_key(fake.api_key, r.stdout, r.stderr)
    assert "Bearer" not in r.stderr
    # Chat completions do not go through the SDK (api/transport.py); files do.
    r = kv_process("files", "list", "--verbose", extra_env={"OPENAI_LOG": "debug"})
    assert r.returncode == 0, r.stderr
    assert "openai._base_client" in r.stderr  # the SDK's own log really was on
    assert_no_key(fake.api_key, r.stdout, r.stderr)
    assert "Bearer" not in r.stderr


def test_key_with_a_carriage_return_is_used_or_refused_never_printed(kv, fake, tmp_path) -> None:
    """A key file saved with CRLF read by $(cat key.txt) keeps a '\\r': dropped. A key with
    characters a header cannot carry: exit 3 without echoing it (it used to surface
    escaped, past the redaction, in a 'cannot reach' line with exit 75)."""
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", extra_env={"MOONSHOT_API_KEY": fake.api_key + "\r"})
    assert r.returncode == 0, r.stderr
    bad = "sk-t\u00e9st-secret"
    r = kv("describe", "a.png", extra_env={"MOONSHOT_API_KEY": bad})
    assert r.returncode == 3 and "API key" in r.stderr and "Traceback" not in r.stderr
    assert "t\u00e9st" not in r.stderr + r.stdout and "secret" not in r.stderr + r.stdout
    assert len(fake.chat_requests) == 1


def test_out_of_range_timeout_retries_concurrency_are_usage_errors(kv, fake, tmp_path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    cases = [
        (["--timeout", "-1"], {}), (["--timeout", "0"], {}), ([], {"KIMI_VISION_TIMEOUT": "nan"}),
        ([], {"KIMI_VISION_TIMEOUT": "inf"}), ([], {"KIMI_VISION_RETRIES": "-3"}), (["-j", "100000"], {}),
    ]  # fmt: skip
    for args, extra in cases:
        r = kv("describe", "a.png", *args, extra_env=extra)
        assert r.returncode == 2, (args, extra, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert fake.chat_requests == []


@pytest.mark.process
def test_stdout_that_cannot_be_written_is_one_line_exit_1(env, fake, tmp_path) -> None:
    import subprocess

    from tests.conftest import installed_command
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [*installed_command(), "describe", "a.png"], cwd=tmp_path, env=env, stdout=full,
            stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "cannot write to standard output: No space left on device" in r.stderr
    assert "Traceback" not in r.stderr
