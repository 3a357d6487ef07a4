"""output/writers.py: the sidecar and manifest writers describe and `batch results` share,
and what a resumed run skips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.inputs.discover import Source
from kimi_vision_cli.output.manifest import Manifest
from kimi_vision_cli.output.sidecar import SidecarSpec
from kimi_vision_cli.output.writers import Writers


def answer(text: str, data: dict[str, Any] | None = None) -> Any:
    """A finished Result (output/records.py), as the writers get it."""
    from kimi_vision_cli.output.records import Result

    return Result(input="a.png", model="kimi-k2.6", text=text, data=data)


@pytest.fixture
def photo(tmp_path: Path) -> Source:
    (tmp_path / "a.png").write_bytes(b"png")
    return Source("path", str(tmp_path / "a.png"))


def test_nothing_asked_nothing_done(photo: Source) -> None:
    w = Writers()
    assert not w and not w.done(photo)
    w.write(photo, answer("x"))  # no output, no error


def test_sidecar_and_row_then_resume_skips(tmp_path: Path, photo: Source) -> None:
    w = Writers(SidecarSpec("txt"), Manifest(tmp_path / "metadata.jsonl"))
    assert not w.done(photo)
    w.write(photo, answer('{"alt_text": "a cat"}', {"alt_text": "a cat"}))
    w.close()
    assert (tmp_path / "a.png.txt").read_text() == '{"alt_text": "a cat"}\n'
    assert (tmp_path / "metadata.jsonl").read_text() == (
        '{"file_name": "a.png", "text": "a cat", "alt_text": "a cat"}\n'
    )
    again = Writers(SidecarSpec("txt"), Manifest(tmp_path / "metadata.jsonl"))
    assert again.done(photo)


def test_a_missing_row_is_added_and_the_sidecar_kept(tmp_path: Path, photo: Source) -> None:
    (tmp_path / "a.png.txt").write_text("old caption\n")
    w = Writers(SidecarSpec("txt"), Manifest(tmp_path / "metadata.csv"))
    assert not w.done(photo)  # the row is missing: described again
    w.write(photo, answer("new caption"))
    w.close()
    assert (tmp_path / "a.png.txt").read_text() == "old caption\n"
    assert (tmp_path / "metadata.csv").read_text() == "file_name,text\na.png,new caption\n"


def test_overwrite_rewrites_both(tmp_path: Path, photo: Source) -> None:
    (tmp_path / "a.png.txt").write_text("old\n")
    Manifest(tmp_path / "metadata.jsonl").add("a.png", "old")
    w = Writers(SidecarSpec("txt"), Manifest(tmp_path / "metadata.jsonl", overwrite=True), overwrite=True)
    assert not w.done(photo)
    w.write(photo, answer("new"))
    w.close()
    assert (tmp_path / "a.png.txt").read_text() == "new\n"
    assert (tmp_path / "metadata.jsonl").read_text() == '{"file_name": "a.png", "text": "new"}\n'


def test_inputs_a_manifest_cannot_name(tmp_path: Path, photo: Source) -> None:
    w = Writers(manifest=Manifest(tmp_path / "sub" / "metadata.jsonl"))
    err = w.rejects(photo)
    assert err is not None and "is outside" in err.one_line()
    assert w.rejects(Source("stdin", "-")) is not None
    with pytest.raises(UsageError):
        w.check([photo])
    assert Writers(SidecarSpec("txt")).rejects(Source("stdin", "-")) is None
