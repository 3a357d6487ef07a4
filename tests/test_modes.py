"""File modes (issue 19 item 2): new sidecars and manifests follow the umask, replaced
ones keep their mode; only the tool's own cache stays private."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_vision_cli import atomic
from tests.media import write_image


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o027)  # a umask no default matches: 0640 files
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_sidecars_and_manifests_follow_the_umask(kv, tmp_path: Path, umask: None) -> None:
    write_image(tmp_path / "a.png", 12, 8)
    r = kv("describe", "a.png", "--sidecar", "json", "--manifest", "metadata.jsonl")
    assert r.returncode == 0, r.all
    assert mode(tmp_path / "a.png.json") == 0o640
    assert mode(tmp_path / "metadata.jsonl") == 0o640


def test_overwrite_keeps_the_mode_of_the_file_it_replaces(kv, tmp_path: Path, umask: None) -> None:
    write_image(tmp_path / "a.png", 12, 8)
    for name in ("a.png.txt", "metadata.csv"):
        (tmp_path / name).write_text("old\n" if name.endswith("txt") else "file_name,text\na.png,old\n")
        os.chmod(tmp_path / name, 0o664)
    r = kv("describe", "a.png", "--sidecar", "txt", "--manifest", "metadata.csv", "--on-exists", "overwrite")
    assert r.returncode == 0, r.all
    assert "old" not in (tmp_path / "a.png.txt").read_text()
    assert "old" not in (tmp_path / "metadata.csv").read_text()
    assert mode(tmp_path / "a.png.txt") == 0o664
    assert mode(tmp_path / "metadata.csv") == 0o664


def test_replace_by_keeps_mode_and_times_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "photo.jpg"
    target.write_bytes(b"old")
    os.chmod(target, 0o604)
    os.utime(target, ns=(1_000_000_000, 2_000_000_000))

    atomic.replace_by(target, lambda tmp: tmp.write_bytes(b"new"), keep_times=True)
    assert target.read_bytes() == b"new" and mode(target) == 0o604
    assert target.stat().st_mtime_ns == 2_000_000_000

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.replace_by(target, broken)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_the_tools_own_cache_files_stay_private(tmp_path: Path) -> None:
    path = tmp_path / "uploads.json"
    atomic.replace_file(path, b"{}", private=True)
    assert mode(path) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_a_replaced_file_keeps_its_owner(tmp_path: Path) -> None:
    target = tmp_path / "photo.png.txt"
    target.write_bytes(b"old")
    os.chown(target, 1234, 5678)
    atomic.replace_file(target, b"new")
    assert (target.stat().st_uid, target.stat().st_gid) == (1234, 5678)
    atomic.replace_by(target, lambda tmp: tmp.write_bytes(b"newer"))
    assert (target.stat().st_uid, target.stat().st_gid) == (1234, 5678)


def test_a_symlinked_file_is_replaced_through_its_link(tmp_path: Path) -> None:
    """Audit: a sidecar, manifest or --embed photo reached through a symbolic link had
    the link replaced by a separate file; now the target is written and the link kept."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "a.png.txt"
    target.write_bytes(b"old")
    link = tmp_path / "a.png.txt"
    link.symlink_to(target)
    atomic.replace_file(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"

    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"newer")

    atomic.replace_by(link, produce)
    with atomic.replacing(link) as fh:
        fh.write(b"newest")
    assert link.is_symlink() and target.read_bytes() == b"newest"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png.txt", "a.png.txt", "real"]
