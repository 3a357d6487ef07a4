"""The docs are executed (issue 19 item 26): every shell block of README.md and docs/*.md
that runs `kimi-vision` runs here against the loopback server, and the output a page shows
is compared with what the command prints. The conventions are in tests/docs_run.py.

A failure names the page, the line and the command, with a diff. To take the commands'
output into the pages (then read the diff: abridged lines, `...`, are replaced too):
KIMI_VISION_DOCS_UPDATE=1 .venv/bin/python -m pytest -n 0 tests/test_docs_run.py
"""

from __future__ import annotations

import json
import os
import warnings
from collections import deque
from pathlib import Path

import pytest

from tests.docs_run import (
    LIBRARY,
    ROOT,
    SHELL,
    Block,
    Session,
    blocks,
    commands,
    fault_of,
    has_bash_tools,
    id_map,
    matches,
    normalise,
    populate,
    report,
)
from tests.fake_moonshot import FakeMoonshot, Limits

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UPDATE = bool(os.environ.get("KIMI_VISION_DOCS_UPDATE"))


def _fresh(session: Session, fake: FakeMoonshot, base: Path, n: int, library: bool = True) -> None:
    session.workdir = base / f"run{n}"
    session.workdir.mkdir(parents=True)
    populate(session.workdir, dict.fromkeys(LIBRARY, "") if library else {})
    fake.reset()
    session.env["MOONSHOT_API_KEY"] = fake.api_key
    session.last = 0


DIRECTIVES = {"skip", "fresh", "files", "fault", "state", "limits", "env", "write"}


def _prepare(block: Block, session: Session, fake: FakeMoonshot, base: Path, n: int) -> None:
    unknown = [k for k, _ in block.directives if k not in DIRECTIVES]
    assert not unknown, f"{block.where}: unknown doc-run directive {unknown}; known: {sorted(DIRECTIVES)}"
    for key, value in block.directives:
        if key == "fresh":  # `fresh empty`: without the library's media
            _fresh(session, fake, base, n, library=value != "empty")
    for key, value in block.directives:
        if key == "files":
            populate(session.workdir, dict(f.partition("=")[::2] for f in value.split()))
        elif key == "fault":
            fake.inject(fault_of(value))  # type: ignore[arg-type]
        elif key == "state":  # attributes of the account: {"max_files": 0}, {"answers": [...]}
            for name, val in json.loads(value).items():
                setattr(fake.state, name, deque(val) if name == "answers" else val)
        elif key == "limits":  # rate limits enforced (tests.fake_moonshot.Limits)
            fake.state.limits = Limits(**json.loads(value))
        elif key == "env":
            name, _, val = value.partition("=")
            session.env[name] = session.expand(val)
        elif key == "write":  # write PATH TEXT (\n for a newline)
            name, _, text = value.partition(" ")
            path = session.workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("\\n", "\n") + "\n", encoding="utf-8")


def _run_block(
    block: Block, session: Session, problems: list[str], updates: list[tuple[int, int, list[str]]]
) -> None:
    cmds = commands(block)
    script = "\n".join(block.body)
    if block.lang != "console" and SHELL.search(script):  # a script (case, loops, pipes): bash runs it whole
        code, out = session.run(script)
        if code != 0:
            problems.append(f"{block.where}: the block exited {code}:\n{out[-2000:]}")
        return
    for cmd in cmds:
        code, out = session.run(cmd.text)
        if block.lang != "console":
            if code != 0:
                problems.append(
                    f"{block.where.split(':')[0]}:{cmd.line}: $ {cmd.text}\nexited {code}:\n{out[-2000:]}"
                )
            continue
        session.ids.update(id_map(cmd.shown, out))
        shown = [normalise(s, session.workdir) for s in cmd.shown]
        if not matches(shown, normalise(out, session.workdir)):
            problems.append(report(block.where, cmd, cmd.shown, out, session.workdir))
            updates.append((cmd.line, len(cmd.shown), session.shown(out).rstrip("\n").splitlines()))


def _write_updates(page: Path, updates: list[tuple[int, int, list[str]]]) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    for line, count, new in sorted(updates, reverse=True):
        lines[line : line + count] = new  # `line` is the command's (1-based), so its output starts there
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p)], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_the_shell_examples_of_a_page_run_as_shown(
    page: Path, fake: FakeMoonshot, env: dict[str, str], tmp_path: Path
) -> None:
    problems, updates = _run_page(page, fake, env, tmp_path)
    if UPDATE and updates:
        _write_updates(page, updates)
    assert not problems, "\n\n".join(problems)


def _run_page(
    page: Path, fake: FakeMoonshot, env: dict[str, str], tmp_path: Path
) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    session = Session(tmp_path, {**env, "K": "1", "KIMI_VISION_CONCURRENCY": "1"}, fake)
    _fresh(session, fake, tmp_path, 0)
    problems: list[str] = []
    updates: list[tuple[int, int, list[str]]] = []
    for n, block in enumerate(blocks(page), 1):
        skip = [v for k, v in block.directives if k == "skip"]
        if skip:
            assert skip[0], f"{block.where}: `doc-run: skip` needs a reason"
            continue
        missing = has_bash_tools(block)
        if missing:  # `make install` installs exiftool, `make test` jq (as root, with apt)
            warnings.warn(f"{block.where}: not run, {', '.join(missing)} not installed", stacklevel=1)
            continue
        _prepare(block, session, fake, tmp_path, n)
        _run_block(block, session, problems, updates)
    return problems, updates


PAGE = """Some prose.

```console
$ kimi-vision describe icon.png
**Answer 1** to 'Describe the content of the image.': a 24x16 image/png image, mean colour (172, 60, 20).
$ kimi-vision describe icon.png --format jsonl
{"input": "icon.png", ..., "error": null}
$ kimi-vision upload icon.png photo.png
ms://cu0123456789abcdef01	icon.png
...
$ kimi-vision files delete cu0123456789abcdef01
deleted ms://cu0123456789abcdef01
$ kimi-vision describe -j 8 icon.png
A caption nobody printed.
$ echo $?
1
```

<!-- doc-run: skip a reason -->
```sh
kimi-vision describe nothing-here.png
```
"""


def test_the_runner_passes_what_matches_and_names_the_line_that_drifted(
    fake: FakeMoonshot, env: dict[str, str], tmp_path: Path
) -> None:
    """The check can fail: of a page whose last two outputs are wrong, exactly those two lines
    are reported, with the command; `...` abridges, ids map to the run's, skip skips."""
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    problems, updates = _run_page(page, fake, env, tmp_path / "run")
    assert [p.split(": $ ")[0] for p in problems] == [f"{page}:13", f"{page}:15"]
    assert "$ kimi-vision describe -j 8 icon.png" in problems[0] and "+**Answer 1**" in problems[0]
    assert [u[0] for u in updates] == [13, 15]


def test_an_unknown_directive_is_refused(fake: FakeMoonshot, env: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- doc-run: skp typo -->\n```sh\nkimi-vision models\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="unknown doc-run directive"):
        _run_page(page, fake, env, tmp_path / "run")


@pytest.mark.process
def test_batch_md_wait_script_takes_every_batch_of_a_split_job(
    env: dict[str, str], fake: FakeMoonshot, tmp_path: Path
) -> None:
    """Issue 19 item 24: the script in batch.md, run as written, gets the answers of a job
    that `batch submit` split into two batches (two ids on two lines). Here `batch submit`
    is two real submits, since a split needs over 100 MB of requests."""
    from tests.docs_run import Session, blocks

    (script,) = [
        b for b in blocks(ROOT / "docs" / "batch.md") if b.lang == "sh" and "until" in "\n".join(b.body)
    ]
    populate(tmp_path, {"photos/a.png": "40x30", "photos/b.png": "30x40"})
    split = (
        'kimi-vision() { if [ "$2" = submit ]; then command kimi-vision batch submit photos/a.png '
        '&& command kimi-vision batch submit photos/b.png; else command kimi-vision "$@"; fi; }\n'
    )
    code, out = Session(tmp_path, dict(env), fake).run(split + "\n".join(script.body))
    assert code == 0, out
    records = [json.loads(line) for line in (tmp_path / "captions.jsonl").read_text().splitlines()]
    assert sorted(r["input"] for r in records) == ["photos/a.png", "photos/b.png"]
    assert all(r["error"] is None for r in records)


def test_a_block_that_makes_kimi_vision_run_exiftool_needs_exiftool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit: a block writing `--sidecar xmp` or `--embed` names no `exiftool`, yet fails
    without it; on a machine lacking ExifTool it is left out, said, like one that does."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    page = ROOT / "docs" / "x.md"
    for line in ("$ kimi-vision describe a.jpg --sidecar xmp", "$ kimi-vision describe --embed a.jpg"):
        assert has_bash_tools(Block(page, 1, "console", [line])) == ["exiftool"]
    assert has_bash_tools(Block(page, 1, "console", ["$ kimi-vision describe a.jpg --sidecar json"])) == []
    assert has_bash_tools(Block(page, 1, "console", ["$ kimi-vision describe a.jpg | jq ."])) == ["jq"]
