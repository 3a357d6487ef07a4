"""Object storage in and out (issue 24), against moto's S3 server on the loopback
(conftest `s3`): walks, reads, sidecars and manifests as objects, resume, and no
credential in any output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import S3, S3_KEY_ID, S3_SECRET, installed_command
from tests.fake_moonshot import FakeMoonshot
from tests.media import image_bytes


def _png(i: int) -> bytes:
    return image_bytes(32 + i, 24, "PNG")


def _rows(s3: S3, key: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in s3.cat(key).decode().splitlines()]


def test_a_walked_prefix_is_captioned_once_and_a_rerun_sends_nothing(kv, fake: FakeMoonshot, s3: S3) -> None:
    for key in ("photos/a.png", "photos/sub/b.png", "photos/.cache/c.png", "photos/skip-d.png"):
        s3.put(key, _png(len(key)))
    s3.put("photos/notes.txt", b"not media")
    manifest = s3.url("out/metadata.jsonl")
    args = ("describe", "-r", s3.url("photos/"), "--manifest", manifest, "--exclude", "skip-*")
    r = kv(*args)
    assert r.returncode == 0, r.all
    assert len(fake.chat_requests) == 2  # hidden segment, --exclude and .txt left out
    rows = _rows(s3, "out/metadata.jsonl")
    # Outside the manifest's prefix: named by their whole URL.
    assert sorted(row["file_name"] for row in rows) == [s3.url("photos/a.png"), s3.url("photos/sub/b.png")]
    assert sum("44x24 image/png" in str(row["text"]) for row in rows) == 1, rows
    before = s3.cat("out/metadata.jsonl")
    again = kv(*args)
    assert again.returncode == 0, again.all
    assert len(fake.chat_requests) == 2  # nothing sent
    assert s3.cat("out/metadata.jsonl") == before


def test_sidecars_go_to_an_object_output_dir_and_fill_a_lost_manifest(kv, fake: FakeMoonshot, s3: S3) -> None:
    s3.put("data/a.png", _png(1))
    s3.put("data/x/b.png", _png(2))
    args = ("describe", "-r", s3.url("data/"), "--sidecar", "json",
            "--output-dir", s3.url("captions"), "--manifest", s3.url("data/metadata.jsonl"))  # fmt: skip
    r = kv(*args)
    assert r.returncode == 0, r.all
    side = json.loads(s3.cat(f"captions/s3/{s3.bucket}/data/x/b.png.json"))
    assert "34x24 image/png" in side["text"]
    # Under the manifest's prefix: relative names, as imagefolder resolves them.
    assert sorted(row["file_name"] for row in _rows(s3, "data/metadata.jsonl")) == ["a.png", "x/b.png"]
    s3.fs.rm_file(f"{s3.bucket}/data/metadata.jsonl")  # type: ignore[attr-defined]
    again = kv(*args)
    assert again.returncode == 0, again.all
    assert len(fake.chat_requests) == 2  # the rows come back from the sidecars, unpaid
    assert sorted(row["file_name"] for row in _rows(s3, "data/metadata.jsonl")) == ["a.png", "x/b.png"]


def test_shards_split_object_keys(kv, fake: FakeMoonshot, s3: S3) -> None:
    for i in range(6):
        s3.put(f"p/{i}.png", _png(i))
    names: list[set[object]] = []
    for k in (1, 2):
        key = f"out/m{k}.jsonl"
        r = kv("describe", "-r", s3.url("p/"), "--shard", f"{k}/2", "--manifest", s3.url(key))
        assert r.returncode in (0,), r.all
        names.append({row["file_name"] for row in _rows(s3, key)} if s3.exists(key) else set())
    assert not names[0] & names[1]
    assert names[0] | names[1] == {s3.url(f"p/{i}.png") for i in range(6)}
    assert len(fake.chat_requests) == 6


def test_no_credential_in_any_output_even_verbose(kv, fake: FakeMoonshot, s3: S3) -> None:
    s3.put("v/a.png", _png(0))
    r = kv("describe", "-v", "-r", s3.url("v/"), s3.url("v/missing.png"), "--format", "json",
           "--output-dir", s3.url("o"))  # fmt: skip
    assert r.returncode == 2, r.all  # the missing key is a bad input; the other is captioned
    assert "no such object" in r.stderr and "missing.png" in r.stderr
    assert "Traceback" not in r.all
    for secret in (S3_KEY_ID, S3_SECRET):
        assert secret not in r.all


def test_a_backend_message_is_scrubbed_of_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from kimi_vision_cli.stores import failure

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    err = failure(PermissionError("denied for very-secret-value"), "s3://b/k")
    assert "very-secret-value" not in str(err) and "***" in str(err)
    assert err.exit_code == 3 and err.stops  # SPEC: permission stops the run, exit 3


def test_an_object_over_the_cap_is_refused_before_it_is_read(s3: S3) -> None:
    from kimi_vision_cli.errors import InputError
    from kimi_vision_cli.inputs.objects import read_object

    url = s3.put("big.png", _png(0))
    assert read_object(url, 10_000, url) == s3.cat("big.png")
    with pytest.raises(InputError, match="too large"):
        read_object(url, 50, url)


def test_a_missing_backend_is_said_before_any_request(kv, fake: FakeMoonshot, tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401

        pytest.skip("gcsfs is installed here")
    except ImportError:
        pass
    r = kv("describe", "gs://bucket/a.png")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "kimi-vision: error: gs://bucket/a.png: gs:// needs the gcsfs package — pip install 'kimi-vision[gcs]'"
    )  # as docs/storage.md shows it
    assert not fake.chat_requests


def test_the_manifest_object_is_rewritten_whole_at_checkpoints(s3: S3) -> None:
    from kimi_vision_cli.output.objects import ObjectManifest

    now = [0.0]
    m = ObjectManifest(s3.url("m/metadata.jsonl"), rows=3, seconds=60, clock=lambda: now[0])
    m.add("a.png", "A")
    m.add("b.png", "B")
    assert not s3.exists("m/metadata.jsonl")  # no checkpoint due: nothing half-written either
    m.add("c.png", "C")
    assert [r["file_name"] for r in _rows(s3, "m/metadata.jsonl")] == ["a.png", "b.png", "c.png"]
    m.add("d.png", "D")
    now[0] = 61.0  # a minute later: the next row is a checkpoint
    m.add("e.png", "E")
    assert len(_rows(s3, "m/metadata.jsonl")) == 5
    m.add("f.png", "F")
    m.close()  # the end: the rest
    again = ObjectManifest(s3.url("m/metadata.jsonl"))
    assert "f.png" in again and len(_rows(s3, "m/metadata.jsonl")) == 6
    assert not again.add("a.png", "other")  # kept, as a rerun keeps it


@pytest.mark.process
def test_a_run_killed_midway_resumes(
    kv, fake: FakeMoonshot, s3: S3, env: dict[str, str], tmp_path: Path
) -> None:
    for i in range(8):
        s3.put(f"k/{i}.png", _png(i))
    fake.state.latency = 0.3
    args = ["describe", "-j", "1", "-r", s3.url("k/"), "--manifest", s3.url("k/metadata.jsonl")]
    proc = subprocess.Popen(
        installed_command() + args, env={**env, "KIMI_VISION_CHECKPOINT_ROWS": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            s3.exists("k/metadata.jsonl") and len(_rows(s3, "k/metadata.jsonl")) >= 2
        ):
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    kept = {row["file_name"] for row in _rows(s3, "k/metadata.jsonl")}
    assert 2 <= len(kept) < 8
    sent = len(fake.chat_requests)
    fake.state.latency = 0.0
    r = kv(*args)
    assert r.returncode == 0, r.all
    assert len(fake.chat_requests) - sent == 8 - len(kept)  # only what the manifest lacked
    rows = _rows(s3, "k/metadata.jsonl")
    assert sorted(row["file_name"] for row in rows) == [f"{i}.png" for i in range(8)]


def test_estimate_counts_only_keys_without_a_caption_in_the_object_dir(
    kv, fake: FakeMoonshot, s3: S3
) -> None:
    s3.put("e/a.png", _png(1))
    s3.put("e/b.png", _png(2))
    r = kv("describe", s3.url("e/a.png"), "--output-dir", s3.url("caps"))
    assert r.returncode == 0, r.all
    est = kv("estimate", "-r", s3.url("e/"), "--output-dir", s3.url("caps"), "--format", "json")
    assert est.returncode == 0, est.all
    counted = [item["input"] for item in json.loads(est.stdout)["inputs"]]
    assert counted == [s3.url("e/b.png")]  # a.png has its caption there: describe would skip it


def test_a_dry_run_lists_a_prefix_but_reads_no_object(kv, fake: FakeMoonshot, s3: S3) -> None:
    s3.put("d/a.png", _png(0))
    r = kv("describe", "--dry-run", "-r", s3.url("d/"), "--format", "json")
    assert r.returncode == 0, r.all
    assert s3.url("d/a.png") in r.stdout and "does not download" in r.stderr
    assert not fake.chat_requests


def test_xmp_sidecars_are_refused_with_an_object_output_dir(kv, fake: FakeMoonshot, s3: S3) -> None:
    url = s3.put("x/a.png", _png(0))
    r = kv("describe", url, "--sidecar", "xmp", "--output-dir", s3.url("c"))
    assert r.returncode == 2 and "--sidecar xmp writes local files only" in r.stderr, r.all
    assert not fake.chat_requests


def test_no_credentials_stop_the_run_with_exit_3_before_any_request(
    kv, fake: FakeMoonshot, s3: S3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import fsspec

    urls = [s3.put(f"n/{i}.png", _png(i)) for i in range(3)]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fsspec.get_filesystem_class("s3").clear_instance_cache()  # credentials are read per instance
    try:
        r = kv("describe", *urls)
    finally:
        fsspec.get_filesystem_class("s3").clear_instance_cache()
    assert r.returncode == 3, r.all
    assert (
        r.stderr.count("cannot access object storage") == 1 and "AWS_PROFILE" in r.stderr
    )  # stopped at the first
    assert "Traceback" not in r.all
    assert not fake.chat_requests


def test_a_manifest_object_without_a_final_newline_stays_one_row_a_line(s3: S3) -> None:
    from kimi_vision_cli.output.objects import ObjectManifest

    s3.put("w/metadata.jsonl", b'{"file_name": "a.png", "text": "A"}')  # another tool wrote it so
    m = ObjectManifest(s3.url("w/metadata.jsonl"), rows=1)
    assert "a.png" in m
    m.add("b.png", "B")
    assert [r["file_name"] for r in _rows(s3, "w/metadata.jsonl")] == ["a.png", "b.png"]


def test_a_walk_yields_keys_before_the_rest_of_the_tree_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamed: the first key comes out after listing only the levels down to it."""
    from fsspec.implementations.memory import MemoryFileSystem

    from kimi_vision_cli.inputs import objects
    from kimi_vision_cli.inputs.walk import WalkFilter

    listed: list[str] = []

    class Counting(MemoryFileSystem):  # type: ignore[misc]
        def ls(self, path: str, detail: bool = True, **kw: object) -> object:
            listed.append(path.strip("/"))
            return super().ls(path, detail=detail, **kw)

    fs = Counting(skip_instance_cache=True)
    fs.store.clear()
    fs.pseudo_dirs.clear()
    for d in ("a", "b", "c"):
        fs.pipe_file(f"/bkt/p/{d}/x.png", b"png")
    monkeypatch.setattr(objects, "filesystem", lambda url: (fs, "/bkt/p"))
    keys = objects.walk_keys("s3://bkt/p/", WalkFilter().skips, lambda name: name.endswith(".png"))
    assert next(keys).endswith("bkt/p/a/x.png")
    assert listed == ["bkt/p", "bkt/p/a"]  # b and c not listed yet
    assert len(list(keys)) == 2 and listed[-1] == "bkt/p/c"


def test_hidden_and_anchored_excludes_work_on_keys(kv, fake: FakeMoonshot, s3: S3) -> None:
    for key in ("h/a.png", "h/.x/b.png", "h/sub/c.png", "h/sub/deep/d.png"):
        s3.put(key, _png(0))
    r = kv(
        "describe", "--dry-run", "--hidden", "-r", s3.url("h/"), "--exclude", "sub/*.png", "--format", "json"
    )
    assert r.returncode == 0, r.all
    found = sorted(plan["input"] for plan in json.loads(r.stdout))
    # --hidden takes .x/; `sub/*.png` leaves out sub/c.png but not sub/deep/d.png (`*` stops at /)
    assert found == [s3.url(k) for k in ("h/.x/b.png", "h/a.png", "h/sub/deep/d.png")]


def _deny_puts(s3: S3, prefix: str) -> None:
    """A bucket policy refusing PutObject under `prefix` (moto enforces it, on a multipart
    upload too): reads pass, writes fail, and so does the write check before any request."""
    import boto3

    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{s3.bucket}/{prefix}*"}],
    }  # fmt: skip
    boto3.client("s3", endpoint_url=s3.endpoint).put_bucket_policy(
        Bucket=s3.bucket, Policy=json.dumps(policy)
    )


def _deny_puts_after_the_check(s3: S3, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy of _deny_puts put in place just after the run's write check passed (a
    bucket policy changed mid-run): the writes after it fail."""
    from kimi_vision_cli.output.objects import ObjectDir

    real = ObjectDir.writable

    def then_deny(self: ObjectDir, rel: str) -> None:
        real(self, rel)
        _deny_puts(s3, prefix)

    monkeypatch.setattr(ObjectDir, "writable", then_deny)


def test_a_final_checkpoint_that_fails_fails_the_run_names_the_rows_and_keeps_the_report(
    kv, fake: FakeMoonshot, s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = [s3.put(f"f/{i}.png", _png(i)) for i in range(3)]
    _deny_puts_after_the_check(s3, "out/", monkeypatch)
    r = kv("describe", "-r", s3.url("f/"), "--manifest", s3.url("out/metadata.jsonl"),
           "--report", "run.html")  # fmt: skip
    assert len(fake.chat_requests) == 3  # no checkpoint was due before the end (500 rows, 30 s)
    assert not s3.exists("out/metadata.jsonl")
    assert r.returncode == 1, r.all  # SPEC: an output that could not be written
    assert "Traceback" not in r.all
    lost = [line for line in r.stderr.splitlines() if "not saved" in line]
    assert len(lost) == 1, r.stderr
    assert s3.url("out/metadata.jsonl") in lost[0] and "3 rows" in lost[0]
    assert all(url in lost[0] for url in urls), lost[0]
    assert (tmp_path / "run.html").exists()  # the page of the run is still written


def test_batch_results_name_the_rows_a_failed_last_checkpoint_lost(
    kv, fake: FakeMoonshot, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = [s3.put(f"b/{i}.png", _png(i)) for i in range(2)]
    batch_id = kv("batch", "submit", *urls).stdout.strip()
    for _ in range(2):  # the loopback batch: in progress, then completed
        kv("batch", "status", batch_id)
    _deny_puts_after_the_check(s3, "out/", monkeypatch)
    r = kv("batch", "results", batch_id, "--manifest", s3.url("out/metadata.jsonl"), "--format", "jsonl")
    assert r.returncode == 1 and "Traceback" not in r.all, r.all
    assert len(r.stdout.splitlines()) == 2  # both answers shown
    (lost,) = [line for line in r.stderr.splitlines() if "not saved" in line]
    assert "2 rows not saved" in lost and all(url in lost for url in urls)


def test_rows_a_failed_checkpoint_lost_are_named_when_the_manifest_closes(s3: S3) -> None:
    from kimi_vision_cli.errors import OutputBlockedError, OutputError
    from kimi_vision_cli.output.objects import ObjectManifest

    _deny_puts(s3, "d/")
    m = ObjectManifest(s3.url("d/metadata.jsonl"), rows=2)
    m.add("a.png", "A")
    with pytest.raises(OutputBlockedError):  # mid-run: the run stops at this input
        m.add("b.png", "B")
    with pytest.raises(OutputError, match=r"2 rows not saved \(a\.png, b\.png\)"):
        m.close()  # a.png was counted done before: named too


def test_a_manifest_object_s_rows_are_parsed_once_on_open(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    from kimi_vision_cli.output import manifest
    from kimi_vision_cli.output.objects import ObjectManifest

    rows = "".join(json.dumps({"file_name": f"{i}.png", "text": str(i)}) + "\n" for i in range(3))
    s3.put("p/metadata.jsonl", rows.encode())
    parsed: list[bytes] = []
    real = manifest._json_row
    monkeypatch.setattr(
        manifest, "_json_row", lambda line, first: parsed.append(line) or real(line, first=first)
    )
    m = ObjectManifest(s3.url("p/metadata.jsonl"), rows=1)
    assert len(parsed) == 3
    assert all(f"{i}.png" in m for i in range(3))
    m.add("3.png", "3")  # the rows kept as they were, the new one after them
    assert [r["file_name"] for r in _rows(s3, "p/metadata.jsonl")] == [f"{i}.png" for i in range(4)]


def _uploads_left(s3: S3) -> object:
    """Objects, versions, delete markers and unfinished multipart uploads in the bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3.endpoint)
    versions = client.list_object_versions(Bucket=s3.bucket)
    return (
        versions.get("Versions"),
        versions.get("DeleteMarkers"),
        client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads"),
    )


def test_a_read_only_manifest_prefix_stops_the_run_before_any_request(kv, fake: FakeMoonshot, s3: S3) -> None:
    """The start check tries the manifest's own key for writing (an upload begun, then
    aborted): a bucket policy refusing it stops the run at once (exit 1, one line), as a
    local manifest that cannot be written does; the bucket's existence alone is not enough."""
    urls = [s3.put(f"in/{i}.png", _png(i)) for i in range(2)]
    _deny_puts(s3, "out/")
    manifest = s3.url("out/metadata.jsonl")
    r = kv("describe", *urls, "--manifest", manifest)
    assert r.returncode == 1 and "Traceback" not in r.all, r.all
    assert r.stderr == (
        f"kimi-vision: error: cannot write {manifest}: Forbidden — check the credentials and the "
        "bucket's policy; nothing was sent\n"
    )
    assert fake.chat_requests == [] and not s3.exists("out/metadata.jsonl")
    assert S3_SECRET not in r.all and S3_KEY_ID not in r.all
    caps = s3.url("caps")  # an --output-dir refused the same way, before any request
    _deny_puts(s3, "caps/")
    r = kv("describe", *urls, "--output-dir", caps)
    assert r.returncode == 1 and f"cannot write {caps}/.kimi-vision-write-check" in r.stderr
    assert fake.chat_requests == []


def test_batch_results_stop_at_a_read_only_manifest_before_fetching(kv, fake: FakeMoonshot, s3: S3) -> None:
    urls = [s3.put(f"b/{i}.png", _png(i)) for i in range(2)]
    batch_id = kv("batch", "submit", *urls).stdout.strip()
    for _ in range(2):
        kv("batch", "status", batch_id)
    _deny_puts(s3, "out/")
    seen = len(fake.state.requests)
    r = kv("batch", "results", batch_id, "--manifest", s3.url("out/metadata.jsonl"))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "cannot write" in r.stderr, r.all
    assert fake.state.requests[seen:] == []  # the batch not looked up, nothing downloaded


def test_the_write_check_leaves_nothing_in_the_bucket_even_versioned(kv, fake: FakeMoonshot, s3: S3) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3.endpoint).put_bucket_versioning(
        Bucket=s3.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    url = s3.put("in/a.png", _png(0))
    before = _uploads_left(s3)
    r = kv("describe", url, "--dry-run", "--manifest", s3.url("out/metadata.jsonl"),
           "--output-dir", s3.url("caps"))  # fmt: skip
    assert r.returncode == 0, r.all
    assert _uploads_left(s3) == before  # no object, version, delete marker or open upload


def test_a_write_check_whose_abort_is_refused_says_the_upload_it_left(kv, fake: FakeMoonshot, s3: S3) -> None:
    """PutObject allowed but not the abort: the check passes and the run goes on, but the
    upload it began stays open (billed): one warning names it and how to abort it. moto
    does not enforce s3:AbortMultipartUpload (it asks s3:DeleteObject of every DELETE on a
    key, the abort's included), so the policy denies both."""
    import boto3

    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*",
                       "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject"],
                       "Resource": f"arn:aws:s3:::{s3.bucket}/out/*"}],
    }  # fmt: skip
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.put_bucket_policy(Bucket=s3.bucket, Policy=json.dumps(policy))
    url = s3.put("in/a.png", _png(0))
    r = kv("describe", url, "--dry-run", "--manifest", s3.url("out/metadata.jsonl"))
    assert r.returncode == 0 and "Traceback" not in r.all, r.all
    (upload,) = client.list_multipart_uploads(Bucket=s3.bucket)["Uploads"]
    assert upload["Key"] == "out/metadata.jsonl"
    (said,) = [line for line in r.stderr.splitlines() if "warning:" in line]
    assert f"unfinished upload of {s3.url('out/metadata.jsonl')}" in said
    assert (
        f"aws s3api abort-multipart-upload --bucket {s3.bucket} --key out/metadata.jsonl "
        f"--upload-id {upload['UploadId']}"
    ) in said
    assert S3_SECRET not in r.all and S3_KEY_ID not in r.all
    from kimi_vision_cli.errors import OutputBlockedError
    from kimi_vision_cli.output.objects import ObjectDir

    with pytest.raises(OutputBlockedError, match="unfinished upload"):  # no `warn`: never unsaid
        ObjectDir(s3.url("out")).writable("x.json")
