"""Small frictions (issue 19, items 19-22 and 25): errors that say what to do, input
lists and walks, and rate-limit pacing that says what it does."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.fake_moonshot import Fault
from tests.media import write_image


def _errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("kimi-vision: error:")]


# -- 19.19: errors that say what to do ------------------------------------------------


def test_a_sidecar_beside_its_input_that_cannot_be_written_names_that_folder(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    from kimi_vision_cli.output import sidecar

    def denied(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(sidecar, "replace_file", denied)
    (tmp_path / "pics").mkdir()
    write_image(tmp_path / "pics" / "a.png", 8, 6)
    r = kv("describe", "--sidecar", "txt", "pics/a.png")
    assert r.returncode == 1, r.all
    (line,) = _errors(r.stderr)
    assert "cannot write sidecar pics/a.png.txt" in line
    assert "--output-dir DIR" in line and "check that pics can be written" in line
    assert "check --output-dir" not in line  # none was given


def test_a_sidecar_under_output_dir_that_cannot_be_written_names_the_dir(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:
    from kimi_vision_cli.output import sidecar

    def denied(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(sidecar, "replace_file", denied)
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("describe", "--output-dir", "caps", "a.png")
    (line,) = _errors(r.stderr)
    assert "check that --output-dir caps can be written" in line


@pytest.mark.parametrize("max_tokens", [None, "9000"])
def test_a_token_limit_refusal_names_the_options_that_make_it_fit(
    kv, fake, tmp_path: Path, max_tokens: str | None
) -> None:
    fake.inject(
        Fault(
            status=400,
            type="invalid_request_error",
            message="Invalid request: Your request exceeded model token limit: 8192 (requested: 12285)",
        )
    )
    write_image(tmp_path / "a.png", 8, 6)
    extra = ["--max-tokens", max_tokens] if max_tokens else []
    r = kv("describe", "a.png", *extra)
    assert r.returncode == 1, r.all
    (line,) = _errors(r.stderr)
    assert "exceeded model token limit: 8192" in line
    assert "--max-size" in line and "larger context" in line
    assert ("lower --max-tokens (now 9,000)" if max_tokens else "set a smaller --max-tokens") in line


@pytest.mark.parametrize("other", [["--json-mode"], ["--schema", "alt_text"]])
def test_ask_prefix_with_a_response_format_is_refused_before_sending(
    kv, fake, tmp_path: Path, other: list[str]
) -> None:
    write_image(tmp_path / "a.png", 8, 6)
    r = kv("ask", "what is it?", "a.png", "--prefix", "{", *other)
    assert r.returncode == 2, r.all
    (line,) = _errors(r.stderr)
    assert f"--prefix (Partial Mode) cannot be combined with {other[0]}" in line
    assert fake.state.requests == []
