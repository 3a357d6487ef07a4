"""In what order answers reach stdout with several inputs (docs/output.md, "Text format"):
as each input finishes, each whole under its `==> INPUT <==` header; with -j 1, in the
order given. That each block holds one whole answer at -j 5 over ten inputs is
test_batch.py::test_files_from_streams_inputs_and_text_answers_print_whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import write_image


def blocks(stdout: str) -> list[tuple[str, str]]:
    """(input, answer) per `==> INPUT <==` block, in the order printed."""
    parts = re.split(r"^==> (\S+) <==\n", stdout, flags=re.M)
    assert parts[0] == ""  # nothing before the first header
    return [(name, text.strip()) for name, text in zip(parts[1::2], parts[2::2], strict=True)]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_text_answers_come_as_each_input_finishes(kv, fake, tmp_path: Path, jobs: str) -> None:
    """The first request to arrive is held 1.5 s. The answers are handed out in the order
    they are made (`answers`), so FIRST, SECOND, THIRD is the finishing order. At -j 2 the
    held one is a.png or b.png, and c.png (sent when the other of those ends) finishes
    before it: the held input is printed last, not in the order given."""
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    fake.state.faults.append(Fault(delay=1.5))
    fake.state.answers.extend(["FIRST", "SECOND", "THIRD"])
    r = kv("describe", "-j", jobs, "a.png", "b.png", "c.png")
    assert r.returncode == 0, r.stderr
    printed = blocks(r.stdout)
    assert [text for _name, text in printed] == ["FIRST", "SECOND", "THIRD"]  # whole, as each finished
    names = [name for name, _text in printed]
    if jobs == "1":
        assert names == ["a.png", "b.png", "c.png"]
    else:
        assert sorted(names) == ["a.png", "b.png", "c.png"] and names[2] in ("a.png", "b.png")
