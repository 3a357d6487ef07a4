"""Write kimi_vision_cli/settings_types.py from the option table: `make settings` runs
`python -m kimi_vision_cli.cli.settings_gen kimi_vision_cli/settings_types.py`.

The option table (kimi_vision_cli/options.py) is the one declaration of every option
(issue 21 item 5). What Python needs typed is generated from it, not written again by
hand: a `Literal` alias per set of choices (so mypy catches `format == "jsn"`), the four
groups of Settings (each row's `group`) with their defaults, what `Settings.with_` takes,
and each command's own arguments (its rows with setting=False). tests/test_settings_types.py
fails when the checked-in module differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kimi_vision_cli.options import COMMANDS, GROUPS, OPTIONS, Opt

HEAD = '''"""Typed settings, generated from the option table (kimi_vision_cli/options.py) by
`make settings`: do not edit. Change the table's rows, then regenerate
(tests/test_settings_types.py fails on drift). settings.py assembles the groups into
Settings; each command takes its `...Args`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict'''

_DOCS = {
    "connection": "Where and how requests go: the endpoint, the key, timeout, retries.",
    "request": "What each request asks: model, prompt, system, thinking, limits, answer format.",
    "media": "How media is prepared and sent: size bound, conversion, metadata, segments, uploads.",
    "run": "How the run goes and shows: output format, dry run, concurrency, budgets, diagnostics.",
}
_KINDS = {str: "str", int: "int", float: "float", bool: "bool", Path: "Path", list: "list[str]"}


def alias(opt: Opt) -> str:
    """The Literal alias of a row's choices: on_exists -> OnExists."""
    return "".join(part.capitalize() for part in opt.dest.split("_"))


def choices(opt: Opt) -> tuple[str, ...]:
    """Every choice any command takes (describe's --format also vtt, srt), in table order."""
    seen = list(opt.choices)
    for _command, more in (*opt.wider, *opt.narrower):
        seen += [c for c in more if c not in seen]
    return tuple(seen)


def value_type(opt: Opt) -> str:
    """The type of a resolved value: its choices, what `parse` returns, or its kind."""
    if opt.choices:
        return alias(opt)
    if opt.parse is not None:
        return str(opt.parse.__annotations__["return"]).replace("'", '"')  # as ruff formats it
    return _KINDS[opt.kind]


def moonshot_name(value: object) -> str | None:
    """A default that is one of Moonshot's facts, by its name in moonshot.py (the facts
    live there only: tests/test_structure.py): "kimi-k2.6" -> DEFAULT_MODEL."""
    from kimi_vision_cli import moonshot

    for name, fact in vars(moonshot).items():
        if not name.isupper():
            continue
        if isinstance(fact, (str, tuple)) and type(fact) is type(value) and fact == value:
            return name
        if isinstance(fact, dict) and isinstance(value, str):
            key = next((k for k, v in fact.items() if v == value), None)
            if key is not None:
                return f'{name}["{key}"]'
    return None


def _setting(opt: Opt) -> str:
    typ = value_type(opt)
    default = opt.default if opt.default is not None else opt.field_default
    if opt.secret:
        return f"    {opt.dest}: {typ} | None = field(default=None, repr=False)"
    if default is None:
        return f"    {opt.dest}: bool = False" if opt.kind is bool else f"    {opt.dest}: {typ} | None = None"
    shown = moonshot_name(default) or (f'"{default}"' if isinstance(default, str) else repr(default))
    return f"    {opt.dest}: {typ} = {shown}"


def _argument(opt: Opt) -> str:
    typ = value_type(opt)
    given = opt.kind is bool or opt.default is not None or opt.required or (opt.argument and opt.kind is list)
    return f"    {opt.dest}: {typ}" if given else f"    {opt.dest}: {typ} | None"


def args_name(command: str) -> str:
    """The dataclass of a command's own arguments: "batch submit" -> BatchSubmitArgs."""
    return "".join(w.capitalize() for w in command.split()) + "Args"


def _settings_rows() -> list[Opt]:
    rows = [o for o in OPTIONS.values() if o.setting and o.group is not None]
    rows.sort(key=lambda o: GROUPS.index(o.group or "run"))  # stable: table order within a group
    strays = [o.dest for o in OPTIONS.values() if o.setting and o.group is None and o.dest != "region"]
    if strays:  # every option that reaches Settings has a place in it
        raise SystemExit(f"options.py: give these rows a group= ({', '.join(GROUPS)}): {', '.join(strays)}")
    return rows


def render() -> str:
    rows = _settings_rows()
    facts = sorted({n.split("[")[0] for o in rows if (n := moonshot_name(o.default or o.field_default))})
    head = HEAD + (f"\n\nfrom kimi_vision_cli.moonshot import {', '.join(facts)}" if facts else "")
    out = [
        head,
        "",
        "# -- choices: one alias per option that takes a fixed set of values ----------------",
        "",
    ]
    for opt in OPTIONS.values():
        if opt.choices:
            values = ", ".join(f'"{c}"' for c in choices(opt))
            out.append(f"{alias(opt)} = Literal[{values}]")
    out += [
        "",
        "",
        "# -- the groups of Settings ------------------------------------------------------------",
    ]
    for group in GROUPS:
        out += ["", "", "@dataclass(frozen=True, kw_only=True)", f"class {group.capitalize()}Settings:"]
        out += [f'    """{_DOCS[group]}"""', ""]
        out += [_setting(o) for o in rows if o.group == group]
    out += ["", "", "class GroupChanges(TypedDict, total=False):"]
    out += ['    """What Settings.with_ takes of the groups: any field, by its own name."""', ""]
    out += [f"    {o.dest}: {_setting(o).split(': ', 1)[1].split(' = ')[0]}" for o in rows]
    out += ["", "", "# Each field's group: Settings.with_(model=...) changes settings.request.model."]
    out += ["GROUP_OF: dict[str, str] = {"]
    out += [f'    "{o.dest}": "{o.group}",' for o in rows]
    out += [
        "}",
        "",
        "",
        "# -- each command's own arguments (rows with setting=False) ---------------------------",
    ]
    for command, dests in COMMANDS.items():
        own = [OPTIONS[d] for d in dests if not OPTIONS[d].setting]
        out += ["", "", "@dataclass(frozen=True, kw_only=True)", f"class {args_name(command)}:"]
        out.append(f'    """`kimi-vision {command}`: its options that are not Settings."""')
        out += ["", *[_argument(o) for o in own]] if own else []
    out += ["", "", "# The command -> its arguments (cli/params.py `command` checks the pairing)."]
    out += ["ARGS: dict[str, type] = {"]
    out += [f'    "{command}": {args_name(command)},' for command in COMMANDS]
    out += ["}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write(
            "usage: python -m kimi_vision_cli.cli.settings_gen kimi_vision_cli/settings_types.py\n"
        )
        return 2
    path = Path(args[0])
    new = render()
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if new != old:
        path.write_text(new, encoding="utf-8")
        sys.stderr.write(f"{path}: rewritten from the option table\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
