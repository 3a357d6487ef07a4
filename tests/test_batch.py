"""Issue 5 (batch captioning at scale) and issue 6's Ctrl-C bullet, through the
installed command against the loopback server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_vision_cli import events as ev
from kimi_vision_cli.flows import describe
from kimi_vision_cli.inputs.discover import classify
from tests.conftest import installed_command
from tests.fake_moonshot import FakeMoonshot, Fault
from tests.media import write_image
from tests.test_events import _context

RATE_429 = Fault(
    status=429,
    type="rate_limit_reached_error",
    message="your account org-1 request reached max concurrency: 8, please try again after 1 seconds",
)
QUOTA_429 = Fault(
    status=429,
    type="exceeded_current_quota_error",
    message="Your account org-1 is suspended, please check your plan and billing details",
)
# "; 1,234 tokens in, 56 out, 0.0012 USD" follows once anything was answered (issue 13).
SUMMARY = re.compile(r"^kimi-vision: (\d+) done, (\d+) failed, (\d+) skipped in [\d.]+s(?:; .*)?$", re.M)


def _images(root: Path, n: int, sub: str = "") -> list[str]:
    """n small PNGs with distinct sizes (the fake's caption names the size)."""
    (root / sub).mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        rel = str(Path(sub) / f"img{i:03d}.png") if sub else f"img{i:03d}.png"
        write_image(root / rel, 8 + i, 6)
        names.append(rel)
    return names


def _sidecars(root: Path, ext: str = "txt") -> list[Path]:
    return sorted(root.rglob(f"*.png.{ext}"))


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".kimi-vision-")]


def test_24_files_at_j8_keep_6_to_8_requests_in_flight(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 24)
    fake.state.latency = 0.3
    r = kv("describe", "-j", "8", "--format", "jsonl", *names)
    assert r.returncode == 0, r.stderr
    assert 6 <= fake.state.max_in_flight <= 8
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(rec["input"] for rec in recs) == sorted(names)
    for rec in recs:  # each line is the caption of its own input
        width = 8 + int(rec["input"][3:6])
        assert f"a {width}x6 image/png image" in rec["text"]


class _SentWhenFinished(ev.Collect):
    """Keeps, for each Finished event, how many chat requests the server had received."""

    def __init__(self, fake: FakeMoonshot) -> None:
        super().__init__()
        self.fake = fake
        self.sent: list[int] = []

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Finished):
            self.sent.append(len(self.fake.chat_requests))
        super().emit(event)


def test_at_j8_requests_go_out_before_the_first_answer_is_in(env, fake, tmp_path: Path) -> None:
    # The order of events, not a wall clock: sequential sending would have sent one
    # request when the first answer finished; -j 8 has sent several.
    names = [str(tmp_path / n) for n in _images(tmp_path, 16)]
    fake.state.latency = 0.3
    ctx, _ = _context(env, concurrency=8)
    sink = _SentWhenFinished(fake)
    tally = describe.run([classify(n) for n in names], ctx, sink, multi=True)
    assert tally.done == 16
    assert len(sink.sent) == 16 and sink.sent[0] >= 4, sink.sent
    assert sink.sent == sorted(sink.sent) and sink.sent[-1] == 16


def test_rerun_with_sidecars_sends_nothing_and_deleting_5_reruns_5(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 12)
    r = kv("describe", "-j", "4", "--sidecar", "txt", *names)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 12
    side = _sidecars(tmp_path)
    assert [p.name for p in side] == [n + ".txt" for n in sorted(names)]
    assert "a 8x6 image/png image" in (tmp_path / "img000.png.txt").read_text()

    r = kv("describe", "-j", "4", "--sidecar", "txt", *names)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 12  # nothing read, nothing sent
    assert SUMMARY.search(r.stderr).groups() == ("0", "0", "12")  # type: ignore[union-attr]

    gone = names[2:7]
    for n in gone:
        (tmp_path / f"{n}.txt").unlink()
    r = kv("describe", "-j", "4", "--sidecar", "txt", *names)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 17
    assert sorted(re.findall(r"==> (\S+) <==", r.stdout)) == sorted(gone)
    assert len(_sidecars(tmp_path)) == 12

    r = kv("describe", "-j", "4", "--sidecar", "txt", "--on-exists", "overwrite", *names[:3])
    assert r.returncode == 0 and len(fake.chat_requests) == 20


@pytest.mark.parametrize("jobs", [[], ["-j", "1"], ["-j", "4"]])
def test_the_same_input_twice_with_sidecars_is_paid_for_once(
    kv, fake, tmp_path: Path, jobs: list[str]
) -> None:
    """The second copy is skipped as on a rerun, whether the first is still being prepared
    ahead, sent, or written (it used to be sent again, and written twice)."""
    names = _images(tmp_path, 2)
    argv = [names[0], names[1], names[0], names[0], "--manifest", "m.jsonl", "--on-exists", "overwrite"]
    r = kv("describe", *jobs, "--sidecar", "txt", *argv)
    assert r.returncode == 0, r.stderr
    assert len(fake.chat_requests) == 2
    assert SUMMARY.search(r.stderr).groups() == ("2", "0", "2")  # type: ignore[union-attr]
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2
    r = kv("describe", *jobs, names[0], names[0])  # no outputs to write: asked twice, answered twice
    assert r.returncode == 0 and len(fake.chat_requests) == 4


def test_six_rate_limit_429s_lower_concurrency_and_every_caption_arrives(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 16)
    fake.state.latency = 0.05
    fake.inject(*[RATE_429] * 6)
    # the default -j (4): slow start, so the 429s meet one request in flight
    r = kv("describe", "-v", "--sidecar", "json", "--retries", "8", *names)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(p.read_text()) for p in _sidecars(tmp_path, "json")]
    assert sorted(rec["input"] for rec in recs) == sorted(names)
    assert all(rec["error"] is None and rec["finish_reason"] == "stop" for rec in recs)
    assert len(fake.chat_requests) == 16 + 6
    # the 429s came while one request was in flight (slow start): the limit stays at 1
    # until the answers come, then grows back one by one, never past -j
    assert "rate limit: 8 requests at a time" in r.stderr
    assert "steady: concurrency 1 -> 2" in r.stderr


def test_quota_429_stops_the_run_with_exit_3(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 40)
    fake.inject(*[QUOTA_429] * 40)
    r = kv("describe", "-j", "4", "--sidecar", "txt", *names)
    assert r.returncode == 3, r.stderr
    assert len(fake.chat_requests) <= 8  # a handful, not 40
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("kimi-vision: error:")]
    assert len(errors) == 1 and "quota or balance exhausted" in errors[0]
    assert "kimi-vision: stopped:" in r.stderr
    assert _sidecars(tmp_path) == []


def test_wrong_key_stops_the_run_with_exit_3(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 20)
    r = kv("describe", "-j", "2", *names, extra_env={"MOONSHOT_API_KEY": "not-the-key"})
    assert r.returncode == 3
    assert len(fake.chat_requests) <= 4


def test_broken_file_among_good_ones_exit_2_and_every_good_caption(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 6)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    r = kv("describe", "-j", "3", "--sidecar", "txt", "broken.png", "missing.png", *names)
    assert r.returncode == 2
    assert [p.name for p in _sidecars(tmp_path)] == [n + ".txt" for n in names]
    assert not (tmp_path / "broken.png.txt").exists()
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("kimi-vision: error:")]
    assert len(errors) == 2 and any("broken.png" in e for e in errors)
    assert SUMMARY.search(r.stderr).groups() == ("6", "2", "0")  # type: ignore[union-attr]


def test_exit_code_is_the_most_serious(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 3)
    fake.inject(*[Fault(status=500, type="server_error", message="boom")] * 3)  # 1 try + 2 retries
    r = kv("describe", "-j", "1", "--retries", "2", "missing.png", *names)
    assert r.returncode == 75, r.stderr  # 75 outranks 2
    assert len(_sidecars(tmp_path)) == 0  # no sidecars asked
    assert "missing.png: no such file" in r.stderr


def test_three_shards_cover_every_input_exactly_once(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 30)
    seen: list[str] = []
    for k in (1, 2, 3):
        r = kv("describe", "--shard", f"{k}/3", "--format", "jsonl", "-j", "4", *names)
        assert r.returncode == 0, r.stderr
        part = [json.loads(line)["input"] for line in r.stdout.splitlines()]
        assert 0 < len(part) < 30
        seen += part
    assert sorted(seen) == sorted(names)
    assert len(fake.chat_requests) == 30
    # deterministic: the same shard twice takes the same inputs
    a = kv("describe", "--shard", "2/3", "--format", "jsonl", "--dry-run", *names)
    b = kv("describe", "--shard", "2/3", "--format", "jsonl", "--dry-run", *names)
    assert a.stdout == b.stdout and a.stdout
    for bad in ("0/3", "4/3", "1/0", "x", "1-3"):
        r = kv("describe", "--shard", bad, *names)
        assert r.returncode == 2, bad
        assert r.stderr.startswith("kimi-vision: error:") and "--shard" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_output_dir_mirrors_the_tree_and_names_stdin(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    top = _images(tmp_path / "photos", 2)
    deep = _images(tmp_path / "photos", 2, sub="2024/may")
    r = kv("describe", "-r", "photos", "--output-dir", "out", "--sidecar", "json", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.json"))
    assert got == sorted(f"photos/{n}.json" for n in top + deep)
    rec = json.loads((tmp_path / "out/photos/2024/may/img001.png.json").read_text())
    assert rec["input"] == "photos/2024/may/img001.png" and "a 9x6 image/png" in rec["text"]
    # the JSON sidecar is the JSONL line, and what made it (issue 19 item 5)
    lines = {json.loads(x)["input"]: json.loads(x) for x in r.stdout.splitlines()}
    assert rec.pop("provenance")["model"] == "kimi-k2.6"
    assert lines["photos/2024/may/img001.png"] == rec
    assert list((tmp_path / "photos").rglob("*.json")) == []  # nothing next to the inputs
    # from inside the directory, the tree mirrors relative to it
    r = kv("describe", "-r", ".", "--output-dir", "../flat", cwd=tmp_path / "photos")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "flat/2024/may/img000.png.txt").exists()
    assert (tmp_path / "flat/img000.png.txt").exists()
    # stdin has a fixed name
    data = (tmp_path / "photos" / top[0]).read_bytes()
    r = kv("describe", "-", "--output-dir", "out", input=data)
    assert r.returncode == 0, r.stderr
    assert "a 8x6 image/png image" in (tmp_path / "out/stdin.txt").read_text()


def test_files_from_streams_inputs_and_text_answers_print_whole(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 10)
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    fake.state.latency = 0.1
    fake.state.chunk_delay = 0.002  # interleaving would show if answers were not whole
    r = kv("describe", "-j", "5", "--files-from", "list.txt")
    assert r.returncode == 0, r.stderr
    blocks = re.split(r"^==> (\S+) <==\n", r.stdout, flags=re.M)[1:]
    assert len(blocks) == 20
    for name, text in zip(blocks[::2], blocks[1::2], strict=True):
        width = 8 + int(name[3:6])
        assert text.count("**Answer 1**") == 1 and f"a {width}x6 " in text
    assert SUMMARY.search(r.stderr).groups() == ("10", "0", "0")  # type: ignore[union-attr]


def test_progress_bar_on_a_terminal(invoke, fake, tmp_path: Path) -> None:
    names = [str(tmp_path / n) for n in _images(tmp_path, 4)]
    fake.state.latency = 0.3
    code, out, err = invoke("describe", "-j", "2", "--format", "jsonl", *names, tty=True)
    assert code == 0, err
    assert len(out.splitlines()) == 4
    # a live line redrawn in place (\r + erase line), with counts and a rate
    assert "\r\x1b[2K" in err and re.search(r"[1-3] done, 0 failed, 0 skipped .*/s", err)
    assert "kimi-vision: 4 done, 0 failed, 0 skipped in " in err
    code, out, err = invoke("describe", "-j", "2", "--format", "jsonl", *names, tty=False)
    assert "\x1b[" not in err and SUMMARY.search(err)  # piped: the summary line only
    code, out, err = invoke("describe", "-j", "2", "--format", "jsonl", names[0], tty=True)
    assert err == ""  # one input: no bar, no summary


def _interrupted(
    cmd: list[str],
    env: dict[str, str],
    tmp_path: Path,
    until: Callable[[], bool],
    *,
    then: float = 0.0,
    sig: int = signal.SIGINT,
) -> tuple[int, bytes, bytes]:
    """Run `cmd`, send it `sig` once `until()` holds (and `then` seconds more); (exit
    status, stdout, stderr)."""
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not until() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(then)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


@pytest.mark.process
def test_sigint_exits_130_leaves_whole_files_and_the_rerun_finishes(env, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 40)
    fake.state.latency = 0.4
    cmd = [*installed_command(), "describe", "-j", "4", "--sidecar", "txt", *names]
    code, _out, err = _interrupted(cmd, env, tmp_path, lambda: len(_sidecars(tmp_path)) >= 6)
    assert code == 130, err
    assert "kimi-vision: interrupted:" in err.decode()
    assert "Traceback" not in err.decode()
    assert _temp_files(tmp_path) == []
    done = _sidecars(tmp_path)
    assert 6 <= len(done) < 40
    for p in done:  # whole: the full caption and its newline
        width = 8 + int(p.name[3:6])
        text = p.read_text()
        assert text.endswith(".\n") and f"a {width}x6 image/png image" in text
    sent_before = len(fake.chat_requests)
    fake.state.latency = 0.0
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(_sidecars(tmp_path)) == 40
    assert len(fake.chat_requests) - sent_before == 40 - len(done)


def test_a_stop_counts_the_inputs_it_did_not_send(kv, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.11: a 401 over 3 inputs said "0 done, 1 failed, 0 skipped": two vanished."""
    names = _images(tmp_path, 3)
    fake.inject(Fault(status=401, type="invalid_authentication_error", message="Invalid Authentication"))
    r = kv("describe", "-j", "1", *names)
    assert r.returncode == 3, r.stderr
    assert "stopped: 0 done, 1 failed, 0 skipped, 2 not started in " in r.stderr


@pytest.mark.process
def test_an_interrupted_summary_counts_every_input_once(env, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19.11: after Ctrl-C the summary left out the inputs cut short and those never
    started; done + failed + skipped + cut short + not started is every input."""
    names = _images(tmp_path, 16)
    fake.state.latency = 0.3
    cmd = [*installed_command(), "describe", "-j", "2", "--sidecar", "txt", *names]
    code, _out, err = _interrupted(cmd, env, tmp_path, lambda: len(_sidecars(tmp_path)) >= 3)
    assert code == 130, err
    m = re.search(
        r"interrupted: (\d+) done, (\d+) failed, (\d+) skipped(?:, (\d+) cut short)?(?:, (\d+) not started)? in ",
        err.decode(),
    )
    assert m, err
    counts = [int(g or 0) for g in m.groups()]
    assert sum(counts) == 16 and counts[4] > 0, counts
    assert counts[0] == len(_sidecars(tmp_path))


@pytest.mark.process
def test_single_input_still_streams_at_default_concurrency(env, fake, tmp_path: Path) -> None:
    _images(tmp_path, 1)
    fake.state.chunk_delay = 0.06  # ~25 chunks: about 1.5 s of streaming
    proc = subprocess.Popen(
        [*installed_command(), "describe", "img000.png"], cwd=tmp_path, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.read(4)
    # The order of events: the first words are shown while the server is still sending
    # the answer (a request stops counting as in flight just before its [DONE]).
    still_sending = fake.state.in_flight
    rest = proc.stdout.read()
    proc.wait(timeout=20)
    assert proc.returncode == 0
    assert (first + rest).decode().startswith("**Answer 1**")
    assert still_sending == 1


def test_unwritable_output_dir_fails_those_inputs_with_exit_1(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 3, sub="photos")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "photos").write_text("a file where a directory must go")
    r = kv("describe", "-j", "2", "--output-dir", "out", *names)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("kimi-vision: error:")]
    assert len(errors) == 3 and all("cannot write sidecar" in e for e in errors)
    assert _temp_files(tmp_path) == []


def test_adaptive_slots_slow_start_caps_halves_and_climbs_back() -> None:
    from kimi_vision_cli.api.errors import RateLimit
    from kimi_vision_cli.runner.pacing import RAISE_AFTER, Pacing
    from tests.clock import FakeClock

    clock = FakeClock(100.0)
    lim = Pacing(8, clock=clock)
    assert lim.slots == 1  # slow start: one request first
    assert lim.on_success() is None
    lim.on_success()
    assert lim.slots == 4  # doubling with each success, not said
    lim.rate_limited(RateLimit(None, None, 0.2))
    lim.rate_limited(RateLimit(None, None, 0.2))  # same burst: no second halving
    assert lim.slots == 2 and lim.paused_for() > 0
    clock.t += 0.25
    assert lim.paused_for() == 0
    lim.rate_limited(RateLimit("concurrency", 3, 1.0))  # a named concurrency caps the run
    lim.rate_limited(RateLimit("rpm", 3, 1.0))  # RPM: starts spaced, no slot lost
    assert lim.slots == 2 and lim.ceiling == 3
    grown = [lim.on_success() for _ in range(RAISE_AFTER * 3)]
    assert lim.slots == 3  # one by one, never past the named concurrency
    assert [g for g in grown if g] == ["steady: concurrency 2 -> 3"]
    clock.t += 2
    for _ in range(4):
        lim.rate_limited(RateLimit(None, None, 0.01))
        clock.t += 0.02
    assert lim.slots == 1  # never below 1
    for _ in range(RAISE_AFTER * 20):
        lim.on_success()
    assert lim.slots == 3


def test_sidecar_names_for_every_kind_of_input(tmp_path: Path) -> None:
    import os

    from kimi_vision_cli.output.sidecar import SidecarSpec
    from kimi_vision_cli.types import Source

    out = SidecarSpec("txt", tmp_path / "out")
    here = SidecarSpec("json")
    assert here.path_for(Source("path", "photos/a.png")) == Path("photos/a.png.json")
    assert out.path_for(Source("path", "./photos/../photos/a.png")) == tmp_path / "out/photos/a.png.txt"
    assert out.path_for(Source("path", "/data/a.png")) == tmp_path / "out/data/a.png.txt"
    # leaving the current directory: named by the absolute path (issue 11: `../a.png` and
    # `a.png` are other files, they must not share a sidecar)
    above = os.path.abspath("../../a.png").lstrip("/")
    assert out.path_for(Source("path", "../../a.png")) == tmp_path / "out" / (above + ".txt")
    assert out.path_for(Source("stdin", "-")) == tmp_path / "out/stdin.txt"
    assert here.path_for(Source("stdin", "-")) == Path("stdin.json")
    assert out.path_for(Source("file_id", "file-abc")) == tmp_path / "out/ms/file-abc.txt"
    url = out.path_for(Source("url", "https://example.com/img/cat.png?s=2"))
    assert (
        re.fullmatch(r"cat\.png-[0-9a-f]{8}\.txt", url.name)
        and url.parent == tmp_path / "out/example.com/img"
    )
    assert out.path_for(Source("url", "https://example.com/")) == tmp_path / "out/example.com/index.txt"
    assert out.path_for(Source("url", "http://h/../../etc/x.png")) == tmp_path / "out/h/etc/x.png.txt"


@pytest.mark.process
def test_reader_leaving_stops_the_run_quietly_with_141(env, fake, tmp_path: Path) -> None:
    """`kimi-vision describe ... | head -1`: no traceback, no "Exception ignored", no more
    requests started, and 141 (128 + SIGPIPE) rather than 1, which would read as a failure."""
    names = _images(tmp_path, 30)
    fake.state.latency = 0.1
    proc = subprocess.Popen(
        [*installed_command(), "describe", "-j", "2", "--format", "jsonl", *names], cwd=tmp_path,
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=30)
    assert json.loads(first)["error"] is None
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err and "error" not in err
    assert len(fake.chat_requests) < 10  # it stopped instead of describing the other 20+


def test_replace_file_keeps_the_old_file_whole_when_a_write_fails(tmp_path: Path, monkeypatch) -> None:
    """atomic.replace_file (sidecars, upload cache, batch manifests): a failure before the
    rename leaves the previous file as it was and no temp file behind."""
    import os

    from kimi_vision_cli import atomic

    target = tmp_path / "photo.png.txt"
    atomic.replace_file(target, b"first caption\n")
    assert target.read_bytes() == b"first caption\n"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left") as caught:
        atomic.replace_file(target, b"second caption, never whole\n")
    assert caught.value.errno == 28
    assert target.read_bytes() == b"first caption\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png.txt"]


def test_a_chosen_concurrency_starts_at_once_the_default_starts_slow(kv, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 4)
    # Long enough for the four (prepared two at a time on two cores) to overlap on a busy machine.
    fake.state.latency = 0.8
    r = kv("describe", "-j", "4", *names)
    assert r.returncode == 0, r.stderr
    # -j given: all at once from the start (slow start would allow at most two here; on a
    # busy machine the fourth may start as the first ends, so three is what is asserted).
    assert fake.state.max_in_flight >= 3
    fake.reset()
    fake.state.latency = 0.8
    r = kv("describe", *names, extra_env={"KIMI_VISION_CONCURRENCY": "4", "MOONSHOT_API_KEY": fake.api_key})
    assert r.returncode == 0 and fake.state.max_in_flight >= 3  # env counts as chosen too
    fake.reset()
    fake.state.latency = 0.3
    r = kv("describe", *names, extra_env={"MOONSHOT_API_KEY": fake.api_key})
    assert r.returncode == 0, r.stderr
    assert fake.state.max_in_flight <= 2  # the default: one first, then two, ...


@pytest.mark.process
def test_an_answer_cut_by_ctrl_c_while_streaming_is_named_incomplete(env, fake, tmp_path: Path) -> None:
    names = _images(tmp_path, 3)
    fake.state.chunk_delay = 0.2  # each answer streams for a few seconds
    cmd = [*installed_command(), "describe", "-j", "1", "--sidecar", "txt", *names]
    # then: the second answer is half printed (after ~0.8 s of reasoning)
    code, _out, err = _interrupted(cmd, env, tmp_path, lambda: len(_sidecars(tmp_path)) >= 1, then=2.0)
    assert code == 130, err
    assert f"{names[1]}: interrupted mid-answer; the text above on stdout is incomplete" in err.decode()
    assert len(_sidecars(tmp_path)) == 1  # no sidecar for the cut one


def test_a_server_that_cannot_be_reached_stops_the_run_after_three_inputs(
    kv, fake, tmp_path: Path, dead_url: str
) -> None:
    """A down server or a wrong --base-url dooms every input: after three in a row could
    not reach it (each after its retries) the rest are not started, exit 75, instead of
    each input waiting out its own retries (1,000 inputs took hours)."""
    names = _images(tmp_path, 8)
    env = {"MOONSHOT_BASE_URL": dead_url, "MOONSHOT_API_KEY": fake.api_key}
    r = kv("describe", "-j", "1", "--retries", "0", "--format", "jsonl", *names, extra_env=env)
    assert r.returncode == 75, r.stderr
    assert r.stderr.count("cannot reach") == 3
    assert "5 inputs not started" in r.stderr and "could not be reached for 3 inputs in a row" in r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 8 and sum(rec["error"]["code"] == "not_started" for rec in records) == 5


@pytest.mark.process
def test_ctrl_c_while_only_the_reasoning_streamed_says_no_text_is_cut(env, fake, tmp_path: Path) -> None:
    """Nothing of the answer reached stdout (its reasoning goes to stderr, if anywhere):
    the 'text above on stdout is incomplete' warning would point at nothing."""
    names = _images(tmp_path, 1)
    fake.state.chunk_delay = 0.6  # the reasoning's four pieces take over two seconds
    cmd = [*installed_command(), "describe", "--thinking", *names]
    # then: the reasoning is streaming, the answer has not begun
    code, out, err = _interrupted(cmd, env, tmp_path, lambda: bool(fake.chat_requests), then=0.3)
    assert code == 130, err
    assert out == b""
    assert b"mid-answer" not in err


@pytest.mark.process
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_ctrl_c_leaves_one_record_per_input(env, fake, tmp_path: Path, fmt: str) -> None:
    """SPEC: one object per input. After Ctrl-C, those cut in flight and those never
    started say `interrupted` (they had no record at all)."""
    names = _images(tmp_path, 6)
    fake.state.chunk_delay = 0.15  # each answer streams for about a second
    cmd = [*installed_command(), "describe", "-j", "2", "--format", fmt, "--sidecar", "txt", *names]
    code, out, err = _interrupted(cmd, env, tmp_path, lambda: len(_sidecars(tmp_path)) >= 1)
    assert code == 130, err
    text = out.decode()
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert sorted(rec["input"] for rec in records) == names
    done = [rec for rec in records if rec["error"] is None]
    assert len(done) == len(_sidecars(tmp_path)) >= 1
    cut = [rec for rec in records if rec["error"] is not None]
    assert cut and all(rec["error"]["code"] == "interrupted" for rec in cut)


def test_a_stop_for_an_unreachable_server_with_nothing_left_names_no_rest(
    kv, fake, tmp_path: Path, dead_url: str
) -> None:
    names = _images(tmp_path, 3)
    env = {"MOONSHOT_BASE_URL": dead_url, "MOONSHOT_API_KEY": fake.api_key}
    r = kv("describe", "-j", "3", "--retries", "0", *names, extra_env=env)
    assert r.returncode == 75, r.stderr
    assert r.stderr.count("cannot reach") == 3
    assert "not started" not in r.stderr and "the rest was not sent" not in r.stderr
    assert SUMMARY.search(r.stderr).groups() == ("0", "3", "0")  # type: ignore[union-attr]


@pytest.mark.process
@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_single_describe_stopped_by_a_signal_says_so(
    env, fake, tmp_path: Path, sig: int, code: int, word: str
) -> None:
    """One input has no summary line; a stop still gets its line on stderr (it was silent)."""
    names = _images(tmp_path, 1)
    fake.state.latency = 5.0
    cmd = [*installed_command(), "describe", *names]
    status, out, err = _interrupted(cmd, env, tmp_path, lambda: bool(fake.chat_requests), sig=sig)
    assert status == code, err
    assert out == b"" and f"kimi-vision: {word} — rerun to finish" in err.decode()
