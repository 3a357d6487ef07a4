"""cli/coerce.py converts option values without pydantic (issue 12, item 4); what it
returns, and the message of what it refuses, must be Typer's own. Typer's converter is
the reference here, so a Typer upgrade that changes it fails these tests."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.markup import escape
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer.models import ArgumentInfo, OptionInfo

from kimi_vision_cli.cli.coerce import PlainConversion
from kimi_vision_cli.cli.params import escape_markup

Format = Enum("Format", {"text": "text", "json": "json"}, type=str)  # as cli/params.py makes them
ONE = SimpleNamespace(multiple=False, nargs=1, get_error_hint=lambda: "'--x'")
MANY = SimpleNamespace(multiple=False, nargs=-1, get_error_hint=lambda: "'INPUT'")


def outcome(converter: Any, value: Any, param: Any = ONE) -> tuple[str, Any]:
    try:
        value = converter.coerce(value, param=param, ctx=None)
        return "ok", (type(value), repr(value))  # repr: nan is not nan
    except Exception as exc:  # BadParameter: compare what the user would read
        return "refused", exc.format_message()  # type: ignore[attr-defined]


def both(kind: Any, info: Any = None) -> tuple[Any, Any]:
    info = info or OptionInfo()
    return build_runtime_param(resolve_type_descriptor(kind, info)), PlainConversion(kind, info)


NUMBERS = ["3", " 3 ", "+3", "-3", "010", "1_0", "1.0", "1.00", "1.5", "1e3", "３", "0x10", "", " ",
           "1__0", "_1", "1.", ".5", "nan", "-inf", "Infinity", "1_0.5", "1e400", "9" * 30, "\t4\n"]  # fmt: skip


@pytest.mark.parametrize("kind", [int, float, str, bool, Path, Format])
@pytest.mark.parametrize("text", [*NUMBERS, "json", "JSON", "text ", "true", "no", "-", "a/b"])
def test_plain_conversion_is_typers(kind: Any, text: str) -> None:
    typers, ours = both(kind)
    assert outcome(ours, text) == outcome(typers, text)


@given(st.text(st.characters(codec="utf-8"), max_size=12))
@example("٣")  # an Arabic-Indic digit: int() takes it, pydantic does not
@example("\x1c3")  # str.strip() drops \x1c, pydantic does not
@settings(max_examples=300, deadline=None)
def test_numbers_anything_typed(text: str) -> None:
    for kind in (int, float):
        typers, ours = both(kind)
        assert outcome(ours, text) == outcome(typers, text)


def test_absent_values_and_lists() -> None:
    typers, ours = both(list[str], ArgumentInfo())
    for value in (None, (), ("a.png", "b.png")):
        assert outcome(ours, value, MANY) == outcome(typers, value, MANY)
    typers, ours = both(int)
    assert outcome(ours, None) == outcome(typers, None) == ("ok", (type(None), "None"))


def test_a_directory_option_refuses_a_file_as_typer_does(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    info = OptionInfo(file_okay=False)
    typers, ours = both(Path, info)
    for value in (str(tmp_path / "f"), str(tmp_path), str(tmp_path / "new"), str(tmp_path / "f") + "/"):
        assert outcome(ours, value) == outcome(typers, value)
    # The checks cli/coerce.py makes itself rather than call Typer's private coerce_cli_path.
    for info in (OptionInfo(exists=True), OptionInfo(dir_okay=False), OptionInfo(resolve_path=True)):
        typers, ours = both(Path, info)
        for value in (str(tmp_path / "f"), str(tmp_path), str(tmp_path / "new"), "-"):
            assert outcome(ours, value) == outcome(typers, value), (info, value)
    dash = OptionInfo(allow_dash=True)
    typers, ours = both(Path, dash)
    assert outcome(ours, "-") == outcome(typers, "-") == ("ok", (Path("-").__class__, repr(Path("-"))))


@given(st.text(st.sampled_from("[]\\ab/#@xZ ;="), max_size=14))
@settings(max_examples=500, deadline=None)
def test_help_escape_is_richs(text: str) -> None:
    assert escape_markup(text) == escape(text)
