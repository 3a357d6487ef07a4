"""`files list | delete | prune` through the installed command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fake_files import create
from tests.fake_moonshot import FakeMoonshot
from tests.media import write_image


def foreign(fake: FakeMoonshot, name: str = "other.pdf") -> str:
    """A file someone else (the web console, another tool) put in the account."""
    _, meta = create(fake.state, {"purpose": "file-extract", "file": b"%PDF-1.4 x", "filename": name})
    return str(meta["id"])


def upload_two(kv, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 30, 20)
    r = kv("upload", "a.png", "b.png")
    assert r.returncode == 0, r.stderr
    return [line.split("\t")[0][5:] for line in r.stdout.splitlines()]  # ms://ID<TAB>INPUT


def test_list_piped_is_tab_separated(kv, fake, tmp_path: Path) -> None:
    ids = upload_two(kv, tmp_path)
    other = foreign(fake)
    r = kv("files", "list")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == [*ids, other]
    assert [row[1] for row in rows] == ["image", "image", "file-extract"]
    assert rows[2][4] == "other.pdf"
    # ISO 8601 with its zone, not epoch seconds (issue 19.23); JSON keeps Moonshot's number.
    created = json.loads(kv("files", "list", "--format", "json").stdout)[0]["created_at"]
    import datetime

    assert rows[0][3] == datetime.datetime.fromtimestamp(created, datetime.timezone.utc).isoformat()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", rows[0][3])


def test_list_json(kv, fake, tmp_path: Path) -> None:
    ids = upload_two(kv, tmp_path)
    r = kv("files", "list", "--format", "json")
    doc = json.loads(r.stdout)
    assert [d["id"] for d in doc] == ids
    assert list(doc[0]) == ["id", "purpose", "bytes", "created_at", "filename", "status"]


def test_list_table_on_a_terminal(invoke, fake, tmp_path: Path) -> None:
    foreign(fake, "report.pdf")
    code, out, err = invoke("files", "list", tty=True)
    assert code == 0, err
    assert "purpose" in out and "report.pdf" in out and "\t" not in out
    assert "1 of 1,000 files" in err


def test_delete_accepts_id_and_ms_url(kv, fake, tmp_path: Path) -> None:
    a, b = upload_two(kv, tmp_path)
    r = kv("files", "delete", a, f"ms://{b}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == [f"deleted ms://{a}", f"deleted ms://{b}"]
    assert not fake.state.files
    # Forgotten by the upload cache too: the next upload really uploads.
    assert kv("upload", "a.png").returncode == 0
    assert len(fake.requests_to("/v1/files", "POST")) == 3


def test_delete_missing_id_goes_on_and_exits_2(kv, fake, tmp_path: Path) -> None:
    other = foreign(fake)
    r = kv("files", "delete", "nope", other)
    assert r.returncode == 2
    assert "ms://nope" in r.stderr and "not found" in r.stderr
    assert f"deleted ms://{other}" in r.stdout and not fake.state.files


def test_prune_yes_deletes_only_this_tools_uploads(kv, fake, tmp_path: Path) -> None:
    ids = upload_two(kv, tmp_path)
    other = foreign(fake)
    r = kv("files", "prune", "--yes")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(["deleted", "deleted"] + [f"ms://{i}" for i in ids])
    assert list(fake.state.files) == [other]
    again = kv("files", "prune", "--yes")
    assert again.returncode == 0 and "nothing to prune" in again.stderr


def test_prune_all_yes_deletes_everything(kv, fake, tmp_path: Path) -> None:
    upload_two(kv, tmp_path)
    foreign(fake)
    r = kv("files", "prune", "--all", "--yes")
    assert r.returncode == 0, r.stderr
    assert not fake.state.files and len(r.stdout.splitlines()) == 3


def test_prune_without_yes_and_no_terminal_refuses(kv, fake, tmp_path: Path) -> None:
    upload_two(kv, tmp_path)
    r = kv("files", "prune")
    assert r.returncode == 2
    assert "--yes" in r.stderr and "refusing to delete 2 files" in r.stderr
    assert len(fake.state.files) == 2 and not fake.requests_to("/v1/files", "DELETE")


def test_prune_asks_on_a_terminal(fake, tmp_path: Path) -> None:
    """In-process with a Terminal whose stdin and stderr are terminals: the question path."""
    import io

    from kimi_vision_cli.cli import main as cli
    from kimi_vision_cli.terminal import Terminal
    from tests.conftest import FakeTTY

    foreign(fake)
    out, err = io.StringIO(), FakeTTY()
    stdin = FakeTTY("n\n")
    term_env = {
        "MOONSHOT_API_KEY": fake.api_key, "MOONSHOT_BASE_URL": fake.base_url,
        "XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
    }  # fmt: skip
    term = Terminal(out, err, stdin, False, True, True, color=False, width=100, env=term_env)
    code = cli.run(["files", "prune", "--all"], term)
    assert code == 0 and "delete 1 file in the account? [y/N]" in err.getvalue()
    assert "nothing deleted (1 file kept)" in err.getvalue() and "error" not in err.getvalue()
    assert len(fake.state.files) == 1
    stdin = FakeTTY("y\n")
    term = Terminal(out, FakeTTY(), stdin, False, True, True, color=False, width=100, env=term_env)
    assert cli.run(["files", "prune", "--all"], term) == 0
    assert not fake.state.files


def test_fake_files_endpoints_refuse_like_moonshot(fake) -> None:
    """The loopback server's own contract (tests/fake_files.py READINGs), through our client."""
    from kimi_vision_cli.api.client import MoonshotClient
    from kimi_vision_cli.errors import APIError, FileMissingError
    from kimi_vision_cli.settings import Settings

    client = MoonshotClient(Settings().with_(api_key=fake.api_key, base_url=fake.base_url, retries=0))
    with pytest.raises(APIError, match="invalid purpose: assistants"):
        client.upload(b"hello", "a.txt", "assistants")
    fid = client.upload(b"GIF89a" + bytes(20), "a.gif", "image")
    assert client.retrieve_file(fid)["purpose"] == "image"
    assert [f["id"] for f in client.list_files()] == [fid]
    client.delete_file(fid)
    with pytest.raises(FileMissingError):
        client.retrieve_file(fid)
    status, body = create(fake.state, {"purpose": "video", "file": bytes(100 * 1024 * 1024 + 1)})
    assert status == 400 and "100MB" in body["error"]["message"]


# -- many deletions (issue 12, item 5) -------------------------------------------------


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kimi-vision: error: ")]


def test_deletions_run_a_few_at_a_time_and_print_in_order(kv, fake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    import tests.fake_files
    from kimi_vision_cli.api.uploads import DELETE_WORKERS

    ids = [foreign(fake, f"f{i}.pdf") for i in range(2 * DELETE_WORKERS)]
    # Each DELETE waits until DELETE_WORKERS of them are in the server at once: one at a
    # time, the first would wait alone and the barrier break (no timing is measured).
    barrier = threading.Barrier(DELETE_WORKERS, timeout=20)
    route = tests.fake_files.route

    def together(state, method, path):  # type: ignore[no-untyped-def]
        if method == "DELETE":
            barrier.wait()
        return route(state, method, path)

    monkeypatch.setattr(tests.fake_files, "route", together)
    r = kv("files", "delete", *ids)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"deleted ms://{i}" for i in ids]
    assert not fake.state.files


def test_failures_are_one_line_each_and_the_rest_goes_on(kv, fake) -> None:  # type: ignore[no-untyped-def]
    a, b, c = (foreign(fake, f"{n}.pdf") for n in "abc")
    r = kv("files", "delete", a, "nope1", b, "nope2", c)
    assert r.returncode == 2
    assert r.stdout.splitlines() == [f"deleted ms://{a}", f"deleted ms://{b}", f"deleted ms://{c}"]
    errors = _error_lines(r.stderr)
    assert len(errors) == 2 and "ms://nope1" in errors[0] and "ms://nope2" in errors[1]
    assert "Traceback" not in r.stderr


def test_a_rate_limit_on_delete_is_retried_by_the_client(kv, fake) -> None:  # type: ignore[no-untyped-def]
    from tests.fake_moonshot import Fault

    for i in range(3):
        foreign(fake, f"f{i}.pdf")
    fake.inject(
        Fault(
            status=429, type="rate_limit_reached_error", path="/v1/files/",
            message="your account org-1 request reached max rpm: 3, please try again after 0.01 seconds",
        )
    )  # fmt: skip
    r = kv("files", "prune", "--all", "--yes")
    assert r.returncode == 0, r.stderr
    assert not fake.state.files and len(r.stdout.splitlines()) == 3
    assert len(fake.requests_to("/v1/files/", "DELETE")) == 4  # one 429, retried


def test_auth_failure_starts_no_new_deletion(kv, fake) -> None:  # type: ignore[no-untyped-def]
    from kimi_vision_cli.api.uploads import DELETE_WORKERS
    from tests.fake_moonshot import Fault

    for i in range(20):
        foreign(fake, f"f{i}.pdf")
    fake.inject(Fault(status=401, type="invalid_authentication_error", message="Invalid", path="/v1/files/"))
    r = kv("files", "prune", "--all", "--yes")
    assert r.returncode == 3
    assert len(_error_lines(r.stderr)) == 1
    # Those in flight when the 401 is read finish (and are reported); no new one starts.
    assert len(fake.requests_to("/v1/files/", "DELETE")) < 2 * DELETE_WORKERS
    assert len(fake.state.files) == 20 - len(r.stdout.splitlines())


def test_prune_rewrites_the_upload_cache_once(kv, fake, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import kimi_vision_cli.api.uploads as uploads

    names = []
    for i in range(6):
        names.append(write_image(tmp_path / f"i{i}.png", 20 + i, 10).name)
    assert kv("upload", *names).returncode == 0
    writes: list[Path] = []
    replace = uploads.replace_file

    def counted(path: Path, data: bytes, **kw: bool) -> None:
        writes.append(path)
        replace(path, data, **kw)

    monkeypatch.setattr(uploads, "replace_file", counted)
    r = kv("files", "prune", "--yes")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 6 and not fake.state.files
    assert len(writes) == 1
    again = kv("files", "prune", "--yes")
    assert again.returncode == 0 and "nothing to prune" in again.stderr
