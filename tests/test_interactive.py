"""`ask -i`: follow-up questions from stdin, in one conversation with the first turn's media."""

from __future__ import annotations

import json
from pathlib import Path

from tests.media import write_image


def test_two_turns_carry_history(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("ask", "-i", "What is this?", "a.png", input=b"What colour is it?\nexit\nnever asked\n")
    assert r.returncode == 0, r.stderr
    first, second = fake.chat_requests  # `exit` ended it: the third line was never sent
    answers = r.stdout.splitlines()
    assert answers[0].startswith("**Answer 1** to 'What is this?'")
    assert answers[1].startswith("**Answer 2** to 'What colour is it?'")
    msgs = second.body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0] == first.body["messages"][0]  # the media, exactly as first sent
    assert msgs[1] == {"role": "assistant", "content": answers[0]}
    assert msgs[2] == {"role": "user", "content": "What colour is it?"}
    assert "> " not in r.stderr and "> " not in r.stdout  # stdin is a pipe: no prompt (19.23)


def test_uploaded_media_are_referenced_not_uploaded_again(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("ask", "-i", "What is this?", "a.png", "--upload", "always", input=b"And now?\n")
    assert r.returncode == 0, r.stderr
    assert len(fake.requests_to("/v1/files")) == 1  # one upload for the whole conversation
    first, second = fake.chat_requests
    url = second.body["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("ms://")
    assert url == first.body["messages"][0]["content"][0]["image_url"]["url"]


def test_eof_quit_and_blank_lines(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("ask", "-i", "Q1", "a.png")  # empty stdin: EOF at once
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 1
    r = kv("ask", "-i", "Q1", "a.png", input=b"\n   \nQ2\nquit\n")
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 3  # blank lines are skipped, quit ends
    assert fake.chat_requests[-1].body["messages"][-1] == {"role": "user", "content": "Q2"}


def test_stdin_cannot_be_an_input(kv, fake, tmp_path: Path) -> None:
    r = kv("ask", "-i", "What is this?", "-", input=b"\x89PNG")
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("kimi-vision: error: -: cannot be an input with -i/--interactive")
    assert fake.state.requests == []


def test_jsonl_one_object_per_turn(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("ask", "-i", "Q1", "a.png", "--format", "jsonl", input=b"Q2\nQ3\n")
    assert r.returncode == 0, r.stderr
    texts = [json.loads(line)["text"] for line in r.stdout.splitlines()]
    assert [t.split(" to ")[0] for t in texts] == ["**Answer 1**", "**Answer 2**", "**Answer 3**"]
    assert len(fake.chat_requests[-1].body["messages"]) == 5


def test_json_and_dry_run_refused(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 64, 48)
    for extra in (("--format", "json"), ("--dry-run",)):
        r = kv("ask", "-i", "Q1", "a.png", *extra)
        assert r.returncode == 2 and "-i/--interactive" in r.stderr
    assert fake.state.requests == []


def test_prompts_only_when_stdin_is_a_terminal(
    env: dict[str, str], fake, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.23: a person at a terminal gets `> ` prompts on stderr; a script piping
    the questions in gets none (checked above, in test_two_turns_carry_history)."""
    import io

    from kimi_vision_cli.cli.main import run
    from kimi_vision_cli.terminal import Terminal

    write_image(tmp_path / "a.png", 64, 48)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    term = Terminal(
        stdout=out, stderr=err, stdin=io.BytesIO(b"And now?\n"), stdout_isatty=False, stderr_isatty=False,
        stdin_isatty=True, color=False, width=100, env=env,
    )  # fmt: skip
    assert run(["ask", "-i", "Q1", "a.png"], term) == 0
    assert err.getvalue() == "> > \n"  # before each question, and a newline at EOF
    assert "> " not in out.getvalue() and len(fake.chat_requests) == 2


def test_a_follow_up_that_is_not_utf8_is_one_line_exit_2(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.7: `printf 'caf\\xe9?\\n' | kimi-vision ask -i q img.png` was a traceback."""
    write_image(tmp_path / "a.png", 64, 48)
    r = kv("ask", "-i", "Q1", "a.png", input=b"caf\xe9?\nnever asked\n")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "kimi-vision: error: a follow-up question on standard input is not valid UTF-8 text — "
        "type or pipe the questions in UTF-8 (check the terminal's or the file's encoding)"
    ]
    assert len(fake.chat_requests) == 1  # the first question only: nothing half-sent
    assert r.stdout.startswith("**Answer 1**")


def test_an_empty_question_is_refused_before_anything_is_sent(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.23: `ask ""` sent an empty question."""
    write_image(tmp_path / "a.png", 64, 48)
    for question in ("", "  \n "):
        r = kv("ask", question, "a.png")
        assert r.returncode == 2
        assert r.stderr.startswith("kimi-vision: error: QUESTION is empty — ") and r.stderr.count("\n") == 1
    assert fake.state.requests == []
