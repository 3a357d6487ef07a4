"""The option table (kimi_vision_cli/options.py) is the one declaration of every option:
the CLI's parameters, Settings' fields, env and config reading and range checks all
come from it. Unit tests: no server, no process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kimi_vision_cli.errors import ConfigError, UsageError
from kimi_vision_cli.options import COMMANDS, OPTIONS
from kimi_vision_cli.settings import CONFIG_KEYS, resolve


def _click_commands() -> dict[str, object]:
    import typer

    from kimi_vision_cli.cli.main import all_commands

    app = all_commands()
    found: dict[str, object] = {}

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            found[" ".join(path)] = cmd
            return
        for name, sub in subs.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_has_exactly_the_options_of_its_table_row() -> None:
    commands = _click_commands()
    assert set(commands) == set(COMMANDS)
    for name, cmd in commands.items():
        got = [p.name for p in cmd.params if p.name != "help"]  # type: ignore[attr-defined]
        assert got == list(COMMANDS[name]), name


def test_config_keys_are_the_config_rows() -> None:
    assert set(CONFIG_KEYS) == {o.dest for o in OPTIONS.values() if o.config} | {"prices"}


def test_an_unknown_key_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="concurency"):
        resolve({"concurency": 3}, {"XDG_CONFIG_HOME": str(tmp_path)})


def _cfg(tmp_path: Path, text: str) -> dict[str, str]:
    (tmp_path / "kimi-vision").mkdir(parents=True, exist_ok=True)
    (tmp_path / "kimi-vision" / "config.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(tmp_path)}


def test_precedence_flag_env_config_default(tmp_path: Path) -> None:
    env = _cfg(tmp_path, 'model = "from-config"\nconcurrency = 7\n')
    assert resolve({}, {"XDG_CONFIG_HOME": str(tmp_path / "none")}).request.model == "kimi-k2.6"
    assert resolve({}, env).request.model == "from-config"
    assert resolve({}, {**env, "KIMI_VISION_MODEL": "from-env"}).request.model == "from-env"
    assert (
        resolve({"model": "from-flag"}, {**env, "KIMI_VISION_MODEL": "from-env"}).request.model == "from-flag"
    )
    assert resolve({}, env).run.concurrency == 7
    assert resolve({}, {**env, "KIMI_VISION_CONCURRENCY": "3"}).run.concurrency == 3
    assert resolve({"concurrency": 2}, {**env, "KIMI_VISION_CONCURRENCY": "3"}).run.concurrency == 2


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"concurrency": 0}, {}, "--concurrency must be from 1 to 256, got 0"),
        ({}, {"KIMI_VISION_CONCURRENCY": "300"}, "KIMI_VISION_CONCURRENCY must be from 1 to 256, got '300'"),
        ({}, {"KIMI_VISION_RETRIES": "x"}, "KIMI_VISION_RETRIES must be an integer, got 'x'"),
        ({"timeout": 0.0}, {}, "--timeout must be above 0 and at most 86400"),
        ({}, {"KIMI_VISION_TIMEOUT": "nan"}, "KIMI_VISION_TIMEOUT must be above 0"),
        ({"temperature": "nan"}, {}, "--temperature must be a number, got 'nan'"),  # no range: no crash
        ({"max_tokens": 0}, {}, "--max-tokens must be at least 1, got 0"),
        ({"max_size": "big"}, {}, "--max-size 'big' is not WIDTHxHEIGHT"),
        ({}, {"KIMI_VISION_REGION": "mars"}, "KIMI_VISION_REGION 'mars' is not one of global, cn"),
    ],
)
def test_each_source_is_checked_and_named(tmp_path: Path, flags: dict, env: dict, message: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(flags, {"XDG_CONFIG_HOME": str(tmp_path), **env})
    assert message in info.value.message


def test_config_values_are_checked_by_the_same_rows(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="concurrency must be from 1 to 256, got 0 at line 2"):
        resolve({}, _cfg(tmp_path, 'model = "m"\nconcurrency = 0\n'))
    with pytest.raises(ConfigError, match="upload = 'sometimes' is not one of auto, always, never"):
        resolve({}, _cfg(tmp_path, 'upload = "sometimes"\n'))


def test_help_shows_panels_defaults_and_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimi_vision_cli.cli import run

    monkeypatch.setenv("COLUMNS", "200")  # no wrapping inside the strings looked for
    run(["describe", "--help"])
    out = capsys.readouterr().out
    for panel in ("Inputs and batch", "Prompt and model", "Images and video", "Output", "Connection"):
        assert panel in out
    assert "default kimi-k2.6" in out and "env KIMI_VISION_CONCURRENCY" in out


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://[::1/v1", "is not a valid URL"),
        ("not a url", "is not an http(s) URL"),
        ("ftp://x/v1", "is not an http(s) URL"),
        ("http:///v1", "is not an http(s) URL"),
        ("https://api.moonshot.ai", "has no API path"),
        ("http://127.0.0.1:99999/v1", "is not a valid URL"),
    ],
)
def test_a_base_url_that_cannot_work_is_a_usage_error(tmp_path: Path, url: str, what: str) -> None:
    with pytest.raises(UsageError, match=re.escape(what)) as info:
        resolve({"base_url": url}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert info.value.exit_code == 2


def test_base_url_usage_error_through_the_cli(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    for url in ("not a url", "ftp://x/v1", "http://[::1/v1"):
        r = kv("describe", "a.png", "--base-url", url)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert fake.chat_requests == []


@pytest.mark.parametrize(
    "path",
    [[], ["batch"], ["files"], *([name] if " " not in name else name.split() for name in COMMANDS)],
    ids=lambda p: " ".join(p) or "kimi-vision",
)
def test_help_shows_no_internal_placeholders(
    path: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: names users type (QUESTION, INPUT..., N), the real range, never Typer's
    type column (`<str>`, `<list[str]>`, `<bool>`, `<int range>`) or `{QUESTION}`."""
    from kimi_vision_cli.cli import run

    monkeypatch.setenv("COLUMNS", "200")
    run([*path, "--help"])
    out = capsys.readouterr().out
    assert "Usage: kimi-vision" in out
    for placeholder in (
        "<str>",
        "<list[",
        "<bool>",
        "<int",
        "<float",
        "<path>",
        "range>",
        "{",
        "x>=",
        "...]...",
    ):
        assert placeholder not in out, f"{' '.join(path)} --help shows {placeholder!r}"
    if path == ["ask"]:
        assert "kimi-vision ask [OPTIONS] QUESTION [INPUT]..." in out
    if path == ["describe"]:
        assert "0-100" in out and " N " in out  # --retries: the real range; -j takes N


def test_estimate_ask_with_a_config_prompt_is_fine_but_not_with_a_prompt_flag(
    kv, fake, tmp_path: Path
) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    _cfg(tmp_path / "xdg-config", 'prompt = "Alt text."\n')
    r = kv("estimate", "a.png", "--ask", "Which is wider?")
    assert r.returncode == 0, r.stderr
    r = kv("estimate", "a.png", "--ask", "Q?", "-p", "P")
    assert r.returncode == 2 and "--ask and -p/--prompt cannot be used together" in r.stderr


def test_a_base_url_query_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        resolve({"base_url": "http://127.0.0.1:1/v1?key=sk-secret-123"}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert "sk-secret-123" not in info.value.one_line() and "query string" in info.value.message


def test_a_range_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        resolve({"concurrency": 0}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert info.value.one_line() == "--concurrency must be from 1 to 256, got 0 — e.g. --concurrency 4"


def test_a_base_url_holding_a_key_is_refused_through_the_cli(kv, fake, tmp_path: Path) -> None:
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    r = kv("describe", "a.png", "--base-url", "http://127.0.0.1:1/v1?key=sk-secret-123")
    assert r.returncode == 2
    assert "sk-secret-123" not in r.stdout + r.stderr and "query string" in r.stderr


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["describe", "-p", "hi \udcff", "a.png"], "--prompt"),
        (["describe", "--system", "\udce9t\udce9", "a.png"], "--system"),
        (["ask", "caf\udce9?", "a.png"], "QUESTION"),
        (["ask", "--prefix", "\udcff", "what?", "a.png"], "--prefix"),
    ],
)
def test_text_that_is_not_utf8_is_one_line_exit_2(kv, fake, tmp_path, argv: list[str], named: str) -> None:
    """Bytes that are not UTF-8 reach argv as lone surrogates (a Latin-1 terminal): no JSON
    body can carry them; this was a UnicodeEncodeError traceback."""
    from tests.media import write_image

    write_image(tmp_path / "a.png")
    r = kv(*argv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{named} is not valid UTF-8 text" in r.stderr
    assert fake.chat_requests == []


def test_a_schema_file_whose_name_is_not_utf8_is_read(kv, tmp_path) -> None:
    """--schema may name a file: its name is a path (any bytes), not text sent as it is."""
    import os

    from tests.media import write_image

    write_image(tmp_path / "a.png")
    name = os.fsdecode(b"s\xff.json")
    (tmp_path / name).write_text('{"type": "object", "properties": {"alt_text": {"type": "string"}}}')
    r = kv("describe", "--dry-run", "--schema", name, "a.png")
    assert r.returncode == 0, r.stderr
    assert "alt_text" in r.stdout
