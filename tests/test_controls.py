"""Model text cannot drive the terminal (issue 19, item 12): on a terminal, control
characters in answers and reasoning are shown as `\\x1b`; pipes, JSON, sidecars and
manifests keep the text without them (newline and tab stay)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from kimi_vision_cli.output.controls import show_controls, strip_controls, strip_in
from kimi_vision_cli.types import display_name
from tests.conftest import installed_command
from tests.media import write_image

# An OSC title change (ended by BEL), a screen clear, a C1 CSI, a backspace, a CRLF and a tab.
HOSTILE = "Title \x1b]0;pwned\x07 then \x1b[2J cleared \x9b31m red\x08 end\r\nnext\tline"
STRIPPED = "Title ]0;pwned then [2J cleared 31m red end\nnext\tline"
SHOWN = "\\x1b]0;pwned\\x07"
REASONING = "Thinking \x1b]0;thought\x07 hard"
RAW = ("\x1b]0;", "\x1b[2J", "\x07", "\x9b", "\x08")


def test_strip_and_show_controls() -> None:
    assert strip_controls(HOSTILE) == STRIPPED
    shown = show_controls(HOSTILE)
    assert SHOWN in shown and "\\x1b[2J" in shown and "\\x9b31m" in shown and "end\nnext" in shown
    assert not any(c in shown for c in RAW) and "\tline" in shown
    assert strip_controls("plain\ttext\n") == "plain\ttext\n" and show_controls("é ü 日本") == "é ü 日本"
    assert strip_in({"alt\x1b": ["a\x07b", 3, None]}) == {"alt": ["ab", 3, None]}


# Every bidi control: embeddings/overrides, isolates, and the LRM/RLM/ALM marks.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# "Trojan Source": on screen, U+202E makes `approved` read as `devorppa` and so on.
TROJAN = "Caption: \u202eapproved\u202c \u2067isolated\u2069 \u200fmark\u061c done"


def test_bidi_controls_are_shown_on_a_terminal_and_removed_elsewhere() -> None:
    shown = show_controls(TROJAN)
    assert shown == "Caption: \\u202eapproved\\u202c \\u2067isolated\\u2069 \\u200fmark\\u061c done"
    assert strip_controls(TROJAN) == "Caption: approved isolated mark done"
    for c in BIDI:
        assert show_controls(c) == f"\\u{ord(c):04x}" and strip_controls(c) == ""
        assert display_name(f"a{c}b.png") == f"a\\u{ord(c):04x}b.png"  # a file name: escaped
    assert show_controls("عربي עברית") == "عربي עברית"  # right-to-left text itself is kept


def test_bidi_in_an_answer_and_a_file_name_on_a_terminal_and_in_files(
    invoke, kv, fake, tmp_path: Path
) -> None:
    name = "photo\u202egnp.png"  # U+202E: a terminal would show the rest of the name reversed
    write_image(tmp_path / name)
    write_image(tmp_path / "b.png", 32, 24)
    fake.state.answers.extend([TROJAN, TROJAN])
    code, out, err = invoke("describe", str(tmp_path / name), str(tmp_path / "b.png"), "-j", "1", tty=True)
    assert code == 0, err
    assert "photo\\u202egnp.png" in out and "\\u202eapproved\\u202c" in out and "\\u061c" in out
    assert not any(c in out + err for c in BIDI)
    fake.state.answers.extend([TROJAN])
    r = kv("describe", "b.png", "--format", "jsonl", "--sidecar", "txt", "--on-exists", "overwrite")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "Caption: approved isolated mark done"
    assert (tmp_path / "b.png.txt").read_text() == "Caption: approved isolated mark done\n"


def test_on_an_injected_terminal_answer_and_reasoning_are_shown_escaped(invoke, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.state.answers.append(HOSTILE)
    fake.state.reasonings.append(REASONING)
    code, out, err = invoke("describe", str(tmp_path / "a.png"), "--show-thinking", tty=True)
    assert code == 0, err
    assert SHOWN in out and "\\x1b[2J" in out and "\\x9b31m" in out
    assert "\\x1b]0;thought\\x07" in err
    for raw in RAW:
        assert raw not in out and raw not in err, repr(raw)


def test_piped_and_written_text_never_carries_a_control(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 32, 24)
    fake.state.answers.extend([HOSTILE, HOSTILE])
    fake.state.reasonings.extend([REASONING, REASONING])
    r = kv("describe", "-j", "1", "a.png", "--show-thinking", "--sidecar", "txt")
    assert r.returncode == 0, r.stderr
    assert STRIPPED in r.stdout and "Thinking ]0;thought hard" in r.stderr
    assert (tmp_path / "a.png.txt").read_text() == STRIPPED + "\n"
    r = kv("describe", "b.png", "--format", "jsonl", "--sidecar", "json", "--manifest", "m.jsonl")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["text"] == STRIPPED and rec["reasoning"].strip() == "Thinking ]0;thought hard"
    assert json.loads((tmp_path / "b.png.json").read_text())["text"] == STRIPPED
    (row,) = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert row["text"] == STRIPPED
    for raw in ("\\u001b", "\\u0007", "\x9b", "\\u0008", "\\r"):
        assert raw not in r.stdout and raw not in (tmp_path / "m.jsonl").read_text(), raw


def test_a_schema_answer_s_data_carries_no_control(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.state.answers.append(json.dumps({"alt_text": "a cat \x1b[2J on a mat"}))
    r = kv("describe", "a.png", "--schema", "alt_text", "--format", "json")
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)
    assert rec["data"] == {"alt_text": "a cat [2J on a mat"}
    assert "\x1b" not in rec["text"]  # the answer's own JSON text spells it `\u001b`: six letters


def _read_pty(fd: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


@pytest.mark.process
def test_the_installed_command_on_a_real_pty_shows_controls_escaped(env, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    fake.state.answers.append(HOSTILE)
    fake.state.reasonings.append(REASONING)
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [*installed_command(), "describe", "a.png", "--show-thinking"],
        stdin=subprocess.DEVNULL, stdout=child, stderr=child, cwd=tmp_path, env={**env, "COLUMNS": "120"},
    )  # fmt: skip
    os.close(child)
    try:
        out = _read_pty(main, proc).decode("utf-8", "replace")
    finally:
        os.close(main)
    assert proc.wait(timeout=30) == 0, out
    assert SHOWN in out and "\\x1b]0;thought\\x07" in out and "\\x1b[2J" in out
    for raw in RAW:
        assert raw not in out, repr(raw)


def test_a_segments_data_is_cleaned_as_the_records_data_is() -> None:
    """--segment with --schema: each part's `data` is model text too. The record and the
    cleaned copy (sidecars, manifests) once stripped only its `text`."""
    from kimi_vision_cli.output.records import Result

    segment = {"start": 0.0, "end": 4.0, "text": "a\x07b", "usage": None, "data": {"title": "x\x1b[31my"}}
    result = Result("clip.mp4", "m", text="a\x07b", segments=[segment], structured=True)
    record = result.to_dict()
    assert record["segments"][0]["text"] == "ab" and record["segments"][0]["data"] == {"title": "x[31my"}
    cleaned = result.cleaned().segments
    assert cleaned is not None and cleaned[0]["text"] == "ab" and cleaned[0]["data"] == {"title": "x[31my"}
    assert segment["data"] == {"title": "x\x1b[31my"}  # the Result itself is left as it was
