"""In what order answers reach stdout with several inputs (docs/output.md, "Text format"):
as each input finishes, each whole under its `==> INPUT <==` header; with -j 1, in the
order given. That each block holds one whole answer at -j 5 over ten inputs is
test_batch.py::test_files_from_streams_inputs_and_text_answers_print_whole."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fake_moonshot import Fault
from tests.media import write_image


def blocks(stdout: str) -> list[tuple[str, str]]:
    """(input, answer) per `==> INPUT <==` block, in the order printed."""
    parts = re.split(r"^==> (\S+) <==\n", stdout, flags=re.M)
    assert parts[0] == ""  # nothing before the first header
    return [(name, text.strip()) for name, text in zip(parts[1::2], parts[2::2], strict=True)]


NAMES = ("a.png", "b.png", "c.png", "d.png")
TEXTS = ("FIRST", "SECOND", "THIRD", "FOURTH")


def test_text_answers_come_in_the_order_given_with_one_job(kv, fake, tmp_path: Path) -> None:
    """-j 1: in the order given, the first input slow (0.2 s) or not."""
    for name in NAMES:
        write_image(tmp_path / name)
    fake.inject(Fault(delay=0.2))
    fake.state.answers.extend(TEXTS)  # handed out in the order the answers are made
    r = kv("describe", "-j", "1", *NAMES)
    assert r.returncode == 0, r.stderr
    assert blocks(r.stdout) == list(zip(NAMES, TEXTS, strict=True))


def test_text_answers_come_as_each_input_finishes(kv, fake, tmp_path: Path) -> None:
    """-j 2: the order of finishing is fixed by holds in the loopback server, not by time.
    The first request to arrive (a.png or b.png: `held`) waits until the fourth has arrived;
    a request is sent only once the one before it finished and was printed, so the other
    of a.png/b.png, then c.png, are answered and printed first. d.png then waits until
    `held` has ended. Answers are handed out in the order they are made (`answers`)."""
    for name in NAMES:
        write_image(tmp_path / name)
    fake.inject(Fault(hold_until_arrived=4), Fault(), Fault(), Fault(hold_until_ended=3))
    fake.state.answers.extend(TEXTS)
    r = kv("describe", "-j", "2", *NAMES)
    assert r.returncode == 0, r.stderr
    printed = blocks(r.stdout)  # each whole, under its header
    (held,) = {"a.png", "b.png"} - {printed[0][0]}
    assert printed[:2] == [(printed[0][0], "FIRST"), ("c.png", "SECOND")]  # as each finished
    assert dict(printed[2:]) == {held: "THIRD", "d.png": "FOURTH"}  # held: after c.png, given before it
