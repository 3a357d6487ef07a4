"""Parameter conversion without pydantic (issue 12, item 4: start-up near the floor).

Typer 0.29 converts every parameter value, even an absent one, through a pydantic
TypeAdapter it builds on first use: importing pydantic and building the adapters of a
describe run cost about 80 ms before the first request. The option table's kinds are few
(str, int, float, bool, Path, a choice, a list of str), so they are converted here as
Typer would, with Typer's own messages; any other annotation keeps Typer's converter.
No private Typer attribute is used (issue 21 item 6): the conversion answers the
parameter's public `get_runtime_param()`; that Typer asks it is behaviour, so typer is
bounded in pyproject.toml and tests/test_cli_coerce.py compares every kind with Typer's
own converter (docs/architecture.md: the start-up decision).
"""

from __future__ import annotations

import os
import re
import stat
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import typer

_INT_MESSAGE = "Input should be a valid integer, unable to parse string as an integer"
_FLOAT_MESSAGE = "Input should be a valid number, unable to parse string as a number"
# What pydantic strips around a number: Unicode White_Space (Python's str.strip() also
# strips the separators \x1c-\x1f, which pydantic refuses).
_SPACE = (
    " \t\n\x0b\x0c\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_INTEGRAL = re.compile(r"([+-]?[0-9][0-9_]*)\.0+")  # pydantic takes "4.0" as an int


def _int(text: str) -> int:
    text = text.strip(_SPACE)
    if text.isascii():
        whole = _INTEGRAL.fullmatch(text)
        try:
            return int(whole.group(1) if whole else text)
        except ValueError:
            pass
    raise ValueError(_INT_MESSAGE)


def _float(text: str) -> float:
    text = text.strip(_SPACE)
    if text.isascii():
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(_FLOAT_MESSAGE)


def _bool(text: str) -> bool:
    # Only a bool that is not a flag gets text (Typer skips flags' values): pydantic's words.
    word = text.strip().lower()
    if word in ("", "0", "off", "f", "false", "n", "no"):
        return False
    if word in ("1", "on", "t", "true", "y", "yes"):
        return True
    raise ValueError("Input should be a valid boolean, unable to interpret input")


def _choice(kind: type[Enum], text: str) -> Enum:
    for member in kind:
        if member.value == text:
            return member
    shown = ", ".join(repr(member.value) for member in kind)
    raise ValueError(f"Value error, {text!r} is not one of {shown}.")


class PlainConversion:
    """Stands in for Typer's RuntimeParam: `coerce(value, param, ctx)`; called, it is
    the `get_runtime_param()` that returns itself."""

    def __call__(self) -> PlainConversion:
        return self

    def __init__(self, annotation: Any, info: Any) -> None:
        self.annotation = annotation
        self.info = info

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        many = param.multiple or param.nargs == -1
        if value is None:
            return () if many else None
        if many:
            if isinstance(value, str):
                raise typer.BadParameter("Value must be an iterable.", ctx=ctx, param=param)
            (item,) = get_args(self.annotation)
            return [self.one(item, v, param, ctx) for v in value]
        return self.one(self.annotation, value, param, ctx)

    def one(self, kind: Any, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, kind):
            return value
        if kind is Path:
            return _path(value, self.info, param, ctx)
        try:
            if kind is int:
                return _int(value)
            if kind is float:
                return _float(value)
            if kind is bool:
                return _bool(value)
            if issubclass(kind, Enum):
                return _choice(kind, value)
            return str(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), ctx=ctx, param=param) from None


def _path(value: Any, info: Any, param: Any, ctx: Any) -> Path:
    """Typer's checks of a path option (--output-dir must not be a file), as its
    coerce_cli_path makes them (a private function: tests/test_cli_coerce.py compares
    the two), without its pydantic adapter."""
    path = Path(value)
    if value == "-" and info.allow_dash:
        return path
    shown = repr(str(value))  # named as typed, checked as a Path (Typer's own way)
    if info.resolve_path:
        path = Path(os.path.realpath(path))
    label = "file" if info.file_okay and not info.dir_okay else "dir" if not info.file_okay else "path"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        if not info.exists:
            return path
        raise typer.BadParameter(f"{label} {shown} does not exist.", ctx=ctx, param=param) from None
    refused = [
        (not info.file_okay and stat.S_ISREG(mode), "is a file"),
        (not info.dir_okay and stat.S_ISDIR(mode), "is a directory"),
        (info.readable and not os.access(path, os.R_OK), "is not readable"),
        (info.writable and not os.access(path, os.W_OK), "is not writable"),
    ]
    for failed, why in refused:
        if failed:
            raise typer.BadParameter(f"{label} {shown} {why}.", ctx=ctx, param=param)
    return path


def _plain_kind(annotation: Any, info: Any) -> bool:
    if getattr(info, "parser", None) is not None or getattr(info, "min", None) is not None:
        return False
    if getattr(info, "max", None) is not None or not getattr(info, "case_sensitive", True):
        return False
    if get_origin(annotation) is list:
        return get_args(annotation) == (str,)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return all(isinstance(m.value, str) for m in annotation)
    return annotation in (str, int, float, bool, Path)


def install_coercion(param: Any) -> None:
    """Give `param` the plain conversion when its kind is one of ours, leaving anything
    else to Typer. It answers Typer's `get_runtime_param()` (a public method, which
    Typer's process_value calls) before Typer builds its pydantic adapter there; that it
    does is Typer's behaviour, not its promise: pyproject bounds typer, and
    tests/test_structure.py fails when a describe imports pydantic again."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or isinstance(getattr(param, "get_runtime_param", None), PlainConversion):
        return
    if _plain_kind(descriptor.annotation, descriptor.parameter_info):
        conversion = PlainConversion(descriptor.annotation, descriptor.parameter_info)
        param.get_runtime_param = conversion
