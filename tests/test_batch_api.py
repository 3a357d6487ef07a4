"""`kimi-vision batch submit | status | results | cancel` against the loopback server's
Batch API (tests/fake_batches.py), through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.media import image_bytes, write_image


def _batch_input(fake) -> list[dict]:  # type: ignore[no-untyped-def]
    (batch_file,) = [fid for fid, m in fake.state.files.items() if m["purpose"] == "batch"]
    return [json.loads(line) for line in fake.state.file_data[batch_file].decode().splitlines()]


def test_submit_then_results_round_trip(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    (tmp_path / "b.jpg").write_bytes(image_bytes(5000, 3000, "JPEG"))
    (tmp_path / "bad.png").write_text("not an image")
    r = kv("batch", "submit", "a.png", "b.jpg", "bad.png", "-p", "Caption it.")
    assert r.returncode == 2, r.stderr  # one bad input; the others were submitted
    assert "bad.png" in r.stderr and "2 requests in 1 batch;" in r.stderr
    batch_id = r.stdout.strip()
    assert batch_id.startswith("batch-") and len(r.stdout.splitlines()) == 1
    assert fake.chat_requests == []  # nothing streamed: it all went into the batch file
    lines = _batch_input(fake)
    assert [ln["url"] for ln in lines] == ["/v1/chat/completions"] * 2
    body = lines[1]["body"]
    assert "stream" not in body and body["max_tokens"] == 4096  # the modest batch default
    assert body["messages"][-1]["content"][-1]["text"] == "Caption it."
    assert body["messages"][-1]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert fake.requests_to("/v1/batches")[0].body["completion_window"] == "24h"

    # first look: still running -> exit 75, nothing on stdout
    early = kv("batch", "results", batch_id)
    assert early.returncode == 75 and "still" in early.stderr and early.stdout == ""

    st = kv("batch", "status", batch_id, "--format", "json")
    assert st.returncode == 0 and json.loads(st.stdout)[0]["status"] == "completed"

    res = kv("batch", "results", batch_id, "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [x["input"] for x in recs] == ["a.png", "b.jpg"]  # mapped back from custom_id
    assert "a 10x10 image/png image" in recs[0]["text"]
    assert "a 3600x2160 image/jpeg image" in recs[1]["text"]  # prepared like describe
    assert recs[0]["error"] is None and recs[0]["usage"]["total_tokens"] > 0

    text = kv("batch", "results", batch_id)
    assert "==> a.png <==" in text.stdout and "==> b.jpg <==" in text.stdout


def test_failed_request_in_batch_is_reported(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    r = kv("batch", "submit", "a.png", "--max-tokens", "3")
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    kv("batch", "status", batch_id)
    res = kv("batch", "results", batch_id, "--format", "json")
    (rec,) = json.loads(res.stdout)
    assert rec["finish_reason"] == "length" and rec["error"]["code"] == "truncated"
    assert res.returncode == 1


def test_cancel_and_bad_window(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    bad = kv("batch", "submit", "a.png", "--window", "2h")
    assert bad.returncode == 2 and "12h and 7d" in bad.stderr
    assert fake.requests_to("/v1/files") == []
    batch_id = kv("batch", "submit", "a.png", "--window", "3d").stdout.strip()
    c = kv("batch", "cancel", batch_id)
    assert c.returncode == 0 and "\tcancelled\t" in c.stdout
    res = kv("batch", "results", batch_id)
    assert res.returncode == 1 and "cancelled" in res.stderr


def test_unknown_batch_and_no_key(kv, fake) -> None:
    for verb in ("status", "results", "cancel"):
        r = kv("batch", verb, "batch-nope")
        # An unknown id is bad input (2), named as a batch; a 404 is not "model not found" here.
        assert r.returncode == 2, r.stderr
        assert "batch-nope: batch batch-nope not found" in r.stderr and "model" not in r.stderr


def test_status_goes_on_past_an_unknown_id(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    batch_id = kv("batch", "submit", "a.png").stdout.strip()
    r = kv("batch", "status", "batch-nope", batch_id)
    assert r.returncode == 2 and "batch-nope" in r.stderr
    assert r.stdout.startswith(batch_id + "\t")  # the known one is still shown
    r = kv("batch", "status", "batch-nope", extra_env={"MOONSHOT_API_KEY": ""})
    assert r.returncode == 3 and "MOONSHOT_API_KEY" in r.stderr


def test_ids_of_batches_created_before_a_failure_are_printed(
    invoke, fake, tmp_path: Path, monkeypatch
) -> None:
    """Batches run and bill once created: a later failure (here the input stream failing
    after the first part went) must still print their ids, or a rerun pays twice."""
    from kimi_vision_cli.errors import TemporaryError
    from kimi_vision_cli.flows import batch as batch_api
    from kimi_vision_cli.inputs import discover

    names = []
    for i in range(8):
        write_image(tmp_path / f"p{i}.png", 10 + i, 10)
        names.append(str(tmp_path / f"p{i}.png"))
    monkeypatch.setattr(batch_api, "MAX_FILE_BYTES", 2500)  # a few requests per part
    real = discover.iter_sources

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        for n, src in enumerate(real(*args, **kwargs)):
            if n == 6:
                raise TemporaryError("network went away")
            yield src

    monkeypatch.setattr(discover, "iter_sources", failing)
    code, out, err = invoke("batch", "submit", *names)
    assert code == 75, err
    ids = out.split()
    assert ids and all(i.startswith("batch-") for i in ids)
    assert len(ids) == len(fake.requests_to("/v1/batches"))
    assert "created before the failure" in err and "network went away" in err


def test_a_malformed_output_line_costs_that_input_only(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    batch_id = kv("batch", "submit", "a.png", "b.png").stdout.strip()
    for _ in range(2):  # the loopback batch moves on each time it is looked at: in progress, completed
        kv("batch", "status", batch_id)
    (out_id,) = [fid for fid, f in fake.state.files.items() if f["filename"] == "output.jsonl"]
    lines = fake.state.file_data[out_id].decode().splitlines()
    fake.state.file_data[out_id] = ("{not json\n" + lines[1] + "\n").encode()
    r = kv("batch", "results", batch_id, "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    assert set(recs) == {"a.png", "b.png"}  # the good line's answer is kept
    assert [name for name, rec in recs.items() if rec["error"] is None] != []
    assert "malformed line" in r.stderr and "Traceback" not in r.stderr


def test_an_output_line_of_another_shape_fails_that_input_without_a_traceback(
    kv, fake, tmp_path: Path
) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    batch_id = kv("batch", "submit", "a.png", "b.png").stdout.strip()
    for _ in range(2):
        kv("batch", "status", batch_id)
    (out_id,) = [fid for fid, f in fake.state.files.items() if f["filename"] == "output.jsonl"]
    lines = fake.state.file_data[out_id].decode().splitlines()
    odd = json.loads(lines[0])
    odd["response"]["status_code"] = None  # parses, but not a number
    fake.state.file_data[out_id] = (json.dumps(odd) + "\n" + lines[1] + "\n").encode()
    r = kv("batch", "results", batch_id, "--format", "jsonl")
    assert r.returncode == 1 and "Traceback" not in r.all, r.all
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 2 and sum(rec["error"] is None for rec in recs) == 1
    assert "malformed result" in r.stderr


def test_a_stop_while_building_names_the_inputs_not_submitted(kv, fake, tmp_path: Path) -> None:
    from tests.fake_moonshot import Fault

    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    ref = kv("upload", "a.png").stdout.strip()
    fake.inject(
        Fault(
            status=401,
            type="invalid_authentication_error",
            message="Invalid Authentication",
            path="/v1/files/",
        )
    )
    r = kv("batch", "submit", "b.png", ref, "--format", "json")
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["batch_ids"] == [] and doc["requests"] == 0
    failed = {f["input"]: f["error"]["code"] for f in doc["failed"]}
    assert failed == {ref: "auth", "b.png": "not_started"}  # b.png was built, never submitted
    assert fake.requests_to("/v1/batches") == []


def test_files_prune_deletes_the_batch_files_this_tool_made(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.10: `files prune` ("every file this tool uploaded") left the request JSONL
    of `batch submit` and the output and error files `batch results` fetched, though they
    count toward the account's 1,000 files. A file someone else made is kept."""
    from tests.test_files import foreign

    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", 30, 20)
    r = kv("batch", "submit", "a.png", "b.png", "--max-tokens", "3")  # answers cut: an error file too
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    kv("batch", "status", batch_id)
    assert kv("batch", "results", batch_id).returncode == 1
    other = foreign(fake)
    made = {fid for fid, meta in fake.state.files.items() if fid != other}
    purposes = sorted(fake.state.files[fid]["purpose"] for fid in made)
    assert purposes.count("batch") == 1 and len(made) >= 2, purposes  # the request file and output
    r = kv("files", "prune", "--yes")
    assert r.returncode == 0, r.stderr
    assert set(fake.state.files) == {other}


def test_results_write_no_sidecar_beside_an_input_not_on_this_machine(kv, fake, tmp_path: Path) -> None:
    """A sidecar beside an input that is not here would make its directories again (and
    caption no file): that input fails, naming it (exit 2), and nothing is made; under
    --output-dir the sidecars are written as usual."""
    (tmp_path / "photos").mkdir()
    write_image(tmp_path / "photos" / "a.png")
    write_image(tmp_path / "here.png")
    batch_id = kv("batch", "submit", "photos/a.png", "here.png").stdout.strip()
    kv("batch", "status", batch_id)
    (tmp_path / "photos" / "a.png").unlink()
    (tmp_path / "photos").rmdir()
    r = kv("batch", "results", batch_id, "--sidecar", "txt", "--format", "jsonl")
    assert r.returncode == 2
    assert r.stderr == (
        "kimi-vision: error: photos/a.png: no such file here: its sidecar goes beside it, so nothing was "
        "written — fetch the results where the inputs are, or pass --output-dir DIR\n"
    )
    assert not (tmp_path / "photos").exists() and (tmp_path / "here.png.txt").exists()
    gone, here = (json.loads(line) for line in r.stdout.splitlines())
    assert gone["error"]["code"] == "bad_input" and "64x48" in gone["text"]  # the answer is kept
    assert here["error"] is None
    r = kv("batch", "results", batch_id, "--output-dir", "caps")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "caps" / "photos" / "a.png.txt").exists()


def _finished(kv, fake, *args: str) -> str:  # type: ignore[no-untyped-def]
    """A batch submitted and looked at until the loopback server has finished it."""
    r = kv("batch", "submit", *args)
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    for _ in range(2):  # in progress, then completed
        kv("batch", "status", batch_id)
    return str(batch_id)


def test_elsewhere_the_request_file_is_downloaded_once_for_its_schema_and_a_retry(
    kv, fake, tmp_path: Path
) -> None:
    from tests.test_families import LONG_FIELDS

    write_image(tmp_path / "a.png", 10, 10)
    fake.state.answers.append("not the object asked for")  # the batch's answer: retried live
    batch_id = _finished(kv, fake, "a.png", "--schema", LONG_FIELDS)  # too long for metadata
    (input_id,) = [fid for fid, f in fake.state.files.items() if f["purpose"] == "batch"]
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}  # another machine: no local record
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(rec["data"]) == sorted(f.strip() for f in LONG_FIELDS.split(","))  # the live retry's
    assert len(fake.chat_requests) == 1
    # the schema (its first request) and the retried request (its body) from one download
    assert len(fake.requests_to(f"/v1/files/{input_id}/content", "GET")) == 1


def test_another_programs_batch_metadata_schema_is_not_followed(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    schema = json.dumps({"type": "object", "required": ["x"], "properties": {"x": {"type": "string"}}})
    # its own "model" means what that program meant: not the price the answers are counted at
    meta = {"tool": "another-app", "schema": schema, "model": "moonshot-v1-8k-vision-preview"}
    fake.state.batches[batch_id]["object"]["metadata"] = meta
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert rec["error"] is None and "a 10x10 image/png image" in rec["text"] and "data" not in rec
    assert fake.chat_requests == []  # no answer checked against it, none asked again
    meta.pop("model")
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    (plain,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert rec["cost"] == plain["cost"] and rec["cost"]["amount"] > 0  # priced as the run's -m


def test_results_read_the_local_batch_record_once(kv, fake, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kimi_vision_cli.flows import batch_results as flow

    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    read: list[str] = []
    real = flow.load_record
    monkeypatch.setattr(flow, "load_record", lambda ctx, bid: read.append(bid) or real(ctx, bid))
    r = kv("batch", "results", batch_id, "--sidecar", "json")
    assert r.returncode == 0, r.stderr
    assert read == [batch_id]
    assert json.loads((tmp_path / "a.png.json").read_text())["provenance"]["model"] == "kimi-k2.6"


def test_results_check_the_batch_id_once(kv, fake, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kimi_vision_cli.flows import batch_results as flow

    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    checked: list[str] = []
    real = flow.check_id
    monkeypatch.setattr(flow, "check_id", lambda bid: checked.append(bid) or real(bid))
    r = kv("batch", "results", batch_id)
    assert r.returncode == 0, r.stderr
    assert checked == [batch_id]  # by local_record, before the batch is looked up


def test_a_batch_whose_local_record_cannot_be_kept_is_still_printed(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import errno

    from kimi_vision_cli.flows import batch as flow

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    write_image(tmp_path / "a.png", 10, 10)
    monkeypatch.setattr(flow, "save_record", full)
    r = kv("batch", "submit", "a.png")
    assert r.returncode == 0, r.stderr
    batch_id = r.stdout.strip()
    assert batch_id in fake.state.batches  # created, billed, and its id printed
    assert f"batch {batch_id}: cannot keep its local record (No space left on device)" in r.stderr
    monkeypatch.undo()
    for _ in range(2):
        kv("batch", "status", batch_id)
    r = kv("batch", "results", batch_id, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["error"] is None


def test_a_malformed_request_file_is_one_line_not_a_traceback(kv, fake, tmp_path: Path) -> None:
    from tests.test_families import LONG_FIELDS

    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png", "--schema", LONG_FIELDS)  # schema read from the requests
    (input_id,) = [fid for fid, f in fake.state.files.items() if f["purpose"] == "batch"]
    fake.state.file_data[input_id] = b'{"custom_id": "x", "body": []}\nnot json\n'
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "kimi-vision: error: the batch's input file has a malformed request line: its answers cannot be asked again"
    )


def test_subtitle_sidecars_of_a_batch_without_parts_are_refused_before_anything_is_fetched(
    kv, fake, tmp_path: Path
) -> None:
    """--sidecar vtt|srt needs the timed parts only `batch submit --segment` keeps: a batch
    without them is refused once, up front (exit 2), not record by record after its
    files were downloaded and its --schema retries paid."""
    from tests.test_families import LONG_FIELDS

    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    fake.state.answers.append("not the object asked for")  # would be retried live, and paid
    plain = _finished(kv, fake, "a.png", "--schema", LONG_FIELDS)
    seen = len(fake.state.requests)
    r = kv("batch", "results", plain, "--sidecar", "vtt", "--wait")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        f"kimi-vision: error: {plain}: --sidecar vtt needs timed parts: this batch was not submitted "
        "with --segment here — use txt, json or xmp, or submit the videos with --segment\n"
    )
    assert fake.state.requests[seen:] == []  # not looked up, nothing downloaded, no retry paid
    assert not (tmp_path / "a.png.vtt").exists()
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}  # no local record: no parts known
    r = kv("batch", "results", plain, "--sidecar", "srt", extra_env=other)
    assert r.returncode == 2 and "--sidecar srt needs timed parts" in r.stderr
    assert fake.state.requests[seen:] == []
    r = kv("batch", "results", plain, "batch-nope", plain, "--sidecar", "srt", "--format", "jsonl")
    assert r.returncode == 2 and r.stdout == ""
    assert [line.split(": ")[2] for line in r.stderr.splitlines()] == [plain, "batch-nope"]  # once each
    assert fake.state.requests[seen:] == []


def test_results_are_priced_at_the_batch_price_of_the_batch_s_own_model(kv, fake, tmp_path: Path) -> None:
    """A batch's answers cost 60% of its model's live price, whatever the model of the
    run fetching them (here kimi-k3's from the environment)."""
    from tests.test_money import K26, _expected

    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env={"KIMI_VISION_MODEL": "kimi-k3"})
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    batch_price = (K26[0] * 0.6, K26[1] * 0.6, K26[2] * 0.6)
    assert rec["cost"] == {"currency": "USD", "amount": _expected(rec["usage"], batch_price)}
    assert rec["cost"]["amount"] != _expected(rec["usage"], K26)


def test_the_request_file_is_indexed_by_custom_id_without_parsing_its_lines(
    kv, fake, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A request line is mostly base64 media: only the lines whose request is needed are
    parsed (here the first, for the schema, and the one answer asked for again live);
    the others are indexed by the custom_id at their start."""
    from types import SimpleNamespace

    from kimi_vision_cli.flows import batch_results as flow
    from tests.test_families import LONG_FIELDS

    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.png", 10, 10)
    fake.state.answers.append("not the object asked for")  # a.png's: retried live
    batch_id = _finished(kv, fake, "a.png", "b.png", "c.png", "--schema", LONG_FIELDS)
    parsed: list[str] = []

    def loads(text: str | bytes) -> object:
        found = json.loads(text)
        if isinstance(text, bytes) and b'"body"' in text:  # a whole request line
            parsed.append(found["custom_id"])
        return found

    monkeypatch.setattr(flow, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}  # the schema is read from the requests
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 1 and len([json.loads(x) for x in r.stdout.splitlines()]) == 3
    assert parsed == ["kv-0000000:path:a.png"] * 2  # its schema, then its body for the retry


def test_a_request_line_of_another_layout_is_found_and_a_broken_one_fails_its_input_only(
    kv, fake, tmp_path: Path
) -> None:
    """A line whose custom_id is not first (another program wrote it) is parsed to find
    it; a line cut after its custom_id is found by it, and fails only the answer that
    needed it (one error, exit 1)."""
    from tests.test_families import LONG_FIELDS

    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    fake.state.answers += ["not the object asked for"] * 2  # both retried live
    batch_id = _finished(kv, fake, "a.png", "b.png", "--schema", LONG_FIELDS)
    (input_id,) = [fid for fid, f in fake.state.files.items() if f["purpose"] == "batch"]
    first, second = fake.state.file_data[input_id].decode().splitlines()
    moved = json.loads(first)
    moved = {"body": moved["body"], "custom_id": moved["custom_id"]}  # custom_id last
    fake.state.file_data[input_id] = f"{json.dumps(moved)}\n\n{second[:200]}\n".encode()
    other = {"XDG_CACHE_HOME": str(tmp_path / "elsewhere")}
    r = kv("batch", "results", batch_id, "--format", "jsonl", extra_env=other)
    assert r.returncode == 1, r.stderr
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    assert recs["a.png"]["error"] is None and "data" in recs["a.png"]  # asked again from its line
    assert "malformed request line" in recs["b.png"]["error"]["message"]
    assert len(fake.chat_requests) == 1 and "Traceback" not in r.all


def test_a_request_file_that_cannot_be_indexed_says_so_to_every_answer_needing_it(
    kv, fake, tmp_path: Path
) -> None:
    """A line without a custom_id stops the index: the first answer asked again was told
    the file is malformed, and the next ones found a half-built index ("no request for
    this answer"). Each one is told the same."""
    from tests.test_families import LONG_FIELDS

    write_image(tmp_path / "a.png", 10, 10)
    write_image(tmp_path / "b.png", 12, 10)
    fake.state.answers += ["not the object asked for"] * 2  # both need their requests again
    batch_id = _finished(kv, fake, "a.png", "b.png", "--schema", LONG_FIELDS)
    (input_id,) = [fid for fid, f in fake.state.files.items() if f["purpose"] == "batch"]
    first, second = fake.state.file_data[input_id].decode().splitlines()
    nameless = {"body": json.loads(first)["body"]}  # no custom_id
    fake.state.file_data[input_id] = f"{json.dumps(nameless)}\n{second}\n".encode()
    r = kv("batch", "results", batch_id, "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    messages = {name: rec["error"]["message"] for name, rec in recs.items()}
    assert set(messages) == {"a.png", "b.png"}
    assert all("malformed request line" in m for m in messages.values()), messages
    assert fake.chat_requests == [] and "Traceback" not in r.all


def test_results_refuse_a_missing_manifest_directory_before_anything_is_fetched(
    kv, fake, tmp_path: Path
) -> None:
    """As describe and report: a --manifest in a directory that does not exist is a slip
    to say (exit 2, one line) before the batch is looked up, not a directory to make."""
    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    seen = len(fake.state.requests)
    r = kv("batch", "results", batch_id, "--manifest", "data/set/metadata.jsonl")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "kimi-vision: error: --manifest data/set/metadata.jsonl: the directory data/set does not exist "
        "— create it first (mkdir -p data/set) or pick another --manifest\n"
    )
    assert fake.state.requests[seen:] == [] and not (tmp_path / "data").exists()


def test_an_id_that_is_not_one_is_said_once_whatever_the_sidecar(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, 10)
    batch_id = _finished(kv, fake, "a.png")
    r = kv("batch", "results", "no/such", batch_id, "--sidecar", "vtt")
    assert r.returncode == 2 and r.stdout == ""
    assert [line.split(": ", 3)[2] for line in r.stderr.splitlines()] == ["not a batch id", batch_id]
