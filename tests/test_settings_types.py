"""Typed settings (issue 21 item 5): kimi_vision_cli/settings_types.py is generated from
the option table (`make settings`), Settings holds its four groups, choices are Literal
types mypy checks, and each command takes the Args dataclass generated for it.
Unit tests: no server, no process."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from kimi_vision_cli import settings_types as st
from kimi_vision_cli.cli import settings_gen
from kimi_vision_cli.options import COMMANDS, GROUPS, OPTIONS, SETTINGS_OPTIONS
from kimi_vision_cli.settings import Settings
from tests.typecheck import mypy_errors

GENERATED = Path(st.__file__)


def test_settings_types_is_what_make_settings_writes() -> None:
    want = settings_gen.render()
    if GENERATED.read_text(encoding="utf-8") != want:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                GENERATED.read_text(encoding="utf-8").splitlines(True),
                want.splitlines(True),
                "kimi_vision_cli/settings_types.py",
                "make settings",
                n=1,
            )
        )
        pytest.fail(f"settings_types.py differs from the option table; run `make settings`:\n{diff[:4000]}")


def test_the_drift_check_sees_a_changed_default_a_new_choice_and_a_new_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = settings_gen.render()
    monkeypatch.setitem(OPTIONS, "concurrency", dataclasses.replace(OPTIONS["concurrency"], default=5))
    assert "    concurrency: int = 5\n" in settings_gen.render() != before
    monkeypatch.setitem(OPTIONS, "upload", dataclasses.replace(OPTIONS["upload"], choices=("auto", "later")))
    assert 'Upload = Literal["auto", "later"]\n' in settings_gen.render()
    new = dataclasses.replace(OPTIONS["verbose"], dest="quiet", decls=("--quiet",))
    monkeypatch.setitem(OPTIONS, "quiet", new)
    assert "    quiet: bool = False\n" in settings_gen.render().split("class RunSettings")[1]


def test_a_setting_row_without_a_group_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPTIONS, "quiet", dataclasses.replace(OPTIONS["verbose"], dest="quiet", group=None))
    with pytest.raises(SystemExit, match=r"give these rows a group=.*: quiet"):
        settings_gen.render()


def test_the_groups_hold_exactly_the_table_rows() -> None:
    held = {group: {f.name for f in dataclasses.fields(getattr(Settings(), group))} for group in GROUPS}
    for opt in SETTINGS_OPTIONS:
        if opt.dest == "region":  # folded into base_url by resolve
            assert opt.group is None
            continue
        assert opt.group in GROUPS, opt.dest
        assert opt.dest in held[opt.group], opt.dest
    assert sum(map(len, held.values())) == len(SETTINGS_OPTIONS) - 1
    own = {f.name for f in dataclasses.fields(Settings)} - set(GROUPS)
    assert own == {"prices", "flags_given", "defaulted", "listed"}  # not options: config, resolve, the API


def test_defaults_come_from_the_table() -> None:
    s = Settings()
    for opt in SETTINGS_OPTIONS:
        if opt.group is None:
            continue
        got = getattr(getattr(s, opt.group), opt.dest)
        want = opt.default if opt.default is not None else opt.field_default
        assert got == (False if want is None and opt.kind is bool else want), opt.dest
    assert s.connection.base_url == "https://api.moonshot.ai/v1"


def test_choices_are_literal_types() -> None:
    hints = typing.get_type_hints(st.RunSettings, vars(st))
    assert hints["format"] == st.Format
    assert typing.get_args(st.Format) == ("text", "json", "jsonl", "vtt", "srt")  # with describe's wider
    assert typing.get_args(st.Sidecar) == OPTIONS["sidecar"].choices
    assert typing.get_args(st.OnExists) == ("skip", "overwrite", "stale")
    assert typing.get_args(typing.get_type_hints(st.MediaSettings, vars(st))["upload"]) == (
        "auto",
        "always",
        "never",
    )
    args = typing.get_type_hints(st.DescribeArgs, vars(st))
    assert args["on_exists"] == st.OnExists and args["sidecar"] == st.Sidecar | None


def test_mypy_catches_a_mistyped_choice_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "from kimi_vision_cli.settings_types import GroupChanges, RunSettings\n"
        "run = RunSettings()\n"
        'ok = run.format == "jsonl"\n'
        'typo = run.format == "jsn"\n'
        'change: GroupChanges = {"upload": "sometimes"}\n'
        "gone = run.model\n"
    )
    lines = mypy_errors(code, tmp_path, monkeypatch)
    assert [line.split(":")[1] for line in lines] == ["4", "5", "6"], lines
    assert "Literal['jsn']" in lines[0] and '"RunSettings" has no attribute "model"' in lines[2]


def test_with_changes_fields_of_any_group_by_their_own_names() -> None:
    s = Settings()
    t = s.with_(model="m", retries=0, format="jsonl", no_resize=True, listed=None)
    assert (t.request.model, t.connection.retries, t.run.format, t.media.no_resize) == ("m", 0, "jsonl", True)
    assert not t.resize and s.resize  # the original is untouched
    assert t.request.prompt is None and t.media.upload == "auto"
    with pytest.raises(TypeError):
        s.with_(modle="m")  # type: ignore[call-arg]


def test_each_command_takes_its_own_generated_arguments() -> None:
    for name, dests in COMMANDS.items():
        fields = [f.name for f in dataclasses.fields(st.ARGS[name])]
        assert fields == [d for d in dests if not OPTIONS[d].setting], name


def test_a_command_registered_with_another_commands_arguments_is_refused() -> None:
    import typer

    from kimi_vision_cli.cli.params import command

    with pytest.raises(TypeError, match="describe: takes DescribeArgs, not ModelsArgs"):
        command(typer.Typer(), "describe", st.ModelsArgs)
