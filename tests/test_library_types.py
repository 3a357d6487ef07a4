"""The Python API's keywords are typed once (keywords.py: a TypedDict per command, taken
by kv.describe/ask/estimate and by the Client's methods alike): they are the option
table's settings, each command's at least as the CLI has them, of the table's types, and
mypy --strict rejects a keyword of the wrong type or of another command. No server."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from kimi_vision_cli import keywords
from kimi_vision_cli.options import COMMANDS, OPTIONS, SETTINGS_OPTIONS
from tests.typecheck import mypy_errors

CALLS = {"describe": keywords.DescribeCall, "ask": keywords.AskCall, "estimate": keywords.EstimateCall}
NOT_OPTIONS = {"env", "host"}  # keywords of the API that are no option of the table


def keys(typed: type) -> set[str]:
    return set(typed.__optional_keys__) | set(typed.__required_keys__)  # type: ignore[attr-defined]


def test_every_setting_is_a_keyword_or_shown_only_by_the_cli() -> None:
    settings = {o.dest for o in SETTINGS_OPTIONS}
    assert keys(keywords.DescribeCall) - NOT_OPTIONS | set(keywords.CLI_ONLY) == settings
    assert keys(keywords.Connection) - NOT_OPTIONS == {
        o.dest for o in SETTINGS_OPTIONS if o.panel == "Connection"
    }


@pytest.mark.parametrize("command", sorted(CALLS))
def test_each_command_takes_the_clis_options_and_no_other(command: str) -> None:
    cli = {name for name in COMMANDS[command] if OPTIONS[name].setting} - set(keywords.CLI_ONLY)
    assert cli <= keys(CALLS[command])
    # More than the CLI has: only --no-cache (the CLI's `upload` only; uploads of a run too).
    assert keys(CALLS[command]) - cli - NOT_OPTIONS <= {"no_cache"}


def test_each_keyword_has_its_options_type() -> None:
    hints = typing.get_type_hints(keywords.DescribeCall, vars(keywords))
    for opt in SETTINGS_OPTIONS:
        if opt.dest in keywords.CLI_ONLY:
            continue
        taken = set(typing.get_args(hints[opt.dest]))
        assert type(None) in taken, opt.dest  # None: not given
        if opt.choices:
            (literal,) = (t for t in taken if typing.get_origin(t) is typing.Literal)
            assert typing.get_args(literal) == opt.choices, opt.dest
        else:
            assert opt.kind in taken, opt.dest


def test_mypy_rejects_a_keyword_of_the_wrong_type_or_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = (
        "import kimi_vision_cli as kv\n"
        'ok = kv.describe(["a.png"], prompt="Alt.", concurrency=2, max_size=(640, 480), upload="never")\n'
        'bad = kv.describe(["a.png"], concurrency="2")\n'
        'said = kv.ask("What?", ["a.png"], upload="sometimes")\n'
        'wrong = kv.estimate(["a.png"], concurrency=2)\n'
        'client = kv.Client(model="kimi-k2.6", env={}, schema={"type": "object"})\n'
        'many = client.describe(["a.png"], max_tokens="many")\n'
        'fixed = client.ask("What?", ["a.png"], api_key="sk-x")\n'
        'fine = client.estimate(["a.png"], segment="30s", recursive=True)\n'
    )
    lines = mypy_errors(code, tmp_path, monkeypatch)
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5", "7", "8"], lines
    assert '"concurrency"' in lines[0] and "Literal['sometimes']" in lines[1] and '"concurrency"' in lines[2]
    assert '"max_tokens"' in lines[3] and '"api_key"' in lines[4]
