"""Issue 14 through the CLI (the `kv` fixture) against the loopback server: XMP sidecars
read back by exiftool, imagefolder manifests, --schema structured answers (describe, ask,
batch), and `batch results --wait` writing what describe writes."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kimi_vision_cli.runner.host import Backoff, Host
from tests.media import write_image
from tests.test_manifest import load_imagefolder

EXIFTOOL = shutil.which("exiftool")
FIELDS = "alt_text, tags: list, people: int"


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    """A small dataset: ds/a.png, ds/sub/b.png."""
    (tmp_path / "ds" / "sub").mkdir(parents=True)
    write_image(tmp_path / "ds" / "a.png", 64, 48)
    write_image(tmp_path / "ds" / "sub" / "b.png", 30, 20)
    return tmp_path / "ds"


@pytest.fixture
def slept() -> list[float]:
    """The delays a run on NO_SLEEP asked for."""
    return []


@pytest.fixture
def no_sleep(slept: list[float]) -> Host:
    """A Host whose --wait polls without a real sleep; the delays go to `slept`."""
    return Host(sleep=slept.append, poll=Backoff(first=1, factor=2, cap=4))


def exiftool(path: Path) -> dict[str, object]:
    assert EXIFTOOL
    out = subprocess.run([EXIFTOOL, "-j", "-charset", "utf8", str(path)], capture_output=True, check=True)
    return json.loads(out.stdout)[0]  # type: ignore[no-any-return]


# -- XMP sidecars ------------------------------------------------------------------------


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
def test_xmp_sidecar_is_read_by_exiftool(kv, ds: Path) -> None:  # type: ignore[no-untyped-def]
    before = (ds / "a.png").read_bytes()
    r = kv("describe", "ds/a.png", "--sidecar", "xmp")
    assert r.returncode == 0, r.stderr
    meta = exiftool(ds / "a.png.xmp")
    assert str(meta["Description"]).startswith("**Answer 1** to 'Describe the content of the image.'")
    assert "Subject" not in meta  # no structured answer, no keywords
    assert (ds / "a.png").read_bytes() == before  # the image itself is never touched


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
def test_xmp_with_schema_has_caption_and_keywords_and_resumes(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    r = kv("describe", "-r", "ds", "--schema", FIELDS, "--sidecar", "xmp")
    assert r.returncode == 0, r.stderr
    meta = exiftool(ds / "sub" / "b.png.xmp")
    assert meta["Description"] == "a 30x20 image/png image, mean colour (172, 60, 20)"
    assert meta["Subject"] == ["a", "30x20", "image/png"]
    sent = len(fake.chat_requests)
    again = kv("describe", "-r", "ds", "--schema", FIELDS, "--sidecar", "xmp")
    assert again.returncode == 0 and len(fake.chat_requests) == sent  # resumed: nothing sent
    assert "2 skipped" in again.stderr


# -- manifests ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_manifest_loads_like_imagefolder_and_reruns_add_no_duplicates(kv, fake, ds: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    meta = ds / f"metadata.{kind}"
    r = kv("describe", "-r", "ds", "--manifest", f"ds/metadata.{kind}", "-j", "1")
    assert r.returncode == 0, r.stderr
    rows = load_imagefolder(meta)
    assert sorted(str(row["file_name"]) for row in rows) == ["a.png", "sub/b.png"]
    assert all(str(row["text"]).startswith("**Answer 1**") for row in rows)
    first = meta.read_bytes()
    sent = len(fake.chat_requests)
    assert kv("describe", "-r", "ds", "--manifest", f"ds/metadata.{kind}").returncode == 0
    assert meta.read_bytes() == first and len(fake.chat_requests) == sent  # kept, not asked again
    (ds / "c.png").write_bytes((ds / "a.png").read_bytes())
    assert kv("describe", "-r", "ds", "--manifest", f"ds/metadata.{kind}").returncode == 0
    assert len(load_imagefolder(meta)) == 3 and len(fake.chat_requests) == sent + 1


def test_manifest_overwrite_replaces_the_row(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    assert kv("describe", "ds/a.png", "--manifest", "ds/metadata.jsonl").returncode == 0
    r = kv(
        "describe", "ds/a.png", "--manifest", "ds/metadata.jsonl", "--on-exists", "overwrite", "-p", "Again."
    )
    assert r.returncode == 0, r.stderr
    (row,) = load_imagefolder(ds / "metadata.jsonl")
    assert "'Again.'" in str(row["text"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ds/a.png", "--manifest", "elsewhere/metadata.jsonl"], "is outside"),
        (["-", "--manifest", "ds/metadata.jsonl"], "--manifest takes files only"),
        (["ds/a.png", "--manifest", "ds/metadata.txt"], "FILE.jsonl or FILE.csv"),
    ],
)
def test_manifest_refuses_up_front(kv, fake, ds: Path, args: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    r = kv("describe", *args)
    assert r.returncode == 2 and words in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
    assert fake.chat_requests == []  # before any request


def test_files_from_outside_the_manifest_directory_fail_unsent(kv, fake, ds: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_image(tmp_path / "out.png")
    (tmp_path / "list.txt").write_text("ds/a.png\nout.png\n")
    r = kv("describe", "--files-from", "list.txt", "--manifest", "ds/metadata.jsonl")
    assert r.returncode == 2 and "out.png: is outside" in r.stderr
    assert len(fake.chat_requests) == 1
    assert [row["file_name"] for row in load_imagefolder(ds / "metadata.jsonl")] == ["a.png"]


# -- --schema ----------------------------------------------------------------------------


def test_schema_asks_json_schema_and_records_carry_data(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    r = kv("describe", "ds/a.png", "--schema", FIELDS, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert rec["data"] == {"alt_text": "a 64x48 image/png image, mean colour (189, 42, 26)",
                           "people": 1, "tags": ["a", "64x48", "image/png"]}  # fmt: skip
    (req,) = fake.chat_requests
    fmt = req.body["response_format"]  # kimi-k2.6 takes json_schema (issue 20)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"alt_text", "people", "tags"}
    assert req.body["messages"][-1]["content"][-1]["text"] == "Describe the content of the image."
    plain = kv("describe", "ds/a.png", "--format", "jsonl")
    assert "data" not in json.loads(plain.stdout)  # the key comes with --schema only


def test_a_bad_answer_is_asked_once_more(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    fake.state.answers.append("Sure! Here is the JSON you asked for.")
    r = kv("describe", "ds/a.png", "--schema", FIELDS, "--format", "jsonl", "--sidecar", "json")
    assert r.returncode == 0, r.stderr
    assert "answer does not match the schema: not JSON" in r.stderr and "asking once more" in r.stderr
    assert len(fake.chat_requests) == 2
    rec = json.loads(r.stdout)
    assert rec["data"]["people"] == 1
    assert rec["usage"]["completion_tokens"] > 20  # both attempts are paid for


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
def test_two_bad_answers_fail_the_input_and_write_nothing(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    fake.state.answers.extend(['{"alt_text": "x"}', '{"alt_text": "x", "tags": [], "people": "two"}'])
    r = kv("describe", "ds/a.png", "ds/sub/b.png", "-j", "1", "--schema", FIELDS, "--format", "jsonl",
           "--sidecar", "xmp", "--manifest", "ds/metadata.jsonl")  # fmt: skip
    assert r.returncode == 1
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    bad = recs["ds/a.png"]
    assert bad["data"] is None and bad["error"]["code"] == "schema_mismatch"
    assert (
        bad["error"]["message"]
        == "ds/a.png: answer does not match the schema: people: 'two' is not of type 'integer'"
    )
    assert "ds/a.png: answer does not match the schema" in r.stderr
    assert not (ds / "a.png.xmp").exists()
    assert [row["file_name"] for row in load_imagefolder(ds / "metadata.jsonl")] == ["sub/b.png"]
    assert (ds / "sub" / "b.png.xmp").exists()


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ("tags: dict", "unknown type 'dict'"),
        ("missing.json", "no such file"),
        ('{"type": "array"}', "root type"),
    ],
)
def test_a_bad_schema_is_exit_2_before_any_request(kv, fake, ds: Path, schema: str, words: str) -> None:  # type: ignore[no-untyped-def]
    for cmd in (["describe", "ds/a.png"], ["ask", "Q?", "ds/a.png"], ["batch", "submit", "ds/a.png"]):
        r = kv(*cmd, "--schema", schema)
        assert r.returncode == 2 and words in r.stderr, (cmd, r.stderr)
    assert fake.chat_requests == [] and fake.requests_to("/v1/files") == []


def test_a_ref_that_resolves_nowhere_is_exit_2_before_any_request(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.6: a dangling $ref was a traceback after the answer was paid for, and
    estimate / batch submit took it. Every command that takes --schema refuses it up
    front, naming the file and the JSON pointer of the $ref."""
    bad = {"type": "object", "properties": {"alt": {"$ref": "#/$defs/caption"}}}
    (ds.parent / "alt.schema.json").write_text(json.dumps(bad))
    commands = (["describe", "ds/a.png"], ["ask", "Q?", "ds/a.png"], ["estimate", "ds/a.png"],
                ["batch", "submit", "ds/a.png"])  # fmt: skip
    for cmd in commands:
        r = kv(*cmd, "--schema", "alt.schema.json")
        assert r.returncode == 2, (cmd, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert lines[0].startswith("kimi-vision: error: alt.schema.json: --schema: $ref '#/$defs/caption'")
        assert "at /properties/alt/$ref resolves nowhere" in lines[0]
    assert fake.state.requests == []


def test_schema_file_and_ask(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    (ds.parent / "count.json").write_text(json.dumps(schema))
    r = kv(
        "ask", "How many images?", "ds/a.png", "ds/sub/b.png", "--schema", "count.json", "--format", "json"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"] == {"count": 1}


# -- the Batch API: submit --schema, results --wait with the describe writers -------------


def test_batch_results_wait_writes_what_describe_writes(
    kv, fake, ds: Path, tmp_path: Path, no_sleep: Host, slept: list[float]
) -> None:  # type: ignore[no-untyped-def]
    writers = ["--schema", FIELDS, "--output-dir", "caps", "--manifest", "ds/metadata.jsonl"]
    assert kv("describe", "-r", "ds", *writers).returncode == 0
    described = {p.relative_to(tmp_path): p.read_bytes() for p in sorted((tmp_path / "caps").rglob("*.txt"))}
    rows = (ds / "metadata.jsonl").read_text().splitlines()
    shutil.rmtree(tmp_path / "caps")
    (ds / "metadata.jsonl").unlink()

    sub = kv("batch", "submit", "-r", "ds", "--schema", FIELDS)
    assert sub.returncode == 0, sub.stderr
    r = kv(
        "batch",
        "results",
        sub.stdout.strip(),
        "--wait",
        "--output-dir",
        "caps",
        "--manifest",
        "ds/metadata.jsonl",
        host=no_sleep,
    )
    assert r.returncode == 0, r.stderr
    assert "waiting (next look in 1s)" in r.stderr and slept  # polled, without sleeping
    fetched = {p.relative_to(tmp_path): p.read_bytes() for p in sorted((tmp_path / "caps").rglob("*.txt"))}
    assert fetched == described and len(fetched) == 2

    # The same rows, with what made them: the batch's model, and the same prompt hash
    # (issue 19 item 5: `batch submit` records it for `batch results`); the batch takes
    # the run's model now (issue 20), so it is the same.
    def made(lines: list[str], model: str) -> list[dict[str, object]]:
        found = [json.loads(line) for line in lines]
        for row in found:
            assert row["provenance"]["model"] == model and row["provenance"]["prompt_hash"].startswith(
                "sha256:"
            )
            row["provenance"]["model"] = "?"
        return sorted(found, key=str)

    fetched_rows = (ds / "metadata.jsonl").read_text().splitlines()
    assert made(fetched_rows, "kimi-k2.6") == made(rows, "kimi-k2.6")


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
def test_batch_results_several_ids_and_a_bad_answer_asked_again_live(
    kv, fake, ds: Path, no_sleep: Host
) -> None:  # type: ignore[no-untyped-def]
    one = kv("batch", "submit", "ds/a.png", "--schema", FIELDS).stdout.strip()
    two = kv("batch", "submit", "ds/sub/b.png", "--schema", FIELDS).stdout.strip()
    fake.state.answers.append('{"alt_text": 3}')  # what the first batch's line will answer
    wait = ["--wait", "--format", "jsonl", "--sidecar", "xmp"]
    r = kv("batch", "results", one, "nope-1", two, *wait, host=no_sleep)
    assert r.returncode == 2, r.stderr  # the unknown id; both batches were fetched
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["input"] for rec in recs] == ["ds/a.png", "ds/sub/b.png"]
    assert all(rec["error"] is None and rec["data"]["people"] == 1 for rec in recs)
    assert "ds/a.png: answer does not match the schema" in r.stderr and "nope-1" in r.stderr
    (live,) = fake.chat_requests  # the one bad answer, asked again with the batch line's body
    assert live.body["response_format"]["type"] == "json_schema" and live.body["stream"] is True
    assert (ds / "a.png.xmp").exists() and (ds / "sub" / "b.png.xmp").exists()
    # Fetching again pays nothing more: the live retry's answer was kept.
    again = kv("batch", "results", one, "--format", "jsonl")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["data"]["people"] == 1
    assert len(fake.chat_requests) == 1 and "asking once more" not in again.stderr


def test_ctrl_c_while_waiting_leaves_the_batch_running(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    batch_id = kv("batch", "submit", "ds/a.png").stdout.strip()

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    r = kv("batch", "results", batch_id, "--wait", host=Host(sleep=interrupt))
    assert r.returncode == 130
    assert f"the batches keep running: fetch later with `kimi-vision batch results {batch_id}`" in r.stderr
    assert fake.requests_to(f"/v1/batches/{batch_id}/cancel") == []
    assert kv("batch", "status", batch_id).returncode == 0


# -- issue 19: resume that notices what changed; manifests that never lose an answer -------


def test_a_changed_prompt_is_said_and_on_exists_stale_redoes_exactly_those(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    outputs = ["--sidecar", "json", "--manifest", "ds/metadata.jsonl"]
    assert kv("describe", "-r", "ds", *outputs).returncode == 0
    write_image(ds / "c.png", 20, 20)
    assert kv("describe", "ds/c.png", *outputs, "-p", "Other.").returncode == 0
    sent = len(fake.chat_requests)
    r = kv("describe", "-r", "ds", *outputs, "-p", "Other.")  # a.png and sub/b.png were made otherwise
    assert r.returncode == 0 and len(fake.chat_requests) == sent, r.stderr
    assert "0 done, 0 failed, 3 skipped" in r.stderr
    assert (
        "kimi-vision: warning: 2 captions kept were made with another model, prompt, system message or "
        "schema — rerun with --on-exists stale to redo them"
    ) in r.stderr
    r = kv("describe", "-r", "ds", *outputs, "-p", "Other.", "--on-exists", "stale")
    assert r.returncode == 0 and "2 done, 0 failed, 1 skipped" in r.stderr, r.stderr
    assert len(fake.chat_requests) == sent + 2  # exactly the two stale ones
    rows = {row["file_name"]: row for row in load_imagefolder(ds / "metadata.jsonl")}
    assert len(rows) == 3 and all("'Other.'" in str(row["text"]) for row in rows.values())
    assert len({json.dumps(row["provenance"]) for row in rows.values()}) == 1
    record = json.loads((ds / "a.png.json").read_text())
    assert record["provenance"] == rows["a.png"]["provenance"] and "'Other.'" in record["text"]
    r = kv("describe", "-r", "ds", *outputs, "-p", "Other.")
    assert "warning" not in r.stderr and len(fake.chat_requests) == sent + 2


def test_a_schema_is_hashed_as_parsed_not_by_its_file_name(kv, fake, ds: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kimi_vision_cli.schema import from_fields

    assert kv("describe", "ds/a.png", "--schema", FIELDS, "--manifest", "ds/metadata.jsonl").returncode == 0
    (tmp_path / "same.json").write_text(json.dumps(from_fields(FIELDS), indent=2))
    r = kv("describe", "ds/a.png", "--schema", "same.json", "--manifest", "ds/metadata.jsonl")
    assert r.returncode == 0 and "warning" not in r.stderr and len(fake.chat_requests) == 1
    r = kv("describe", "ds/a.png", "--schema", "alt_text", "--manifest", "ds/metadata.jsonl")
    assert "1 caption kept was made with another" in r.stderr and len(fake.chat_requests) == 1


@pytest.mark.parametrize("kind", ["json", "txt"])
def test_a_missing_row_takes_the_sidecar_caption_without_a_request(kv, fake, ds: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert kv("describe", "-r", "ds", "--sidecar", kind).returncode == 0
    sent = len(fake.chat_requests)
    r = kv("describe", "-r", "ds", "--sidecar", kind, "--manifest", "ds/metadata.csv")
    assert r.returncode == 0 and "0 done, 0 failed, 2 skipped" in r.stderr, r.stderr
    assert len(fake.chat_requests) == sent  # the answers were paid for once
    rows = {row["file_name"]: row for row in load_imagefolder(ds / "metadata.csv")}
    side = (ds / "a.png.json").read_text() if kind == "json" else (ds / "a.png.txt").read_text()
    caption = json.loads(side)["text"] if kind == "json" else side.removesuffix("\n")
    assert rows["a.png"]["text"] == caption and caption.startswith("**Answer")
    assert rows["a.png"]["model"] == ("kimi-k2.6" if kind == "json" else "")  # txt cannot say


def test_a_manifest_that_cannot_be_written_stops_before_any_request(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    # An immutable directory refuses a new file even to root (chattr +i, ext4 and others).
    chattr = shutil.which("chattr")  # e2fsprogs: absent from some minimal images
    if chattr is None or subprocess.run([chattr, "+i", str(ds)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        r = kv("describe", "-r", "ds", "--manifest", "ds/metadata.jsonl")
    finally:
        subprocess.run([chattr, "-i", str(ds)], check=True)
    assert r.returncode == 1, r.all
    assert fake.chat_requests == []
    assert r.stderr.splitlines() == [
        f"kimi-vision: error: --manifest ds/metadata.jsonl: {ds} cannot be written (Operation not permitted)"
        " — check its permissions and the disk (or pick another --manifest); nothing was sent"
    ]


def test_a_manifest_directory_that_takes_no_file_stops_before_any_request(  # type: ignore[no-untyped-def]
    kv, fake, ds: Path, monkeypatch
) -> None:
    """access(2) says yes to root where no file can be made (/proc; an NFS share that
    squashes root): the check makes a file there and removes it, so the run stops before
    paying for rows it could not keep (exit 1, one line)."""
    from kimi_vision_cli import atomic

    tried: list[Path] = []

    def refuse(where: Path) -> None:
        tried.append(where)
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(atomic, "try_creating", refuse)
    r = kv("describe", "-r", "ds", "--manifest", "ds/metadata.jsonl")
    assert r.returncode == 1, r.all
    assert fake.chat_requests == [] and tried == [ds]
    assert r.stderr.splitlines() == [
        f"kimi-vision: error: --manifest ds/metadata.jsonl: {ds} cannot be written (No such file or directory)"
        " — check its permissions and the disk (or pick another --manifest); nothing was sent"
    ]


def test_a_manifest_write_that_fails_mid_run_stops_the_run(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    import resource

    names = [write_image(ds / f"img{i}.png", 8 + i, 6).name for i in range(4)]
    meta = ds / "metadata.jsonl"
    meta.write_text('{"file_name": "a.png", "text": "a"}\n')
    # A file-size limit makes the manifest's next append fail (EFBIG), even for root, as
    # a full disk would; access(2) cannot see it coming.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (meta.stat().st_size, hard))
    try:
        r = kv("describe", "-j", "1", *[f"ds/{n}" for n in names], "--manifest", "ds/metadata.jsonl")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert r.returncode == 1, r.all
    assert len(fake.chat_requests) == 1  # no answer paid for after the first that could not be kept
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot write manifest ds/metadata.jsonl" in errors[0], r.stderr
    assert "stopped:" in r.stderr


def test_a_torn_last_row_is_set_aside_and_the_warning_says_where(kv, fake, ds: Path) -> None:  # type: ignore[no-untyped-def]
    meta = ds / "metadata.jsonl"
    meta.write_bytes(b'{"file_name": "a.png", "text": "a"}\n{"file_name": "sub/b.png", "te')
    r = kv("describe", "-r", "ds", "--manifest", "ds/metadata.jsonl")
    assert r.returncode == 0, r.stderr
    assert (
        "kimi-vision: warning: ds/metadata.jsonl: its last row was half-written (a crash?): set aside in "
        "ds/metadata.jsonl.torn (30 bytes); its input will be described again"
    ) in r.stderr
    assert (ds / "metadata.jsonl.torn").read_bytes() == b'{"file_name": "sub/b.png", "te\n'
    assert len(fake.chat_requests) == 1 and len(load_imagefolder(meta)) == 2


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_name_that_is_not_utf8_resumes_and_the_manifest_stays_utf8(kv, fake, ds: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    import os

    write_image(ds / os.fsdecode(b"caf\xe9.png"), 10, 10)
    for _ in range(2):
        assert kv("describe", "-r", "ds", "--manifest", f"ds/metadata.{kind}").returncode == 0
    assert len(fake.chat_requests) == 3  # the rerun found every row, the Latin-1 name's too
    from tests.test_manifest import load_rows

    names = sorted(str(row["file_name"]) for row in load_rows(ds / f"metadata.{kind}"))  # strict UTF-8
    assert names == ["a.png", "caf\\xe9.png", "sub/b.png"]


def test_a_row_taken_from_a_txt_sidecar_of_a_schema_answer_is_the_row_describe_writes(
    kv, fake, ds: Path
) -> None:  # type: ignore[no-untyped-def]
    args = ["ds/a.png", "--schema", FIELDS, "--sidecar", "txt", "--manifest", "ds/metadata.jsonl"]
    assert kv("describe", *args).returncode == 0
    written = (ds / "metadata.jsonl").read_text()
    (ds / "metadata.jsonl").unlink()
    assert kv("describe", *args).returncode == 0
    assert len(fake.chat_requests) == 1  # the row came from the sidecar
    (filled,), (direct,) = load_imagefolder(ds / "metadata.jsonl"), [json.loads(written)]
    assert filled["text"] == direct["text"] == direct["alt_text"]  # the caption field, not the JSON
    assert {k: v for k, v in filled.items() if k != "provenance"} == {
        k: v for k, v in direct.items() if k != "provenance"
    }
