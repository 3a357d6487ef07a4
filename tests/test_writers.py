"""output/writers.py: the sidecar and manifest writers describe and `batch results` share,
and what a resumed run skips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kimi_vision_cli import provenance
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.output.manifest import Manifest
from kimi_vision_cli.output.sidecar import SidecarSpec
from kimi_vision_cli.output.writers import Writers
from kimi_vision_cli.types import Source

MADE = provenance.of("kimi-k2.6", None, None, None)  # this run
OTHER = provenance.of("kimi-k2.6", "Another prompt.", None, None)  # an earlier run


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


def test_a_missing_row_is_taken_from_a_txt_sidecar_not_asked_again(tmp_path: Path, photo: Source) -> None:
    # Issue 19 item 5: the answer in the sidecar was paid for; the row gets it.
    (tmp_path / "a.png.txt").write_text("old caption\n")
    w = Writers(SidecarSpec("txt"), Manifest(tmp_path / "metadata.csv"), provenance=MADE)
    assert w.done(photo)  # nothing to describe: the row was filled
    w.close()
    assert (tmp_path / "a.png.txt").read_text() == "old caption\n"
    assert (
        tmp_path / "metadata.csv"
    ).read_text() == "file_name,text,model,prompt_hash\na.png,old caption,,\n"


def test_a_missing_row_is_taken_from_a_json_sidecar_with_its_provenance(
    tmp_path: Path, photo: Source
) -> None:
    record = {"input": "a.png", "model": "m1", "text": '{"alt_text": "a cat"}', "data": {"alt_text": "a cat"},
              "provenance": OTHER.to_dict()}  # fmt: skip
    (tmp_path / "a.png.json").write_text(json.dumps(record))
    w = Writers(SidecarSpec("json"), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE)
    assert w.done(photo) and w.stale == 1  # kept, and counted as made otherwise
    w.close()
    (row,) = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    assert row == {"file_name": "a.png", "text": "a cat", "provenance": OTHER.to_dict(), "alt_text": "a cat"}
    # a dry run says the same and writes nothing
    (tmp_path / "metadata.jsonl").unlink()
    dry = Writers(
        SidecarSpec("json"), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE, fill_rows=False
    )
    assert dry.done(photo) and not (tmp_path / "metadata.jsonl").exists()


def test_a_missing_row_beside_a_sidecar_with_no_caption_to_take_is_described(
    tmp_path: Path, photo: Source
) -> None:
    (tmp_path / "a.png.json").write_text("[]")  # not a record: nothing to take
    w = Writers(SidecarSpec("json"), Manifest(tmp_path / "metadata.jsonl"))
    assert not w.done(photo)
    w.write(photo, answer("new caption"))
    w.close()
    assert (tmp_path / "a.png.json").read_text() == "[]"  # kept
    assert json.loads((tmp_path / "metadata.jsonl").read_text())["text"] == "new caption"


@pytest.mark.parametrize("kind", ["json", "txt"])
def test_stale_captions_are_counted_kept_and_redone_with_on_exists_stale(
    tmp_path: Path, photo: Source, kind: str
) -> None:
    first = Writers(SidecarSpec(kind), Manifest(tmp_path / "metadata.jsonl"), provenance=OTHER)
    first.write(photo, answer("old"))
    first.close()
    again = Writers(SidecarSpec(kind), Manifest(tmp_path / "metadata.jsonl"), provenance=OTHER)
    assert again.done(photo) and again.stale == 0  # made the same way: current
    skip = Writers(SidecarSpec(kind), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE)
    assert skip.done(photo) and skip.stale == 1  # kept, counted
    redo = Writers(SidecarSpec(kind), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE, redo_stale=True)
    assert not redo.done(photo)  # the row says OTHER: described again
    redo.write(photo, answer("new"))
    redo.close()
    (row,) = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    assert row == {"file_name": "a.png", "text": "new", "provenance": MADE.to_dict()}
    sidecar = (tmp_path / f"a.png.{kind}").read_text()
    if kind == "json":
        assert json.loads(sidecar)["provenance"] == MADE.to_dict()
    else:  # a txt sidecar cannot say what made it, but its row did: both get the new answer
        assert sidecar == "new\n"
    done = Writers(SidecarSpec(kind), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE, redo_stale=True)
    assert done.done(photo) and done.stale == 0


def test_unknown_provenance_counts_as_current(tmp_path: Path, photo: Source) -> None:
    Manifest(tmp_path / "metadata.jsonl").add("a.png", "made before provenance was recorded")
    w = Writers(manifest=Manifest(tmp_path / "metadata.jsonl"), provenance=MADE, redo_stale=True)
    assert w.done(photo) and w.stale == 0


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


def test_a_json_sidecar_of_a_name_that_is_not_utf8_gives_its_row(tmp_path: Path) -> None:
    import os

    photo = Source("path", str(tmp_path / os.fsdecode(b"caf\xe9.png")))
    Path(photo.value).write_bytes(b"png")
    Writers(SidecarSpec("json"), provenance=MADE).write(photo, answer("a caf\u00e9"))
    w = Writers(SidecarSpec("json"), Manifest(tmp_path / "metadata.jsonl"), provenance=MADE)
    assert w.done(photo) and w.stale == 0  # the row came from the sidecar, no request
    w.close()
    (row,) = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text().splitlines()]
    assert row == {"file_name": "caf\\xe9.png", "text": "a caf\u00e9", "provenance": MADE.to_dict()}


def test_a_manifest_whose_directory_does_not_exist_is_refused_by_the_check(tmp_path: Path) -> None:
    """Not made on write (batch results, --files-from name no input up front): exit 2."""
    manifest = Manifest(tmp_path / "new" / "dir" / "metadata.jsonl")
    with pytest.raises(UsageError, match=r"the directory .*new/dir does not exist") as caught:
        manifest.check([])
    assert caught.value.exit_code == 2 and "mkdir -p" in str(caught.value.hint)
    assert not (tmp_path / "new").exists()


class CountingSpec(SidecarSpec):
    """A sidecar spec that counts the reads of its sidecars (each read is also a parse)."""

    def read(self, path: Path) -> bytes:
        self.reads.append(path)  # type: ignore[attr-defined]
        return super().read(path)


def counting(kind: str) -> CountingSpec:
    spec = CountingSpec(kind)
    object.__setattr__(spec, "reads", [])  # frozen: set once, a list the reads go to
    return spec


def test_a_json_sidecar_that_fills_a_row_is_read_and_parsed_once(tmp_path: Path, photo: Source) -> None:
    record = {"input": "a.png", "text": "a cat", "provenance": MADE.to_dict()}
    (tmp_path / "a.png.json").write_text(json.dumps(record))
    spec = counting("json")
    w = Writers(spec, Manifest(tmp_path / "metadata.jsonl"), provenance=MADE)
    assert w.done(photo)  # the row filled from the sidecar
    assert len(spec.reads) == 1  # type: ignore[attr-defined]
    w.close()
    assert json.loads((tmp_path / "metadata.jsonl").read_text())["text"] == "a cat"


def test_what_done_read_is_not_read_again_by_write(tmp_path: Path, photo: Source) -> None:
    (tmp_path / "a.png.json").write_text(json.dumps({"text": "old", "provenance": OTHER.to_dict()}))
    Manifest(tmp_path / "metadata.jsonl").add("a.png", "old", provenance=OTHER)
    spec = counting("json")
    w = Writers(spec, Manifest(tmp_path / "metadata.jsonl"), provenance=MADE, redo_stale=True)
    assert not w.done(photo)  # stale: described again
    w.write(photo, answer("new"))
    w.close()
    assert len(spec.reads) == 1  # type: ignore[attr-defined]
    assert json.loads((tmp_path / "a.png.json").read_text())["text"] == "new"  # still redone
    assert json.loads((tmp_path / "metadata.jsonl").read_text())["text"] == "new"


def test_an_input_done_forgets_is_read_again_when_written(tmp_path: Path, photo: Source) -> None:
    from kimi_vision_cli.output.resume import Found

    (tmp_path / "a.png.json").write_text(json.dumps({"text": "old", "provenance": OTHER.to_dict()}))
    spec = counting("json")
    w = Writers(spec, provenance=MADE, redo_stale=True, _found=Found(size=1))
    assert not w.done(photo)
    assert not w.done(Source("path", str(tmp_path / "b.png")))  # a.png drops out: the bound
    w.write(photo, answer("new"))
    assert len(spec.reads) == 2  # type: ignore[attr-defined]  # read again, and still redone
    assert json.loads((tmp_path / "a.png.json").read_text())["text"] == "new"
