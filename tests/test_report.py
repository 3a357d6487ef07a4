"""`kimi-vision report` and `describe --report` (issue 22): the page builder, the sources
it reads, thumbnails, and the command's errors. What a person sees in a browser is in
tests/test_report_browser.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from kimi_vision_cli.media.thumbnail import SIZE, thumbnail
from kimi_vision_cli.output.report import Entry, write_page
from kimi_vision_cli.types import Thumb, counted
from tests.fake_moonshot import Fault
from tests.media import image_bytes, video_bytes, write_image

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def page_of(entries: list[Entry], thumbs=None) -> str:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    tiny = Thumb(image_bytes(8, 6, "JPEG"), 8, 6)
    write_page(out, entries, thumbs=thumbs or (lambda e: tiny), title="t", made="now")
    return out.getvalue().decode("utf-8")


def cards(page: str) -> list[str]:
    return re.findall(r'<li class="card [^"]*" id="card-\d+">.*?</li>\n', page, re.S)


def totals(page: str) -> dict[str, str]:
    return dict(re.findall(r'<b data-total="(\w+)">([^<]*)</b>', page))


# -- the page ---------------------------------------------------------------------------


def test_untrusted_text_is_escaped_everywhere() -> None:
    entries = [
        Entry(name=EVIL + ".png", caption=EVIL, keywords=[EVIL], model=EVIL),
        Entry(name="b.png", error_code=EVIL, error=EVIL),
    ]
    page = page_of(entries)
    assert page.count("<script") == 1  # the page's own, at the end
    assert "<img src=x" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # an attribute cannot be closed by a quote in the caption
    alts = re.findall(r'alt="([^"]*)"', page)
    assert alts[0] == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def test_a_file_name_with_undecodable_bytes_is_shown_not_a_crash() -> None:
    name = b"caf\xe9.png".decode("utf-8", "surrogateescape")
    page = page_of([Entry(name=name, caption="c")])
    assert "caf\ufffd.png" in page


def test_the_thumbnails_alt_is_its_caption_and_cards_say_what_they_hold() -> None:
    page = page_of(
        [
            Entry(
                name="a.png",
                caption="A red fox",
                keywords=["fox", "snow"],
                model="kimi-k2.6",
                tokens=1234,
                cost=0.0021,
                currency="USD",
            ),
            Entry(name="b.png", caption="", error_code="content_filter", error="refused", model="kimi-k2.6"),
        ]
    )
    ok, failed = cards(page)
    assert 'alt="A red fox"' in ok and '<p class="caption">A red fox</p>' in ok
    assert "<li>fox</li><li>snow</li>" in ok and "<dd>1,234</dd>" in ok and "<dd>USD 0.0021</dd>" in ok
    assert 'class="card failed"' in failed and "<code>content_filter</code> refused" in failed
    failures = page.split('<ol class="failures">')[1].split("</ol>")[0]
    assert '<a href="#card-2">b.png</a>' in failures and "refused" in failures


def test_totals_count_inputs_done_failed_tokens_and_spend() -> None:
    page = page_of(
        [
            Entry(name="a", caption="x", tokens=100, cost=0.5, currency="USD"),
            Entry(name="b", caption="y", tokens=50, cost=0.25, currency="USD"),
            Entry(name="c", error="boom", tokens=10),  # a truncated answer still used tokens
            Entry(name="d", error="not started"),
        ]
    )
    assert totals(page) == {"inputs": "4", "done": "2", "failed": "2", "tokens": "160",
                            "spend": "USD 0.75 + 1 unpriced"}  # fmt: skip


def test_a_placeholder_says_why_there_is_no_picture() -> None:
    page = page_of([Entry(name="a.png", caption="c")], thumbs=lambda e: Thumb(None, why="file not found"))
    (card,) = cards(page)
    assert "<img" not in card
    assert 'role="img" aria-label="No picture: file not found"' in card


def test_the_page_loads_nothing_and_runs_only_its_own_script() -> None:
    page = page_of([Entry(name="a.png", caption="c")])
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None and "default-src 'none'" in csp.group(1) and "img-src data:" in csp.group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp.group(1)  # else the browser would refuse it
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp.group(1)
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_thumbnails_are_made_one_at_a_time_as_the_page_is_written() -> None:
    """Each thumbnail is written out before the next is made: the builder never holds two."""
    out = io.BytesIO()
    asked: list[str] = []

    def thumbs(entry: Entry) -> Thumb:
        if asked:  # the previous one is already in the page
            assert base64.b64encode(asked[-1].encode()).decode() in out.getvalue().decode()
        asked.append(entry.name)
        return Thumb(entry.name.encode(), 1, 1)

    write_page(out, [Entry(name=f"n{i}", caption="c") for i in range(5)], thumbs=thumbs, title="t", made="m")
    assert asked == [f"n{i}" for i in range(5)]


# -- thumbnails ---------------------------------------------------------------------------


def test_a_big_jpeg_becomes_a_small_one(tmp_path: Path) -> None:
    photo = write_image(tmp_path / "big.jpg", 4000, 3000, "JPEG")
    thumb = thumbnail(str(photo))
    assert thumb.jpeg is not None and (thumb.width, thumb.height) == (SIZE, 240)
    assert len(thumb.jpeg) < 30_000
    with Image.open(io.BytesIO(thumb.jpeg)) as img:
        assert img.format == "JPEG" and img.size == (SIZE, 240)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    from tests.media import jpeg_with_exif

    (tmp_path / "turned.jpg").write_bytes(jpeg_with_exif(64, 48, orientation=6))
    thumb = thumbnail(str(tmp_path / "turned.jpg"))
    assert (thumb.width, thumb.height) == (48, 64)


def test_a_video_gives_a_frame(tmp_path: Path) -> None:
    pytest.importorskip("av")
    (tmp_path / "clip.mp4").write_bytes(video_bytes(64, 48, frames=10))
    thumb = thumbnail(str(tmp_path / "clip.mp4"))
    assert thumb.jpeg is not None and thumb.kind == "video" and (thumb.width, thumb.height) == (64, 48)


def test_files_without_a_picture_say_why(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    assert thumbnail(str(tmp_path / "missing.png")).why == "file not found"
    assert thumbnail(str(tmp_path / "empty.png")).why == "the file is empty"
    assert thumbnail(str(tmp_path / "notes.png")).why == "not an image this tool can show"
    assert thumbnail(str(tmp_path)).why == "a directory, not a file"


# -- the command: sources ---------------------------------------------------------------------


def record(name: str, text: str = "", error: dict | None = None, **kw: object) -> dict:  # type: ignore[type-arg]
    rec = {"input": name, "model": "kimi-k2.6", "text": text, "reasoning": None, "finish_reason": "stop",
           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
           "cost": {"currency": "USD", "amount": 0.001}, "media": [], "error": error}  # fmt: skip
    rec.update(kw)
    return rec


def read_page(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_report_of_describe_jsonl_run(kv, fake, tmp_path: Path) -> None:
    """A real run's records: one card per input, the failure apart, the picture found."""
    write_image(tmp_path / "a.png", 40, 30)
    write_image(tmp_path / "b.jpg", 30, 40, "JPEG")
    run = kv("describe", "a.png", "b.jpg", "gone.png", "--format", "jsonl")
    assert run.returncode == 2
    (tmp_path / "run.jsonl").write_text(run.stdout)
    rep = kv("report", "run.jsonl", "-o", "report.html")
    assert rep.returncode == 0, rep.stderr
    assert rep.stdout == ""
    assert "wrote report.html: 3 inputs, 2 done, 1 failed" in rep.stderr
    page = read_page(tmp_path / "report.html")
    by_name = {re.search(r'class="name"[^>]*>([^<]*)<', c).group(1): c for c in cards(page)}  # type: ignore[union-attr]
    a, b, gone = by_name["a.png"], by_name["b.jpg"], by_name["gone.png"]  # in the order they ended
    assert "a 40x30 image/png image" in a and "data:image/jpeg;base64," in a
    assert 'width="30" height="40"' in b
    assert "card failed" in gone and "<code>bad_input</code> no such file" in gone
    assert totals(page)["inputs"] == "3" and totals(page)["failed"] == "1"


def test_report_of_a_json_array_and_of_stdin(kv, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    recs = [record("a.png", "first"), record("b.png", "second")]
    (tmp_path / "run.json").write_text(json.dumps(recs, indent=2))
    assert kv("report", "run.json", "-o", "r1.html").returncode == 0
    assert len(cards(read_page(tmp_path / "r1.html"))) == 2
    lines = "\n".join(json.dumps(r) for r in recs).encode()
    assert kv("report", "-", "-o", "r2.html", input=lines).returncode == 0
    assert len(cards(read_page(tmp_path / "r2.html"))) == 2


def test_report_of_manifests_finds_files_beside_the_manifest(kv, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    write_image(data / "img" / "a.png")
    (data / "metadata.jsonl").write_text(
        json.dumps({"file_name": "img/a.png", "text": "a cat", "tags": ["cat", "sofa"]}) + "\n"
    )
    (data / "metadata.csv").write_text('file_name,text\nimg/a.png,"a cat, asleep"\nimg/b.png,gone\n')
    for manifest, n in (("data/metadata.jsonl", 1), ("data/metadata.csv", 2)):
        run = kv("report", manifest, "-o", "r.html")
        assert run.returncode == 0, run.stderr
        found = cards(read_page(tmp_path / "r.html"))
        assert len(found) == n and "data:image/jpeg" in found[0]  # found from the manifest's directory
    assert "a cat, asleep" in found[0] and "No picture: file not found" in found[1]
    kv("report", "data/metadata.jsonl", "-o", "r.html")
    assert "<li>cat</li><li>sofa</li>" in read_page(tmp_path / "r.html")


def test_report_of_a_directory_of_json_sidecars(kv, fake, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.png", 20, 20)
    write_image(photos / "b.png", 30, 20)
    (photos / "other.json").write_text('{"not": "a sidecar"}')
    assert kv("describe", "-r", "photos", "--sidecar", "json").returncode == 0
    run = kv("report", "photos", "-o", "r.html")
    assert run.returncode == 0, run.stderr
    assert "skipped 1 JSON files that are not kimi-vision sidecars" in run.stderr
    found = cards(read_page(tmp_path / "r.html"))
    assert len(found) == 2 and all("data:image/jpeg" in c for c in found)
    assert "a 20x20 image/png image" in found[0]


def test_an_input_met_twice_shows_its_last_record(kv, tmp_path: Path) -> None:
    failed = record("a.png", error={"code": "temporary", "message": "a.png: overloaded"})
    lines = [failed, record("b.png", "b"), record("a.png", "second try")]
    (tmp_path / "run.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    kv("report", "run.jsonl", "-o", "r.html")
    a, b = cards(read_page(tmp_path / "r.html"))
    assert "second try" in a and "card ok" in a and "b.png" in b


def test_a_bad_line_is_named_and_the_rest_reported(kv, tmp_path: Path) -> None:
    text = json.dumps(record("a.png", "fine")) + '\n{"input": "b.png", "te\n[1, 2]\n'
    (tmp_path / "run.jsonl").write_text(text)
    run = kv("report", "run.jsonl", "-o", "r.html")
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert errors == [
        "kimi-vision: error: run.jsonl: line 2: is not a JSON object — pass a describe --format jsonl/json "
        "output, a --manifest file or a directory of --sidecar json files",
        "kimi-vision: error: run.jsonl: line 3: is not a record (no input) nor a manifest row (no file_name)",
    ]
    assert len(cards(read_page(tmp_path / "r.html"))) == 1


def test_a_file_that_is_not_records_is_one_line_not_one_a_line(kv, tmp_path: Path) -> None:
    (tmp_path / "nums.txt").write_text("".join(f"{n}x\n" for n in range(50)))
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    run = kv("report", "nums.txt", "run.jsonl", "-o", "r.html")
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert errors == [
        "kimi-vision: error: nums.txt: is not a records file (line 1 is not JSON) — pass a describe "
        "--format jsonl/json output, a --manifest file or a directory of --sidecar json files"
    ]
    assert len(cards(read_page(tmp_path / "r.html"))) == 1


def test_a_source_that_cannot_be_read_is_one_line_exit_2_and_the_others_go_on(kv, tmp_path: Path) -> None:
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    run = kv("report", "missing.jsonl", "run.jsonl", "-o", "r.html")
    assert run.returncode == 2
    assert "kimi-vision: error: missing.jsonl: cannot read it: No such file or directory" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(cards(read_page(tmp_path / "r.html"))) == 1


def test_nothing_read_writes_nothing_and_keeps_the_old_page(kv, tmp_path: Path) -> None:
    (tmp_path / "r.html").write_text("old page")
    run = kv("report", "missing.jsonl", "-o", "r.html")
    assert run.returncode == 2
    assert "nothing to report" in run.stderr
    assert (tmp_path / "r.html").read_text() == "old page"


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("run.jsonl", "-o run.jsonl: the report is an HTML page — name it FILE.html"),
        ("photo.jpg", "the report is an HTML page"),
        ("dir.html", "-o dir.html is a directory"),
        ("run.jsonl/r.html", "is not a directory"),
    ],
)
def test_an_output_that_cannot_be_the_page_is_refused_before_reading(
    kv, tmp_path: Path, target: str, says: str
) -> None:
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    (tmp_path / "photo.jpg").write_bytes(b"photo")
    (tmp_path / "dir.html").mkdir()
    run = kv("report", "run.jsonl", "-o", target)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and says in run.stderr
    assert (tmp_path / "run.jsonl").read_text() == json.dumps(record("a.png", "fine"))  # untouched
    assert (tmp_path / "photo.jpg").read_bytes() == b"photo"


def test_a_missing_directory_is_refused_not_made(kv, fake, tmp_path: Path) -> None:
    """-o and --report name a file: a slip in its directory is one line and exit 2, and no
    directory appears (as for a manifest's; only --output-dir is made)."""
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    run = kv("report", "run.jsonl", "-o", "missing/dir/x.html")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert run.stderr == (
        "kimi-vision: error: -o missing/dir/x.html: the directory missing/dir does not exist "
        "— create it first (mkdir -p missing/dir) or pick another place\n"
    )
    assert not (tmp_path / "missing").exists()
    write_image(tmp_path / "a.png")
    run = kv("describe", "a.png", "--report", "gone/run.html")
    assert run.returncode == 2 and "--report gone/run.html: the directory gone does not exist" in run.stderr
    assert fake.chat_requests == [] and not (tmp_path / "gone").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_directory_that_cannot_take_the_page_is_refused_before_reading(kv, fake, tmp_path: Path) -> None:
    """/proc lets root pass access(2) but makes no file: the page once failed at the end,
    after every source was read, with "check the disk". Now it is tried up front, and is
    what an --output-dir or --manifest that cannot be written is: one line, exit 1."""
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    run = kv("report", "missing.jsonl", "run.jsonl", "-o", "/proc/x.html")
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith("kimi-vision: error: -o /proc/x.html: /proc cannot be written (")
    assert run.stderr.endswith(" — check its permissions (or pick another place)\n")
    assert run.stderr.count("\n") == 1 and "missing.jsonl" not in run.stderr  # nothing was read
    write_image(tmp_path / "a.png")
    run = kv("describe", "a.png", "--report", "/proc/run.html")
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert "--report /proc/run.html: /proc cannot be written (" in run.stderr
    assert fake.chat_requests == []
    run = kv("report", "run.jsonl", "-o", "r.html")  # a directory that can: the try leaves nothing
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "r.html", "run.jsonl"]


def test_the_summary_counts_one_input_in_the_singular(kv, tmp_path: Path) -> None:
    (tmp_path / "run.jsonl").write_text(json.dumps(record("a.png", "fine")))
    run = kv("report", "run.jsonl", "-o", "r.html")
    assert "wrote r.html: 1 input, 1 done, 0 failed" in run.stderr
    assert [counted(n, w) for n, w in ((0, "input"), (1, "batch"), (2, "batch"), (1234, "request"))] == [
        "0 inputs", "1 batch", "2 batches", "1,234 requests"
    ]  # fmt: skip


def test_no_output_named_is_a_usage_error(kv, tmp_path: Path) -> None:
    run = kv("report", "run.jsonl")
    assert run.returncode == 2 and "pass -o FILE.html" in run.stderr


def test_a_failed_write_leaves_the_old_page_and_no_temp_file(tmp_path: Path) -> None:
    from kimi_vision_cli.output.report import write_report

    target = tmp_path / "r.html"
    target.write_text("old page")

    def thumbs(entry: Entry) -> Thumb:
        if entry.name == "b":
            raise OSError(28, "No space left on device")
        return Thumb(None, why="x")

    from kimi_vision_cli.errors import OutputError

    with pytest.raises(OutputError, match=r"cannot write the report .*No space left on device"):
        write_report(target, [Entry(name="a"), Entry(name="b")], thumbs=thumbs)
    assert target.read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_the_page_follows_the_umask(tmp_path: Path) -> None:
    import os

    from kimi_vision_cli.output.report import write_report

    old = os.umask(0o027)
    try:
        write_report(tmp_path / "r.html", [Entry(name="a")], thumbs=lambda e: Thumb(None, why="x"))
    finally:
        os.umask(old)
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o640


# -- describe --report ----------------------------------------------------------------------


def test_describe_report_writes_the_runs_page(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 40, 30)
    fake.state.answers.append(EVIL)
    (tmp_path / "out").mkdir()  # a page's directory is not made (only --output-dir is)
    run = kv("describe", "a.png", "gone.png", "--report", "out/run.html")
    assert run.returncode == 2  # gone.png; the page is written all the same
    assert "wrote out/run.html: 2 inputs, 1 done, 1 failed, spend USD " in run.stderr
    page = read_page(tmp_path / "out" / "run.html")
    a, gone = cards(page)
    assert page.count("<script") == 1 and "&lt;script&gt;" in a and "data:image/jpeg" in a
    assert "card failed" in gone and "<code>bad_input</code> no such file" in gone
    assert totals(page)["spend"].startswith("USD ")


def test_describe_report_after_a_run_stopped_by_auth_lists_every_input(kv, fake, tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    fake.inject(Fault(status=401, type="invalid_authentication_error", message="Invalid Authentication"))
    run = kv("describe", "a.png", "b.png", "c.png", "-j", "1", "--report", "run.html")
    assert run.returncode == 3
    found = cards(read_page(tmp_path / "run.html"))
    assert len(found) == 3 and all("card failed" in c for c in found)
    assert "not_started" in found[2]


def test_describe_report_path_is_checked_before_any_request(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    run = kv("describe", "a.png", "--report", "run.txt")
    assert run.returncode == 2 and "--report run.txt: the report is an HTML page" in run.stderr
    assert fake.chat_requests == []


def test_describe_dry_run_writes_no_report(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    run = kv("describe", "a.png", "--dry-run", "--report", "run.html")
    assert run.returncode == 0 and "dry run: no report written to run.html" in run.stderr
    assert not (tmp_path / "run.html").exists()


def test_report_help_imports_no_image_library() -> None:
    """--help stays light (STYLE rule 10): Pillow and the page builder load with a run only."""
    import subprocess
    import sys

    code = (
        "import sys; from kimi_vision_cli.cli.main import run; run(['report', '--help']);"
        "print([m for m in ('PIL', 'av', 'kimi_vision_cli.output.report') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "SOURCE..." in out
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.process
def test_describe_report_after_ctrl_c_has_every_input(env, fake, tmp_path: Path) -> None:
    """The first Ctrl-C lets the run end cleanly (exit 130), and its page still has one card
    per input: those cut short or never started say `interrupted`."""
    from tests.conftest import installed_command
    from tests.test_batch import _interrupted

    names = [write_image(tmp_path / f"p{i}.png").name for i in range(6)]
    fake.state.latency = 2.0
    cmd = [*installed_command(), "describe", "-j", "2", "--report", "run.html", *names]
    code, _, err = _interrupted(cmd, env, tmp_path, lambda: len(fake.chat_requests) >= 2)
    assert code == 130, err
    assert "wrote run.html: 6 inputs, 0 done, 6 failed" in err.decode()
    found = cards(read_page(tmp_path / "run.html"))
    assert len(found) == 6 and all("<code>interrupted</code>" in c for c in found)
