from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_moonshot import FakeMoonshot

ROOT = Path(__file__).resolve().parent.parent


def installed_command() -> list[str]:
    """The installed console script (what a user runs), next to this Python."""
    exe = Path(sys.executable).parent / "kimi-vision"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("kimi-vision")
    assert found, "kimi-vision is not installed: run `make install`"
    return [found]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def all(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeMoonshot]:
    with FakeMoonshot() as server:
        yield server


@pytest.fixture
def fake(_fake_server: FakeMoonshot) -> FakeMoonshot:
    """The loopback Moonshot, started once per session, with a fresh account per test."""
    return _fake_server.reset()


@pytest.fixture
def dead_url() -> str:
    """A base URL on a loopback port nothing listens on: every connection is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def env(tmp_path: Path, fake: FakeMoonshot) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MOONSHOT_", "KIMI_"))}
    e.update(
        MOONSHOT_API_KEY=fake.api_key,
        MOONSHOT_BASE_URL=fake.base_url,
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
        KIMI_VISION_RETRIES="2",
        NO_COLOR="1",
    )
    e.pop("FORCE_COLOR", None)
    return e


def _process_runner(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(
        *args: str,
        input: bytes | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
        host: object = None,
    ) -> Run:
        if host is not None:
            pytest.skip("a Host (fake clock, sleep, cores) is given to the CLI in-process only")
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        proc = subprocess.run(
            installed_command() + list(args), input=input if input is not None else b"",
            capture_output=True, env=e, timeout=timeout, cwd=cwd or tmp_path,
        )  # fmt: skip
        return Run(
            proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        )

    return run


@pytest.fixture
def kv_process(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the installed `kimi-vision` as a real process, for what only a process shows:
    the console script itself, signals, closed or full stdout. Slow (~1.5 s a call)."""
    return _process_runner(env, tmp_path)


class _BytesOut(io.TextIOWrapper):
    """A text stdout/stderr over bytes, as a process has: what the tool writes is
    encoded the way the real streams encode it (utf-8, surrogates escaped)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="surrogateescape", newline="\n",
                         write_through=True)  # fmt: skip

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]


def _in_process_runner(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    from kimi_vision_cli.cli.main import run as cli_run
    from kimi_vision_cli.runner.host import Host
    from kimi_vision_cli.terminal import Terminal

    def run(
        *args: str,
        input: bytes | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 120,  # kept for the process runner's signature; not enforced here
        cwd: Path | None = None,
        host: Host | None = None,
    ) -> Run:
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        out, err = _BytesOut(), _BytesOut()
        stdin = io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8", errors="surrogateescape")
        # As Terminal.from_system decides colour, from the given environment.
        color = not e.get("NO_COLOR") and e.get("TERM") != "dumb"
        term = Terminal(
            stdout=out, stderr=err, stdin=stdin, stdout_isatty=False, stderr_isatty=False,
            stdin_isatty=False, color=color, env=e,
        )  # fmt: skip
        here = os.getcwd()
        os.chdir(cwd or tmp_path)
        try:
            code = cli_run(list(args), term, host=host)
        finally:
            os.chdir(here)
        return Run(code, out.text(), err.text())

    return run


@pytest.fixture
def kv(env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the CLI as a user would, in-process: `cli.run(argv, term)` with the test's
    environment, stdin bytes and working directory, stdout/stderr captured.

    kv("describe", "x.png") -> Run; kv(..., host=Host(...)) runs it on a fake clock,
    sleep or core count (runner/host.py; such a call is skipped through a process). Set
    KIMI_VISION_TEST_PROCESS=1 to run every call through the installed console script
    instead (slow; the same assertions)."""
    if os.environ.get("KIMI_VISION_TEST_PROCESS"):
        return _process_runner(env, tmp_path)
    return _in_process_runner(env, tmp_path)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def invoke(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Run the CLI in-process with an injected Terminal (drives the TTY path)."""
    from kimi_vision_cli.cli.main import run
    from kimi_vision_cli.terminal import Terminal

    def call(
        *args: str,
        tty: bool = False,
        stdin: bytes = b"",
        color: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        out = FakeTTY() if tty else io.StringIO()
        err = FakeTTY() if tty else io.StringIO()
        e = dict(env)
        if extra_env:
            e.update(extra_env)
        term = Terminal(
            stdout=out, stderr=err, stdin=io.BytesIO(stdin), stdout_isatty=tty, stderr_isatty=tty,
            stdin_isatty=False, color=color, width=100, env=e,
        )  # fmt: skip
        code = run(list(args), term)
        return code, out.getvalue(), err.getvalue()

    return call


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process: starts the installed command as a real process (signals, pipes, entry point)"
    )


# -- object storage (issue 24): moto's S3 server on the loopback, started once ------------
S3_KEY_ID = "AKIAKVTESTKEYID00001"
S3_SECRET = "kv-test-secret-never-printed-0001"


@pytest.fixture(scope="session")
def _s3_server() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log in the output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class S3:
    endpoint: str
    bucket: str
    fs: object  # s3fs.S3FileSystem

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> str:
        self.fs.pipe_file(f"{self.bucket}/{key}", data)  # type: ignore[attr-defined]
        return self.url(key)

    def cat(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.bucket}/{key}"))  # type: ignore[attr-defined]

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(f"{self.bucket}/{key}"))  # type: ignore[attr-defined]


@pytest.fixture
def s3(_s3_server: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> S3:
    """A fresh bucket on the loopback S3 server; fake credentials and AWS_ENDPOINT_URL in
    the environment (botocore reads os.environ, so both it and `env` get them)."""
    import uuid

    import fsspec

    creds = {
        "AWS_ACCESS_KEY_ID": S3_KEY_ID, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_ENDPOINT_URL": _s3_server, "AWS_DEFAULT_REGION": "us-east-1",
    }  # fmt: skip
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
        env.pop(name, None)
    for name, value in creds.items():
        monkeypatch.setenv(name, value)
        env[name] = value
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    bucket = "kv-" + uuid.uuid4().hex[:12]
    fs.mkdir(bucket)
    return S3(_s3_server, bucket, fs)


@dataclass
class Made:
    """What the clients made: HTTP clients (connection pools, kept to see they are
    closed) and openai SDK clients."""

    pools: list[Any]
    sdk: int = 0

    @property
    def http(self) -> int:
        return len(self.pools)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Made:
    """Counts what the clients make: a kv.Client makes one HTTP client and at most one SDK
    client for all its calls (tests/test_client.py, test_cluster.py)."""
    import openai

    from kimi_vision_cli.api import client as api_client

    seen = Made(pools=[])
    gated = api_client.gated_http_client

    def counting_http(*args: Any, **kwargs: Any) -> Any:
        seen.pools.append(gated(*args, **kwargs))
        return seen.pools[-1]

    class CountingOpenAI(openai.OpenAI):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.sdk += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(api_client, "gated_http_client", counting_http)
    monkeypatch.setattr(openai, "OpenAI", CountingOpenAI)
    return seen


@pytest.fixture
def one_at_a_time(fake):  # type: ignore[no-untyped-def]
    """The loopback account allows 1 request at a time (its 429 says so and asks for a
    1 s wait); answers overlap (0.2 s each). Give the run `minute_host` to wait ~17 ms."""
    from tests.fake_moonshot import Limits

    fake.state.limits = Limits(concurrency=1, rpm=None, window=1.0)
    fake.state.latency = 0.2
    return fake


@pytest.fixture
def minute_host():  # type: ignore[no-untyped-def]
    """A Host whose clock runs 60x (runner/host.py): a minute of pacing passes in a second."""
    from kimi_vision_cli.runner.host import Host, SystemClock

    return Host(clock=SystemClock(scale=60))
