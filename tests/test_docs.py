"""Docs drift (STYLE "Tests"): the README stays short and links every page of docs/,
every link resolves, and docs/options.md documents every option of every command
under that command's heading. Fast: no subprocess, no network."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
OPTIONS = DOCS / "options.md"
README_MAX_LINES = 300


def _load_app() -> Any:
    """The Typer app with every command registered. If the app moves, change this line."""
    from kimi_vision_cli.cli.main import all_commands

    return all_commands()


def _root_command() -> Any:
    """The Click group behind the app (Typer may vendor its own Click: no click import)."""
    app = _load_app()
    return app if hasattr(app, "commands") else typer.main.get_command(app)


def _commands() -> list[tuple[str, Any]]:
    """("", root), ("describe", ...), ("files list", ...): every command and group."""
    found: list[tuple[str, Any]] = []

    def walk(path: str, cmd: Any) -> None:
        found.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            if not getattr(sub, "hidden", False):
                walk(f"{path} {name}".strip(), sub)

    walk("", _root_command())
    return found


def _long_flags(cmd: Any) -> list[str]:
    """Every long flag (`--thinking` and `--no-thinking` both), --help aside."""
    flags: list[str] = []
    for param in cmd.params:
        if getattr(param, "param_type_name", "") != "option" or getattr(param, "hidden", False):
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            if opt.startswith("--") and opt != "--help" and opt not in flags:
                flags.append(opt)
    return flags


def _mentions(text: str, flag: str) -> bool:
    # `--all` must not be satisfied by `--all-files`, nor `--thinking` by `--no-thinking`.
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _command_sections(text: str) -> dict[str, str]:
    """`## kimi-vision files list` -> {"files list": the text up to the next `## `}."""
    sections: dict[str, str] = {}
    masked = _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)  # same offsets
    heads = [m for m in _HEADING.finditer(masked) if len(m.group(1)) == 2]
    for i, m in enumerate(heads):
        title = m.group(2).replace("`", "").strip()
        if title == "kimi-vision" or title.startswith("kimi-vision "):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            sections[title[len("kimi-vision") :].strip()] = text[m.end() : end]
    return sections


def _relative_links(text: str) -> list[tuple[str, str]]:
    """(path, anchor) of each Markdown link or image that is not a URL, code blocks aside."""
    links = []
    for target in _LINK.findall(_FENCE.sub("", text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        links.append((path, anchor))
    return links


def _anchors(text: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    out = set()
    for m in _HEADING.finditer(_FENCE.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", m.group(2).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


# -- commands and options -------------------------------------------------------------


def test_the_command_tree_is_found() -> None:
    paths = {path for path, _ in _commands()}
    assert {"describe", "ask", "files list", "batch submit"} <= paths


def test_every_command_has_help() -> None:
    missing = [path for path, cmd in _commands() if path and not (cmd.help or "").strip()]
    assert missing == []


def test_every_command_has_a_section_in_options_md() -> None:
    sections = _command_sections(OPTIONS.read_text())
    missing = [f"## kimi-vision {path}".strip() for path, _ in _commands() if path not in sections]
    assert missing == [], f"docs/options.md lacks these headings: {missing}"


@pytest.mark.parametrize("path", [path for path, _ in _commands()], ids=lambda p: p or "kimi-vision")
def test_every_option_is_documented_under_its_command(path: str) -> None:
    cmd = dict(_commands())[path]
    section = _command_sections(OPTIONS.read_text()).get(path)
    assert section is not None, f"docs/options.md has no '## kimi-vision {path}' heading"
    missing = [flag for flag in _long_flags(cmd) if not _mentions(section, flag)]
    assert missing == [], f"docs/options.md, section 'kimi-vision {path}', does not mention {missing}"


def test_every_top_level_command_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [p for p, _ in _commands() if p and " " not in p and f"kimi-vision {p}" not in text]
    assert missing == []


# -- the README and the links -------------------------------------------------------------


def test_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference text into docs/"


def test_readme_links_every_docs_page() -> None:
    targets = {(README.parent / t).resolve() for t, _ in _relative_links(README.read_text())}
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ holds no pages"
    assert [p.name for p in pages if p.resolve() not in targets] == []


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for path, anchor in _relative_links(doc.read_text()):
        target = (doc.parent / path).resolve() if path else doc
        if not target.exists():
            broken.append(f"{path} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target.read_text()):
            broken.append(f"{path}#{anchor} (no such heading)")
    assert broken == [], f"{doc.relative_to(ROOT)}: broken links {broken}"


_REPO_PATH = re.compile(r"(?<![\w./-])((?:kimi_vision_cli|tests|benchmarks|completions|docs)/[\w./-]*)")
_MODULE = re.compile(r"(?<![\w./-])(kimi_vision_cli(?:\.\w+)+)")


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_repo_files_and_modules_exist(doc: Path) -> None:
    """`tests/test_privacy.py`, `kimi_vision_cli/moonshot.py`, `python -m kimi_vision_cli.x`:
    code moves, and the pages must follow."""
    text = doc.read_text()
    missing = [p for p in _REPO_PATH.findall(text) if not (ROOT / p.rstrip(".")).exists()]
    for module in _MODULE.findall(text):
        base = ROOT / module.replace(".", "/")
        if not (base.with_suffix(".py").exists() or (base / "__init__.py").exists()):
            missing.append(module)
    assert missing == [], f"{doc.relative_to(ROOT)} names what does not exist: {missing}"


# -- the output contract is documented --------------------------------------------------


def test_output_md_documents_every_json_key() -> None:
    from kimi_vision_cli.output.records import VIDEO_KEYS
    from tests.test_contract import MEDIA_KEYS, RESULT_KEYS  # pinned there, wherever render moves

    text = (DOCS / "output.md").read_text()
    estimate = ("model", "inputs", "total_tokens", "cost", "tokens")
    missing = [k for k in (*RESULT_KEYS, *MEDIA_KEYS, *VIDEO_KEYS, *estimate) if f"`{k}`" not in text]
    assert missing == []


# -- docs/options.md is generated from the live commands (issue 21 item 9, 19 item 26) ----


def test_options_md_tables_are_what_make_docs_writes() -> None:
    from kimi_vision_cli.cli.docs_gen import missing_sections, render

    text = OPTIONS.read_text()
    assert missing_sections(text) == [], "docs/options.md lacks headings: add them, then run `make docs`"
    want = render(text)
    if want != text:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                text.splitlines(True), want.splitlines(True), "docs/options.md", "make docs", n=1
            )
        )
        pytest.fail(f"docs/options.md differs from the live --help; run `make docs`:\n{diff[:4000]}")


def test_the_drift_check_sees_a_changed_default_and_a_new_option() -> None:
    """The check above can fail: a table row edited by hand, or a command's block missing
    (a new command), is rewritten by render()."""
    from kimi_vision_cli.cli.docs_gen import render

    text = OPTIONS.read_text()
    edited = text.replace("1-256; default 4]", "1-256; default 5]", 1)
    assert edited != text and render(edited) == render(text) != edited
    no_block = re.sub(r"<!-- options: models .*?<!-- options: end -->\n", "", text, flags=re.S)
    assert no_block != text and "<!-- options: models " in render(no_block)


def test_every_command_has_its_generated_table() -> None:
    from kimi_vision_cli.cli.docs_gen import commands

    text = OPTIONS.read_text()
    missing = [path for path, _ in commands() if f"<!-- options: {path} (generated" not in text]
    assert missing == []


_CHOICES_IN_PROSE = re.compile(r"(^\| )?`(--[a-z-]+) ([a-z0-9]+(?:\\\|[a-z0-9]+)+)`", re.M)


@pytest.mark.parametrize("path", [p for p, _ in _commands() if p], ids=str)
def test_choices_written_by_hand_are_the_commands_choices(path: str) -> None:
    """`--on-exists skip\\|overwrite` in a command's prose lists what its --help offers: all of
    them in the option's table row, some of them elsewhere (`--format vtt\\|srt`)."""
    cmd = dict(_commands())[path]
    section = _command_sections(OPTIONS.read_text())[path]
    section = re.sub(r"<!-- options: .*?<!-- options: end -->", "", section, flags=re.S)
    offered = {}
    for param in cmd.params:
        shown = getattr(param, "metavar", None) or ""  # --help's value column: text|json|jsonl
        for flag in getattr(param, "opts", []):
            if "|" in shown:
                offered[flag] = shown.split("|")
    wrong = []
    for row, flag, shown in _CHOICES_IN_PROSE.findall(section):
        names = shown.split("\\|")
        if flag in offered and (names != offered[flag] if row else not set(names) <= set(offered[flag])):
            wrong.append(f"{flag} {shown}")
    assert wrong == [], (
        f"docs/options.md, section 'kimi-vision {path}', lists other choices than --help: {wrong}"
    )


def test_batch_help_says_what_batch_does(
    invoke, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 24: batch submit sends max_tokens 4096 and checks --max-cost on the worst
    case; batch results takes --sidecar vtt|srt for a batch submitted with --segment."""
    monkeypatch.setenv("COLUMNS", "300")  # rich prints help to the process's stdout
    invoke("batch", "submit", "--help")
    flat = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "1; default 4096]" in flat and "worst case" in flat
    invoke("batch", "results", "--help")
    flat = " ".join(capsys.readouterr().out.replace("│", " ").split())
    # vtt/srt: for a batch submitted with --segment (issue 23 item 6)
    assert "--sidecar txt|json|xmp|vtt|srt" in flat


def test_the_shard_rule_batch_md_states_is_the_one_describe_applies() -> None:
    """Issue 19 item 24: batch.md's formula, run as written, picks the shard Shard.owns keeps."""
    import hashlib

    from kimi_vision_cli.flows.describe import Shard
    from kimi_vision_cli.types import Source

    text = (DOCS / "batch.md").read_text()
    line = re.search(r"```python\n(part = .*)\n```", text)
    assert line, "batch.md no longer shows the shard rule as a line of Python"
    names = ["a.png", "photos/2024/dog.png", "https://x/y.jpg?z=1", "caf\udce9.png", *map(str, range(40))]
    for n in (1, 2, 3, 7):
        for name in names:
            scope = {"hashlib": hashlib, "name": name, "n": n}
            exec(line.group(1), scope)
            owners = [k for k in range(1, n + 1) if Shard(k, n).owns(Source("path", name))]
            assert owners == [scope["part"]], (name, n)


_PROSE_ROW = re.compile(r"^\| `(?:-\w, )?(--[a-z-]+)[^|]*\|(.*)$", re.M)
_PROSE_DEFAULT = re.compile(r"\bdefault (?:`([^`]+)`|(\d[\d.]*\d|\d)|(enabled|disabled)\b)")
_HELP_DEFAULT = re.compile(r"default ([^\]; ]+)\]")


def _same(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def test_defaults_written_by_hand_are_those_help_shows() -> None:
    """A row of options.md's prose tables that says `default X` agrees with the default some
    command's --help shows for that flag (a default changed in the table fails here)."""
    shown: dict[str, set[str]] = {}
    for _, cmd in _commands():
        for param in cmd.params:
            m = _HELP_DEFAULT.search(getattr(param, "help", None) or "")
            for flag in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                shown.setdefault(flag, set()).update([m.group(1)] if m else [])
    prose = re.sub(r"<!-- options: .*?<!-- options: end -->", "", OPTIONS.read_text(), flags=re.S)
    wrong = []
    for flag, rest in _PROSE_ROW.findall(prose):
        m = _PROSE_DEFAULT.search(rest)
        said = m and next(g for g in m.groups() if g)
        if said and flag in shown and not any(_same(said, d) for d in shown[flag]):
            wrong.append(f"{flag}: docs say default {said}, --help {sorted(shown[flag]) or 'none'}")
    assert wrong == [], f"docs/options.md: {wrong}"
