"""--manifest (output/manifest.py): Hugging Face imagefolder rows, one per finished input,
no duplicates on a rerun, rows replaced with overwrite, never a half row."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import pytest

from kimi_vision_cli.errors import ExitCode, UsageError
from kimi_vision_cli.output.manifest import Manifest
from kimi_vision_cli.types import Source


def load_rows(metadata: Path) -> list[dict[str, object]]:
    """The rows of a manifest, read as UTF-8 (strict)."""
    if metadata.suffix == ".csv":
        with metadata.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    return [json.loads(line) for line in metadata.read_text(encoding="utf-8").splitlines()]


def load_imagefolder(metadata: Path) -> list[dict[str, object]]:
    """What `load_dataset("imagefolder", data_dir=metadata.parent)` does with a metadata
    file: every row's file_name resolves, relative to the file's directory, to a file
    there; one row per file."""
    rows = load_rows(metadata)
    names = [str(r["file_name"]) for r in rows]
    assert len(names) == len(set(names)), f"duplicate rows: {names}"
    for name in names:
        assert not Path(name).is_absolute() and ".." not in Path(name).parts
        assert (metadata.parent / name).is_file(), name
    return rows


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    (root / "train" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        (root / "train" / name).write_bytes(b"png")
    return root


def src(path: Path | str) -> Source:
    return Source("path", str(path))


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_rows_resolve_like_imagefolder(dataset: Path, kind: str) -> None:
    meta = dataset / f"metadata.{kind}"
    with Manifest(meta) as m:
        m.check([src(dataset / "train/a.png"), src(dataset / "train/sub/b.png")])
        assert m.add(m.file_name(src(dataset / "train/a.png")), 'a "cat",\nand a mat', {"tags": ["cat"]})
        assert m.add(m.file_name(src(dataset / "train/sub/b.png")), "b", None)
    rows = load_imagefolder(meta)
    assert [r["file_name"] for r in rows] == ["train/a.png", "train/sub/b.png"]
    assert rows[0]["text"] == 'a "cat",\nand a mat'
    if kind == "jsonl":
        assert rows[0] == {"file_name": "train/a.png", "text": 'a "cat",\nand a mat', "tags": ["cat"]}
    else:
        assert meta.read_text().splitlines()[0] == "file_name,text,model,prompt_hash"


def test_relative_paths_from_the_working_directory(dataset: Path) -> None:
    here = os.getcwd()
    os.chdir(dataset / "train")
    try:
        m = Manifest(Path("../metadata.jsonl"))
        assert m.file_name(src("sub/b.png")) == "train/sub/b.png"
        assert m.file_name(src("./a.png")) == "train/a.png"
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (Source("path", "/elsewhere/x.png"), "is outside"),
        (Source("stdin", "-"), "--manifest takes files only"),
        (Source("file_id", "abc"), "--manifest takes files only"),
        (Source("url", "https://example.com/x.png"), "--manifest takes files only"),
    ],
)
def test_inputs_it_cannot_name_are_usage_errors(dataset: Path, source: Source, words: str) -> None:
    m = Manifest(dataset / "metadata.jsonl")
    with pytest.raises(UsageError) as exc:
        m.check([src(dataset / "train/a.png"), source])
    assert words in exc.value.one_line()
    assert exc.value.exit_code == ExitCode.BAD_INPUT


def test_the_manifest_directory_itself_is_not_an_input(dataset: Path) -> None:
    with pytest.raises(UsageError):
        Manifest(dataset / "metadata.jsonl").file_name(src(dataset))


def test_unknown_suffix(dataset: Path) -> None:
    with pytest.raises(UsageError) as exc:
        Manifest(dataset / "metadata.txt")
    assert "FILE.jsonl or FILE.csv" in exc.value.one_line()


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_rerun_adds_no_duplicate_and_keeps_rows(dataset: Path, kind: str) -> None:
    meta = dataset / f"metadata.{kind}"
    with Manifest(meta) as m:
        m.add("train/a.png", "first")
    with Manifest(meta) as m:
        assert "train/a.png" in m
        assert not m.add("train/a.png", "second")
        assert m.add("train/sub/b.png", "b")
    rows = load_imagefolder(meta)
    assert [(r["file_name"], r["text"]) for r in rows] == [("train/a.png", "first"), ("train/sub/b.png", "b")]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_overwrite_replaces_the_row_in_place(dataset: Path, kind: str) -> None:
    meta = dataset / f"metadata.{kind}"
    with Manifest(meta) as m:
        m.add("train/a.png", "old a")
        m.add("train/sub/b.png", "old b")
    with Manifest(meta, overwrite=True) as m:
        assert m.add("train/a.png", "new a,\nwith a newline")
        assert m.add("train/a.png", "newer a")  # twice in one run: still one row
    rows = load_imagefolder(meta)
    assert [(r["file_name"], r["text"]) for r in rows] == [
        ("train/a.png", "newer a"),
        ("train/sub/b.png", "old b"),
    ]
    assert not list(dataset.glob(".kimi-vision-*"))  # no temp file left


def test_append_after_a_replace_goes_to_the_new_file(dataset: Path) -> None:
    meta = dataset / "metadata.jsonl"
    with Manifest(meta, overwrite=True) as m:
        m.add("train/a.png", "a")
        m.add("train/sub/b.png", "b")  # the append handle is open
        m.add("train/a.png", "a2")  # replaced: the file is a new inode
        m.add("train/c.png", "c")  # appended to that new file, not the unlinked one
    (dataset / "train/c.png").write_bytes(b"png")
    assert [r["text"] for r in load_imagefolder(meta)] == ["a2", "b", "c"]


def test_a_torn_jsonl_row_is_set_aside_on_the_next_run(dataset: Path) -> None:
    meta = dataset / "metadata.jsonl"
    meta.write_bytes(b'{"file_name": "train/a.png", "text": "a"}\n{"file_name": "train/sub/b.png", "te')
    with Manifest(meta) as m:
        assert m.set_aside == len(b'{"file_name": "train/sub/b.png", "te')
        assert "train/a.png" in m and "train/sub/b.png" not in m
        m.add("train/sub/b.png", "b")
    assert [r["text"] for r in load_imagefolder(meta)] == ["a", "b"]
    # nothing the user had is lost: the torn bytes are in FILE.torn
    assert (dataset / "metadata.jsonl.torn").read_bytes() == b'{"file_name": "train/sub/b.png", "te\n'


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_whole_last_row_without_its_newline_is_kept(dataset: Path, kind: str) -> None:
    # Issue 19 item 4: an editor or another tool wrote the last row without "\n".
    meta = dataset / f"metadata.{kind}"
    last = (
        b'{"file_name": "train/sub/b.png", "text": "b"}' if kind == "jsonl" else b'train/sub/b.png,"b, too"'
    )
    head = (
        b'{"file_name": "train/a.png", "text": "a"}\n'
        if kind == "jsonl"
        else b"file_name,text\ntrain/a.png,a\n"
    )
    meta.write_bytes(head + last)
    with Manifest(meta) as m:
        assert m.set_aside == 0
        assert "train/a.png" in m and "train/sub/b.png" in m  # not described again
        assert m.add("train/c.png", "c")
    (dataset / "train/c.png").write_bytes(b"png")
    assert [r["text"] for r in load_imagefolder(meta)] == ["a", "b" if kind == "jsonl" else "b, too", "c"]
    assert not (dataset / f"metadata.{kind}.torn").exists()


def test_a_torn_csv_row_inside_quotes_is_cut(dataset: Path) -> None:
    meta = dataset / "metadata.csv"
    meta.write_bytes(b'file_name,text\ntrain/a.png,"line 1\nline 2"\ntrain/sub/b.png,"half\n')
    with Manifest(meta) as m:
        assert "train/a.png" in m and "train/sub/b.png" not in m
        m.add("train/sub/b.png", "whole")
    assert (dataset / "metadata.csv.torn").read_bytes() == b'train/sub/b.png,"half\n'
    rows = load_imagefolder(meta)
    assert [(r["file_name"], r["text"]) for r in rows] == [
        ("train/a.png", "line 1\nline 2"),
        ("train/sub/b.png", "whole"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("metadata.jsonl", b'{"file_name": "a.png"}\nnot json\n', "line 2 is not a JSON object"),
        ("metadata.jsonl", b'{"text": "no name"}\n', "line 1 is not a JSON object with a file_name"),
        ("metadata.csv", b"path,caption\na.png,x\n", "the header is not file_name,text"),
    ],
)
def test_a_file_that_is_not_a_manifest_is_refused(
    dataset: Path, name: str, content: bytes, words: str
) -> None:
    (dataset / name).write_bytes(content)
    with pytest.raises(UsageError) as exc:
        Manifest(dataset / name)
    assert words in exc.value.one_line()
    assert (dataset / name).read_bytes() == content  # untouched


def test_each_row_is_on_disk_as_it_finishes(dataset: Path) -> None:
    meta = dataset / "metadata.jsonl"
    m = Manifest(meta)
    m.add("train/a.png", "a")
    m.add("train/sub/b.png", "b")
    # Not closed: what a reader (or a crash) sees now is every finished row, whole.
    assert [r["file_name"] for r in load_imagefolder(meta)] == ["train/a.png", "train/sub/b.png"]
    m.close()


def test_a_directory_to_walk_may_be_the_manifest_directory(dataset: Path) -> None:
    m = Manifest(dataset / "metadata.jsonl")
    m.check([src(dataset), src(dataset / "train")])  # `describe -r ds --manifest ds/metadata.jsonl`
    with pytest.raises(UsageError):
        m.check([src(dataset.parent)])


# -- issue 19 item 13: valid UTF-8 always ---------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_name_that_is_not_utf8_is_spelled_in_valid_utf8_and_found_again(dataset: Path, kind: str) -> None:
    name = os.fsdecode(b"train/caf\xe9.png")  # a Latin-1 name: \xe9 is no UTF-8
    (dataset / name).write_bytes(b"png")
    meta = dataset / f"metadata.{kind}"
    with Manifest(meta) as m:
        assert m.file_name(src(dataset / name)) == "train/caf\\xe9.png"
        assert m.add(m.file_name(src(dataset / name)), "caf\udcc3 text")  # even a caption with one
    meta.read_bytes().decode("utf-8")  # strict: raises on any invalid byte
    (row,) = load_rows(meta)
    assert row["file_name"] == "train/caf\\xe9.png"
    with Manifest(meta) as m:
        assert m.file_name(src(dataset / name)) in m  # a rerun finds the row
        assert not m.add(m.file_name(src(dataset / name)), "again")


def test_a_csv_written_with_a_byte_order_mark_is_accepted(dataset: Path) -> None:
    meta = dataset / "metadata.csv"
    meta.write_bytes(b"\xef\xbb\xbffile_name,text\r\ntrain/a.png,a\r\n")  # as spreadsheets save it
    with Manifest(meta) as m:
        assert "train/a.png" in m
        assert m.add("train/sub/b.png", "b")
    with open(meta, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file_name"], r["text"]) for r in rows] == [("train/a.png", "a"), ("train/sub/b.png", "b")]
    with Manifest(meta, overwrite=True) as m:  # a rewrite keeps the mark and the header
        m.add("train/a.png", "a2")
    assert meta.read_bytes().startswith(b"\xef\xbb\xbffile_name,text\n")


# -- issue 19 item 3: a manifest that cannot be written stops the run -----------------------


def test_any_write_failure_of_the_manifest_stops_the_run(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kimi_vision_cli.errors import OutputBlockedError

    meta = dataset / "metadata.jsonl"
    Manifest(meta).add("train/a.png", "a")
    m = Manifest(meta)

    def refused(fd: int, data: object) -> int:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "write", refused)
    with pytest.raises(OutputBlockedError) as exc:
        m.add("train/sub/b.png", "b")
    assert exc.value.stops and "cannot write manifest" in exc.value.one_line()


def test_an_existing_manifest_that_cannot_be_written_stops_before_any_request(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its directory takes a new file but the manifest itself is read-only (asked with
    access(2), faked here: the suite may run as root): the message names the file."""
    from kimi_vision_cli.errors import OutputBlockedError

    meta = dataset / "metadata.jsonl"
    meta.write_text('{"file_name": "train/a.png", "text": "a"}\n')
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == meta else real(p, mode))
    with pytest.raises(OutputBlockedError) as exc, Manifest(meta) as m:
        m.check([src(dataset / "train/a.png")])
    assert exc.value.one_line() == (
        f"--manifest {meta}: {meta} cannot be written (Permission denied) — check its "
        "permissions and the disk (or pick another --manifest); nothing was sent"
    )
