"""`--sidecar xmp` through ExifTool (output/xmp.py): other programs' sidecars are merged
into, never clobbered (issue 19 item 1); the fields are those of --embed (issue 22 item 2).
ExifTool itself reads every result back."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kimi_vision_cli.output import xmp
from kimi_vision_cli.output.exiftool import ExifTool
from kimi_vision_cli.provenance import Provenance
from tests.media import write_image

EXIFTOOL = shutil.which("exiftool")
pytestmark = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool is not installed (`make install` installs it)"
)

SCHEMA = "alt_text, tags: list"
DARKTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:foo="http://example.com/foo/1.0/"
   xmp:Rating="3"
   darktable:xmp_version="5"
   foo:Secret="a property no program knows">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@functools.cache
def _exiftool() -> ExifTool:
    """The tests' own ExifTool process (not the one under test): a process per read would
    cost the suite about half a second each."""
    assert EXIFTOOL
    tool = ExifTool(EXIFTOOL)
    atexit.register(tool.close)
    return tool


def exiftool_tags(path: Path, *tags: str) -> dict[str, Any]:
    """What ExifTool reads in `path` (-G1 names when no tags are named)."""
    reply = _exiftool().execute(["-j", "-a", "-G1", "-struct", *tags, str(path.absolute())])
    return json.loads(reply.out)[0]  # type: ignore[no-any-return]


def exiftool_write(path: Path, *assignments: str) -> None:
    reply = _exiftool().execute(["-overwrite_original", *assignments, str(path.absolute())])
    assert "1 image files updated" in reply.out, reply


def test_a_sidecar_another_program_wrote_keeps_its_rating_keywords_and_mode(kv, fake, tmp_path: Path) -> None:
    """The issue's test: a sidecar written by ExifTool with a rating and keywords (and
    darktable's history, and a namespace nobody knows); describe --sidecar xmp; ExifTool
    reads back caption, rating and keywords."""
    write_image(tmp_path / "photo.jpg", 40, 30, "JPEG")
    sidecar = tmp_path / "photo.jpg.xmp"
    sidecar.write_text(DARKTABLE)
    exiftool_write(sidecar, "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=beach", "-XMP-xmp:Rating=4")
    os.chmod(sidecar, 0o664)

    r = kv("describe", "photo.jpg", "--sidecar", "xmp", "--schema", SCHEMA)
    assert r.returncode == 0, r.all
    caption = json.loads(r.stdout)["alt_text"]
    tags = exiftool_tags(sidecar)
    assert tags["XMP-dc:Description"] == caption
    assert tags["XMP-iptcCore:AltTextAccessibility"] == caption
    assert tags["XMP-iptcCore:ExtDescrAccessibility"] == caption
    assert tags["XMP-xmp:Rating"] == 4
    assert tags["XMP-dc:Subject"] == ["holiday", "beach", "a", "40x30", "image/jpeg"]
    assert tags["XMP-foo:Secret"] == "a property no program knows"
    assert tags["XMP-darktable:History"] == [{"Enabled": 1, "Operation": "exposure", "Params": "0000"}]
    assert tags["XMP-kimivision:Model"] == "kimi-k2.6"
    assert tags["XMP-kimivision:PromptHash"].startswith("sha256:")
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg", "photo.jpg.xmp"]  # no temp file left


def test_a_foreign_sidecar_is_not_taken_for_a_caption_but_ours_is(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    sidecar = tmp_path / "a.png.xmp"
    sidecar.write_text(DARKTABLE)
    assert xmp.xmp_provenance(sidecar) is None
    first = kv("describe", "a.png", "--sidecar", "xmp")
    assert first.returncode == 0 and len(fake.chat_requests) == 1, first.all
    assert xmp.xmp_provenance(sidecar) == Provenance(
        "kimi-k2.6", exiftool_tags(sidecar)["XMP-kimivision:PromptHash"]
    )
    again = kv("describe", "a.png", "--sidecar", "xmp")
    assert again.returncode == 0 and len(fake.chat_requests) == 1, again.all  # resumed: ours is there
    assert "skipped" in again.stderr


def test_a_file_that_is_not_xmp_is_refused_before_the_request_and_left_alone(
    kv, fake, tmp_path: Path
) -> None:
    for name, body in (
        ("a.png", b"not xml at all\n"),
        ("b.png", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"),
    ):
        write_image(tmp_path / name, 20, 10)
        (tmp_path / f"{name}.xmp").write_bytes(body)
    write_image(tmp_path / "c.png", 20, 10)
    write_image(tmp_path / "c.png.xmp", 8, 8, "JPEG")  # a JPEG by the name of a sidecar
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = kv("describe", "a.png", "b.png", "c.png", "--sidecar", "xmp", "--on-exists", "overwrite")
    assert r.returncode == 2, r.all
    assert fake.chat_requests == []  # nothing paid for
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 3, r.stderr
    assert all("is not valid XMP" in line and "left as it is" in line for line in errors), errors
    assert "Traceback" not in r.all
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_caption_another_program_wrote_is_kept_unless_overwrite(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    sidecar = tmp_path / "a.png.xmp"
    sidecar.write_text(DARKTABLE)
    exiftool_write(sidecar, "-XMP-dc:Description=My own words, from Lightroom")
    r = kv("describe", "a.png", "--sidecar", "xmp")
    assert r.returncode == 2 and fake.chat_requests == [], r.all
    assert "already holds a caption another program wrote" in r.stderr and "--on-exists overwrite" in r.stderr
    assert exiftool_tags(sidecar)["XMP-dc:Description"] == "My own words, from Lightroom"
    r = kv("describe", "a.png", "--sidecar", "xmp", "--on-exists", "overwrite")
    assert r.returncode == 0, r.all
    tags = exiftool_tags(sidecar)
    assert tags["XMP-dc:Description"] == r.stdout.strip() and tags["XMP-xmp:Rating"] == 3


def test_a_new_sidecar_is_valid_xmp_and_follows_the_umask(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    old = os.umask(0o022)
    try:
        r = kv("describe", "a.png", "--sidecar", "xmp")
    finally:
        os.umask(old)
    assert r.returncode == 0, r.all
    sidecar = tmp_path / "a.png.xmp"
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o644
    assert exiftool_tags(sidecar, "-XMP-dc:Description")["XMP-dc:Description"] == r.stdout.strip()
    check = subprocess.run(
        [str(EXIFTOOL), "-validate", "-warning", "-a", str(sidecar)], capture_output=True, text=True
    )
    assert "Validate                        : OK" in check.stdout, check.stdout


@pytest.mark.parametrize(
    "text",
    [
        'Ein "Hund" & <Katze>, 日本 — ok',
        "back\\slash \\n not a newline, $HOME @list #hash",
        "line 1\r\nline 2\ttab \x00\x07\x1b[31m red\udcff \ufffe end",
        "  leading spaces and = signs = kept inside",
    ],
)
def test_any_text_reaches_the_file_as_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "#odd name é.png.xmp"
    xmp.write_sidecar(path, text, {"tags": ["a&b", "<tag>", "x\\y"]}, None, input="x")
    tags = exiftool_tags(path)
    assert tags["XMP-dc:Description"] == xmp.clean_text(text)
    assert "\x1b" not in tags["XMP-dc:Description"] and "\x00" not in tags["XMP-dc:Description"]
    assert tags["XMP-dc:Subject"] == ["a&b", "<tag>", "x\\y"]


def test_a_name_with_a_line_break_is_refused_in_one_line(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a\nb.png", 20, 10)
    r = kv("describe", "a\nb.png", "--sidecar", "xmp")
    assert r.returncode == 2 and fake.chat_requests == [], r.all
    assert "line break" in r.stderr and "Traceback" not in r.all


def test_xmp_provenance_tells_ours_from_others(tmp_path: Path) -> None:
    path = tmp_path / "a.xmp"
    assert xmp.xmp_provenance(path) is None  # no file
    path.write_text("not xml")
    assert xmp.xmp_provenance(path) is None
    path.write_text(DARKTABLE)
    assert xmp.xmp_provenance(path) is None  # another program's, no caption
    exiftool_write(path, "-XMP-dc:Description=theirs")
    assert xmp.xmp_provenance(path) is None  # another program's caption
    xmp.write_sidecar(path, "ours", None, Provenance("kimi-k3", "sha256:0123456789abcdef"), input="x")
    assert xmp.xmp_provenance(path) == Provenance("kimi-k3", "sha256:0123456789abcdef")
    xmp.write_sidecar(path, "ours again", None, None, input="x")
    assert xmp.xmp_provenance(path) == Provenance("", "")  # ours, made we cannot tell how
    old = tmp_path / "old.xmp"  # what versions before ExifTool wrote
    old.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="kimi-vision 0.1.0"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">a caption</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert xmp.xmp_provenance(old) == Provenance("", "")


def test_without_exiftool_nothing_is_sent(kv, fake, tmp_path: Path, monkeypatch) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    (tmp_path / "empty-path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # shutil.which reads os.environ
    r = kv("describe", "a.png", "--sidecar", "xmp")
    assert r.returncode == 2 and fake.chat_requests == [], r.all
    assert "needs ExifTool" in r.stderr and "libimage-exiftool-perl" in r.stderr


# -- the fields, without ExifTool -----------------------------------------------------


def test_alt_text_is_cut_at_a_sentence_within_250_characters() -> None:
    short = "A cat. On a mat."
    assert xmp.alt_text(short) == short
    long = "A red kite flies over a green hill. " * 10
    cut = xmp.alt_text(long)
    assert len(cut) <= 250 and cut.endswith("hill.") and long.startswith(cut)
    words = "word " * 80
    cut = xmp.alt_text(words)
    assert len(cut) <= 250 and cut.endswith("word\u2026")
    fields = xmp.fields_of(
        "ignored", {"alt_text": "short one", "caption": "the caption", "tags": ["x"]}, None
    )
    assert (fields.description, fields.alt_text, fields.extended, fields.keywords) == (
        "the caption", "short one", "the caption", ("x",),
    )  # fmt: skip


def test_a_full_disk_stops_the_run_after_the_first_answer(kv, fake, tmp_path: Path, monkeypatch) -> None:
    """ExifTool says only "Error creating file" on a full disk: the file system is asked,
    and the run stops as it does for any sidecar (no answer paid for that cannot be kept)."""
    from kimi_vision_cli.output.exiftool import ExifTool as Driver
    from kimi_vision_cli.output.exiftool import Reply

    real_execute, real_statvfs = Driver.execute, os.statvfs

    def full(self: Driver, args: list[str | bytes]) -> Reply:
        if "-o" in args:
            return Reply("    0 image files updated\n", "Error: Error creating file - x.xmp\n")
        return real_execute(self, args)

    class Full:
        def __init__(self, real: os.statvfs_result) -> None:
            self.f_flag, self.f_bavail = real.f_flag, 0

    monkeypatch.setattr(Driver, "execute", full)
    monkeypatch.setattr(os, "statvfs", lambda p: Full(real_statvfs(p)))
    names = [write_image(tmp_path / f"i{n}.png", 8 + n, 6).name for n in range(4)]
    r = kv("describe", "-j", "1", "--sidecar", "xmp", *names)
    assert r.returncode == 1, r.all
    assert len(fake.chat_requests) == 1 and "No space left on device" in r.stderr
    assert not list(tmp_path.glob("*.xmp")) and not list(tmp_path.glob(".kimi-vision-*"))


def test_one_exiftool_process_serves_every_command_and_odd_names(tmp_path: Path) -> None:
    """The -stay_open driver: commands in a row on one process, their stdout and stderr
    apart, names with `#`, leading spaces and bytes that are not UTF-8."""
    assert EXIFTOOL
    tool = ExifTool(EXIFTOOL)
    try:
        names = [
            tmp_path / "#hash.png",
            tmp_path / "  spaces.png",
            Path(os.fsdecode(bytes(tmp_path) + b"/\xff.png")),
        ]
        for path in names:
            write_image(path, 12, 8)
            arg = xmp.exiftool.file_arg(path, input="x")
            reply = tool.execute(["-j", "-G1", "-File:FileType", arg])
            assert json.loads(reply.out)[0]["File:FileType"] == "PNG" and reply.err == ""
        missing = tool.execute(["-j", str(tmp_path / "nope.png")])
        assert missing.errors() and "File not found" in missing.errors()[0]
        pid = tool._proc.pid if tool._proc else None
        assert tool.execute(["-ver"]).out.strip() and tool._proc is not None and tool._proc.pid == pid
    finally:
        tool.close()
    assert tool._proc is None


@pytest.mark.parametrize("where", ["--sidecar xmp", "--embed"])
def test_a_changed_prompt_is_stale_in_xmp_and_on_exists_stale_redoes_it(
    kv, fake, tmp_path: Path, where: str
) -> None:
    """Resume from the files alone (issues 19.5, 22.1): the XMP records what made the
    caption, so another prompt is counted as stale, and `--on-exists stale` redoes it."""
    write_image(tmp_path / "a.png", 40, 30)
    target = tmp_path / ("a.png.xmp" if where == "--sidecar xmp" else "a.png")
    first = kv("describe", "a.png", *where.split(), "-p", "One.")
    assert first.returncode == 0 and len(fake.chat_requests) == 1, first.all
    made = xmp.xmp_provenance(target)
    assert made is not None and made.model == "kimi-k2.6"
    kept = kv("describe", "a.png", *where.split(), "-p", "Two.")
    assert kept.returncode == 0 and len(fake.chat_requests) == 1, kept.all
    assert "on-exists stale" in kept.stderr
    redone = kv("describe", "a.png", *where.split(), "-p", "Two.", "--on-exists", "stale")
    assert redone.returncode == 0 and len(fake.chat_requests) == 2, redone.all
    now = xmp.xmp_provenance(target)
    assert now is not None and now.prompt_hash != made.prompt_hash


@pytest.mark.parametrize("where", [("--sidecar", "xmp"), ("--embed",)], ids=["sidecar", "embed"])
def test_a_missing_row_is_taken_from_our_xmp_caption_not_paid_again(
    kv, fake, tmp_path: Path, where: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    """Audit of issue 19.5: with the caption in an XMP sidecar (or embedded) and no
    manifest row, the input was described and paid for again, and the row got a caption
    the kept XMP did not hold. The row is now the XMP's caption, with its provenance."""
    write_image(tmp_path / "a.jpg", fmt="JPEG")
    asked = ("describe", "a.jpg", *where, "--manifest", "m.jsonl", "-p", "One line.")
    assert kv(*asked).returncode == 0
    (first,) = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    (tmp_path / "m.jsonl").unlink()
    chats = len(fake.chat_requests)
    r = kv(*asked)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == chats  # nothing asked again
    (row,) = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert row == first
    holder = tmp_path / ("a.jpg.xmp" if where[0] == "--sidecar" else "a.jpg")
    assert exiftool_tags(holder, "-XMP-dc:Description")["XMP-dc:Description"] == row["text"]


@pytest.mark.parametrize("embed", [False, True])
def test_done_and_write_read_our_xmp_once_per_input(tmp_path: Path, monkeypatch, embed: bool) -> None:
    """What made the caption in an XMP sidecar or the photo itself is read by done() when
    it picks the input and reused by write(): xmp._read's cache spared the second ExifTool
    read only while the file stayed among its last 256 (not so at -j 256)."""
    from kimi_vision_cli.output.embed import Embed
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.output.writers import Writers
    from kimi_vision_cli.types import Source

    photo = write_image(tmp_path / "a.jpg", 20, 10, "JPEG")
    read: list[Path] = []
    real = xmp.xmp_provenance
    monkeypatch.setattr(xmp, "xmp_provenance", lambda path: read.append(path) or real(path))
    made = Provenance("kimi-k2.6", "sha256:0123456789abcdef")
    w = Writers(provenance=made, embed=Embed()) if embed else Writers(SidecarSpec("xmp"), provenance=made)
    source = Source("path", str(photo))
    assert not w.done(source)
    w.write(source, Result(input="a.jpg", model="kimi-k2.6", text="a caption"))
    w.close()
    assert read == [photo if embed else tmp_path / "a.jpg.xmp"]
    assert xmp.xmp_provenance(photo if embed else tmp_path / "a.jpg.xmp") == made  # written


def _in_group(pgid: int) -> list[tuple[int, str, str]]:
    """The processes of group `pgid` that still run, as (pid, name, command line) (a
    zombie has ended: it waits only for a parent to reap it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            name = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # not a process, or gone meanwhile
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append((int(entry.name), name, cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def _alive_in_group(pgid: int) -> list[str]:
    return [cmdline for _, _, cmdline in _in_group(pgid)]


def _exiftool_pid(tool: ExifTool) -> int:
    """The ExifTool process itself (not the relay before it): its own session's group."""
    assert tool._proc is not None
    (pid,) = [pid for pid, name, _ in _in_group(tool._proc.pid) if name == "exiftool"]
    return pid


def _all_end(groups: list[int], within: float = 10) -> list[str]:
    """Waits (`within` seconds at most) for these groups' processes to end; what still runs, killed."""
    import signal
    import time

    deadline = time.monotonic() + within
    while (
        left := [cmd for group in groups for cmd in _alive_in_group(group)]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    for group in groups:
        if _in_group(group):  # still in use, so the id is no one else's
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # not left behind by a failed test either
    return left


@pytest.mark.process
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in Linux's /proc")
def test_a_command_fails_at_once_when_exiftool_dies_on_it_and_the_next_starts_another() -> None:
    """ExifTool killed while it works on a command (the OOM killer, a crash): that command
    fails with OSError within seconds; it must not wait for ever (holding the lock every
    writer waits for). The next command runs on a new ExifTool; nothing is left running."""
    import signal
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Pending

    tool = ExifTool(str(EXIFTOOL))
    assert tool.execute(["-ver"]).out.strip() and tool._proc is not None
    groups = [tool._proc.pid]
    try:
        pid = _exiftool_pid(tool)
        os.kill(pid, signal.SIGSTOP)  # the command below is sent, never answered
        with ThreadPoolExecutor(1) as pool:
            command = pool.submit(tool.execute, ["-ver"])
            with contextlib.suppress(Pending):
                command.result(timeout=0.3)  # under way
            os.kill(pid, signal.SIGKILL)
            try:
                failed = command.exception(timeout=5)
            except Pending:
                os.killpg(groups[0], signal.SIGKILL)  # frees the thread, for the pool to end
                pytest.fail("a command whose ExifTool died waited for ever")
        assert isinstance(failed, OSError) and "ExifTool stopped" in str(failed)
        _answers_on_a_new_process(tool, groups)
    finally:
        tool.close()
    assert _all_end(groups) == []


def _answers_on_a_new_process(tool: ExifTool, groups: list[int]) -> None:
    """The next command is answered, by an ExifTool (a relay) not in `groups`; it is added."""
    assert tool.execute(["-ver"]).out.strip() and tool._proc is not None
    assert tool._proc.pid not in groups  # a new one
    groups.append(tool._proc.pid)


@pytest.mark.process
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in Linux's /proc")
def test_an_exiftool_that_died_between_commands_is_replaced_unseen() -> None:
    """ExifTool killed while idle: its relay ends with it, so the next command is run by a
    new ExifTool instead of failing; nothing of the old one is left running."""
    import signal

    tool = ExifTool(str(EXIFTOOL))
    assert tool.execute(["-ver"]).out.strip() and tool._proc is not None
    first = tool._proc
    groups = [first.pid]
    try:
        os.kill(_exiftool_pid(tool), signal.SIGKILL)
        first.wait(timeout=5)  # the relay (what poll() sees) ends with ExifTool
        _answers_on_a_new_process(tool, groups)
    finally:
        tool.close()
    assert _all_end(groups) == []


@pytest.mark.process
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in Linux's /proc")
def test_the_exiftool_session_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """ExifTool under -stay_open polls its argument file past its end, so a parent that
    died (a killed pytest) once left it running for 90 minutes. SIGKILL gives the parent
    no chance to end it: the session must end by itself."""
    import signal
    import sys

    code = (
        "import sys, time\n"
        "from kimi_vision_cli.output.exiftool import ExifTool\n"
        "tool = ExifTool(sys.argv[1])\n"
        "assert tool.execute(['-ver']).out.strip()\n"
        "print(tool._proc.pid, flush=True)\n"  # its own session: the process group's id
        "time.sleep(120)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(EXIFTOOL)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        group = int(child.stdout.readline())
        assert any("-stay_open True" in cmd for cmd in _alive_in_group(group))  # the check can fail
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _all_end([group], within=15) == []
