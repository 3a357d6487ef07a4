"""`upload`, the upload cache, ms:// inputs and the 100 MB body limit, end to end
through the installed command against the loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bigmedia import MB, padded_video
from tests.fake_moonshot import FakeMoonshot, Fault
from tests.media import video_bytes, write_image


def uploads(fake: FakeMoonshot) -> list:  # type: ignore[type-arg]
    return fake.requests_to("/v1/files", "POST")


def test_upload_prints_ms_ids_with_purpose_from_content(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "clip.bin").write_bytes(video_bytes())  # the name says nothing: content decides
    r = kv("upload", "a.png", "clip.bin")
    assert r.returncode == 0, r.stderr
    # Two inputs: `ms://ID<TAB>INPUT` lines (docs/output.md).
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [name for _, name in rows] == ["a.png", "clip.bin"]
    assert all(url.startswith("ms://") for url, _ in rows)
    ids = [url[5:] for url, _ in rows]
    assert [fake.state.files[i]["purpose"] for i in ids] == ["image", "video"]
    assert [u.body["purpose"] for u in uploads(fake)] == ["image", "video"]


def test_upload_sends_prepared_bytes_not_the_original(kv, fake, tmp_path: Path) -> None:
    from tests.media import jpeg_with_exif

    (tmp_path / "gps.jpg").write_bytes(jpeg_with_exif())
    r = kv("upload", "gps.jpg")
    assert r.returncode == 0, r.stderr
    stored = fake.state.file_data[r.stdout.strip()[5:]]
    assert b"TestCam" not in stored and stored.startswith(b"\xff\xd8")  # EXIF stripped, still JPEG
    # The local file name never leaves the machine.
    assert uploads(fake)[0].body["filename"] == "upload.jpeg"


def test_second_upload_of_same_bytes_makes_no_upload_request(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    first = kv("upload", "a.png")
    second = kv("upload", "a.png", "--format", "json")
    assert first.returncode == second.returncode == 0
    assert len(uploads(fake)) == 1
    rows = json.loads(second.stdout)
    assert rows == [
        {
            "input": "a.png", "file_id": first.stdout.strip()[5:], "url": first.stdout.strip(),
            "purpose": "image", "bytes": rows[0]["bytes"], "cached": True, "error": None,
        }
    ]  # fmt: skip
    cache = tmp_path / "xdg-cache" / "kimi-vision" / "uploads.json"
    assert json.loads(cache.read_text())["entries"]


def test_no_cache_uploads_again(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    kv("upload", "a.png")
    r = kv("upload", "--no-cache", "a.png", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert len(uploads(fake)) == 2
    assert json.loads(r.stdout)["cached"] is False
    # Both are still this tool's uploads: prune removes them, the --no-cache one included.
    p = kv("files", "prune", "--yes")
    assert p.returncode == 0, p.stderr
    assert fake.state.files == {}
    # The pruned ids are forgotten: a plain upload sends the bytes again.
    assert kv("upload", "a.png").returncode == 0 and len(uploads(fake)) == 3


def test_cached_id_deleted_on_the_server_is_uploaded_again(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    old = kv("upload", "a.png").stdout.strip()
    del fake.state.files[old[5:]]  # deleted elsewhere (web console, another machine)
    new = kv("upload", "a.png")
    assert new.returncode == 0, new.stderr
    assert new.stdout.strip() != old and len(uploads(fake)) == 2


def test_describe_auto_upload_uses_the_cache(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    for _ in range(2):
        r = kv("describe", "--upload", "always", "a.png", "--format", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)[0]["media"][0]["transport"] == "upload"
    assert len(uploads(fake)) == 1 and len(fake.chat_requests) == 2


def test_batch_continues_past_a_bad_input(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("hello")
    r = kv("upload", "notes.txt", "missing.png", "a.png")
    assert r.returncode == 2
    url, name = r.stdout.rstrip("\n").split("\t")  # the line says which input it is
    assert url.startswith("ms://") and name == "a.png"
    assert "notes.txt: unsupported type" in r.stderr and "missing.png: no such file" in r.stderr


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_has_a_record_for_every_input_failed_ones_too(kv, fake, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.23: `upload --format json` dropped the inputs that failed."""
    write_image(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("hello")
    r = kv("upload", "notes.txt", "missing.png", "a.png", "--format", fmt)
    assert r.returncode == 2
    docs = json.loads(r.stdout) if fmt == "json" else [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["input"] for d in docs] == ["notes.txt", "missing.png", "a.png"]
    bad = docs[0]
    assert (bad["file_id"], bad["url"], bad["purpose"], bad["bytes"]) == (None, None, None, None)
    assert bad["error"]["code"] == "bad_input" and "unsupported type" in bad["error"]["message"]
    assert docs[1]["error"]["code"] == "bad_input" and docs[2]["error"] is None
    assert docs[2]["url"] == "ms://" + docs[2]["file_id"]


def test_after_a_401_the_inputs_not_tried_are_not_started_records(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    fake.inject(Fault(status=401, type="invalid_authentication_error", message="Invalid", path="/v1/files"))
    r = kv("upload", "a.png", "b.png", "c.png", "--format", "jsonl")
    assert r.returncode == 3
    codes = [json.loads(line)["error"]["code"] for line in r.stdout.splitlines()]
    assert codes == ["auth", "not_started", "not_started"]


def test_describe_ms_id_uses_the_purpose_for_the_part(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(video_bytes())
    write_image(tmp_path / "a.png", 40, 30)
    vid, img = (line.split("\t")[0] for line in kv("upload", "v.mp4", "a.png").stdout.splitlines())
    r = kv("ask", "What is here?", vid, img, "--format", "json")
    assert r.returncode == 0, r.stderr
    parts = fake.chat_requests[0].body["messages"][-1]["content"]
    assert parts[0] == {"type": "video_url", "video_url": {"url": vid}}
    assert parts[1] == {"type": "image_url", "image_url": {"url": img}}
    doc = json.loads(r.stdout)
    assert [m["transport"] for m in doc["media"]] == ["upload", "upload"]
    assert [m["file_id"] for m in doc["media"]] == [vid[5:], img[5:]]
    assert "a 40x30 image/png image" in doc["text"]
    assert len(uploads(fake)) == 2  # nothing uploaded again


def test_missing_ms_id_is_exit_2_naming_it(kv, fake, tmp_path: Path) -> None:
    r = kv("describe", "ms://nosuchfile")
    assert r.returncode == 2
    assert "ms://nosuchfile" in r.stderr and "not found" in r.stderr
    assert not fake.chat_requests


def test_ms_id_with_another_purpose_is_refused(kv, fake, tmp_path: Path) -> None:
    from tests.fake_files import create

    _, meta = create(fake.state, {"purpose": "file-extract", "file": b"hello", "filename": "a.txt"})
    r = kv("describe", f"ms://{meta['id']}")
    assert r.returncode == 2 and "file-extract" in r.stderr
    assert not fake.chat_requests


def test_account_file_limit_says_how_to_free_room(kv, fake, tmp_path: Path) -> None:
    fake.state.max_files = 1  # the real limit is 1,000; the server's check is the same
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 30, 20)
    r = kv("upload", "a.png", "b.png")
    assert r.returncode == 1
    assert len(r.stdout.splitlines()) == 1
    assert "b.png" in r.stderr and "kimi-vision files prune" in r.stderr


# -- the 100 MB limit ------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_60mb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("big")
    return padded_video(d / "one.mp4", 60 * MB, frames=4), padded_video(d / "two.mp4", 60 * MB, frames=6)


def test_two_60mb_videos_make_one_request_under_100mb(kv, fake, two_60mb) -> None:
    """Done-when of issue 3: one request, under 100 MB, at least one ms:// part."""
    r = kv("ask", "What happens?", str(two_60mb[0]), str(two_60mb[1]), "--format", "json")
    assert r.returncode == 0, r.stderr
    [chat] = fake.chat_requests
    assert chat.size < 100 * MB
    parts = chat.body["messages"][-1]["content"]
    urls = [p["video_url"]["url"] for p in parts if p["type"] == "video_url"]
    assert len(urls) == 2 and sum(u.startswith("ms://") for u in urls) == 1
    assert sum(u.startswith("data:video/mp4;base64,") for u in urls) == 1
    media = json.loads(r.stdout)["media"]
    assert sorted(m["transport"] for m in media) == ["inline", "upload"]
    assert len(uploads(fake)) == 1
    [up] = [m for m in media if m["transport"] == "upload"]
    assert fake.state.files[up["file_id"]]["purpose"] == "video"
    assert urls.count(f"ms://{up['file_id']}") == 1


def test_upload_never_with_an_oversized_body_is_exit_2(kv, fake, two_60mb) -> None:
    r = kv("ask", "What?", str(two_60mb[0]), str(two_60mb[1]), "--upload", "never")
    assert r.returncode == 2
    assert "over Moonshot's 100 MiB limit" in r.stderr and "--upload" in r.stderr
    assert "--downscale-video" in r.stderr and "--max-size" not in r.stderr  # two videos: no image hint
    assert "413" not in r.stderr
    assert not fake.chat_requests and not uploads(fake)


def test_a_file_over_100mb_is_refused_before_any_upload(kv, fake, tmp_path: Path) -> None:
    big = padded_video(tmp_path / "huge.mp4", 101 * MB)
    write_image(tmp_path / "a.png")
    for args in (("ask", "What?", "a.png", str(big), "--upload", "always"), ("upload", str(big))):
        r = kv(*args)
        assert r.returncode == 2, r.stderr
        assert "huge.mp4" in r.stderr and "100 MiB file limit" in r.stderr
    assert not uploads(fake) and not fake.chat_requests


def test_dry_run_with_ms_id_makes_no_request(kv, fake) -> None:
    r = kv("describe", "--dry-run", "ms://abc123")
    assert r.returncode == 0, r.stderr
    assert '"ms://abc123"' in r.stdout
    assert not fake.state.requests


@pytest.mark.parametrize("damage", ['{"entries": 5}', "not json at all", "[1, 2]"])
def test_a_damaged_upload_cache_is_said_and_kept_aside(kv, fake, tmp_path: Path, damage: str) -> None:
    write_image(tmp_path / "a.png")
    cache = tmp_path / "xdg-cache" / "kimi-vision" / "uploads.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(damage)
    r = kv("upload", "a.png")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.count("upload cache") == 1 and "was damaged" in r.stderr
    assert (cache.parent / "uploads.json.damaged").read_text() == damage  # nothing the user had is lost
    assert json.loads(cache.read_text())["entries"]  # this run's upload is recorded anew


def test_an_upload_cache_that_cannot_be_written_is_said(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    cache = tmp_path / "xdg-cache" / "kimi-vision" / "uploads.json"
    cache.mkdir(parents=True)  # a directory where the file should be
    r = kv("upload", "a.png")
    assert r.returncode == 0, r.stderr  # the upload itself worked: ms://ID printed
    assert r.stdout.startswith("ms://")
    assert "cannot" in r.stderr and "upload cache" in r.stderr and "files prune" in r.stderr
