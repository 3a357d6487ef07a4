"""Run the shell examples of README.md and docs/*.md against the loopback server (issue 19
item 26), for tests/test_docs_run.py.

The conventions a page follows (README.md, "Development", says it in short):

- A ```console block holds `$ COMMAND` lines, each followed by the output it shows
  (stdout and stderr as a terminal shows them, interleaved). `\\` at a line's end continues
  the command. A ```sh block holds commands only; each must exit 0.
- Output is compared after normalising what changes from run to run: decimal seconds
  (`0.1s` -> `<T>s`), batch and file ids (each id shown is mapped to the one the run made,
  and later commands that name it get the real one), epoch and ISO 8601 times, and the run's directory
  (shown as `/tmp/docrun`). `...` in a shown line matches any text; a line `...` alone
  matches any number of lines (abridged output).
- `-j N` runs as `-j 1` (the default too), so several answers come in a fixed order.
- Every page runs in one directory holding the media of `LIBRARY` (generated here), with
  one fresh account on the loopback server; blocks share it in order, as a reader following
  the page would. An HTML comment before a block changes that:
  `<!-- doc-run: skip REASON -->` (not run: it needs what the loopback server cannot give),
  `<!-- doc-run: fresh -->` (a new directory and account; `fresh empty`: without the media), `<!-- doc-run: files photos/a.png=40x30 ... -->`
  (make these files first; images WxH, videos `clip.mp4=12s` or `big.mp4=2560x1440@1s`, `=text` and `=empty` for non-media), `<!-- doc-run: fault {JSON} -->`
  (inject a tests.fake_moonshot.Fault), `<!-- doc-run: env NAME=VALUE -->`,
  `<!-- doc-run: write PATH TEXT -->` (a text file; `\n` for a newline),
  `<!-- doc-run: state {"max_files": 0} -->` (the account's fields; `answers`: the next raw
  answers), `<!-- doc-run: limits {"tpm": 1} -->` (rate limits). `K` is 1.
- In bash, `sleep` does nothing: a polling loop runs at once.

A simple `kimi-vision ...` line runs in-process (cli.run); anything with pipes,
redirections or other programs runs through bash with the installed command on PATH.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from kimi_vision_cli.runner.host import Host

ROOT = Path(__file__).resolve().parent.parent
SHOWN_DIR = "/tmp/docrun"
_FENCE = re.compile(r"^(```|~~~)(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!-- doc-run: (\w+)\s*(.*?)\s*-->$")
_IDS = re.compile(r"\b(batch-[0-9a-f]{16}|cu[0-9a-f]{18})\b")
_REDIRECT = re.compile(r"^(kimi-vision\s[^>]*?)\s*>\s*(\S+)\s*(?:#.*)?$")
SHELL = re.compile(r"[|<>;&`]|\$\(|^\s*(?:if|for|while|until|case)\b", re.M)


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: list[str]
    directives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        doc = self.doc.relative_to(ROOT).as_posix() if self.doc.is_relative_to(ROOT) else str(self.doc)
        return f"{doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The console and sh blocks of a page that run `kimi-vision`, with their directives."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(m.group(1)))
        body = lines[i + 1 : end]
        if m.group(2) in ("console", "sh", "bash") and any("kimi-vision" in ln for ln in body):
            found.append(Block(doc, i + 1, m.group(2), body, _directives(lines, i)))
        i = end + 1
    return found


def _directives(lines: list[str], fence: int) -> list[tuple[str, str]]:
    out = []
    j = fence - 1
    while j >= 0 and (not lines[j].strip() or _DIRECTIVE.match(lines[j].strip())):
        m = _DIRECTIVE.match(lines[j].strip())
        if m:
            out.append((m.group(1), m.group(2)))
        j -= 1
    return out[::-1]


@dataclass
class Command:
    line: int  # 1-based line in the doc
    text: str
    shown: list[str]  # the output the page shows under it (console blocks)


def commands(block: Block) -> list[Command]:
    cmds: list[Command] = []
    prompt = block.lang == "console"
    pending = ""
    for k, raw in enumerate(block.body):
        n = block.line + 1 + k
        if pending:
            cmds[-1].text += "\n" + raw
            pending = raw.endswith("\\")
            continue
        if prompt and not raw.startswith("$ "):
            if cmds:
                cmds[-1].shown.append(raw)
            continue
        text = raw[2:] if prompt else raw
        if not prompt and (not text.strip() or text.lstrip().startswith("#")):
            continue
        cmds.append(Command(n, text, []))
        pending = text.endswith("\\")
    return cmds


# -- the media a page names, made once per test run ------------------------------------


def _image(w: int, h: int, fmt: str = "PNG") -> bytes:
    from tests.media import image_bytes

    return image_bytes(w, h, fmt)


def _jpeg(w: int, h: int, gps: bool = False, orientation: int = 1) -> bytes:
    from tests.media import jpeg_with_exif

    return jpeg_with_exif(w, h, gps=gps, orientation=orientation)


def _video(seconds: float, w: int = 64, h: int = 48) -> bytes:
    from tests.media import timed_video

    small = w * h <= 64 * 48
    return (
        timed_video(seconds, w=w, h=h)
        if small
        else timed_video(seconds, keyframe_every=None, rate=2, w=w, h=h)
    )


LIBRARY: dict[str, Callable[[], bytes]] = {
    "icon.png": lambda: _image(24, 16),
    "photo.jpg": lambda: _jpeg(640, 480, gps=True, orientation=6),  # shown upright: 480x640
    "photo.png": lambda: _image(64, 48),
    "wide.png": lambda: _image(6000, 3000),
    "panorama.png": lambda: _image(5000, 3000),
    "holiday.jpg": lambda: _jpeg(64, 48, gps=True),
    "before.png": lambda: _image(64, 48),
    "after.png": lambda: _image(64, 40),
    "board.jpg": lambda: _image(120, 90, "JPEG"),
    "party.jpg": lambda: _image(160, 120, "JPEG"),
    "receipts/a.jpg": lambda: _image(60, 90, "JPEG"),
    "receipts/b.jpg": lambda: _image(60, 80, "JPEG"),
    "screenshots/one.png": lambda: _image(80, 50),
    "screenshots/two.png": lambda: _image(80, 50),
    "photos/beach.jpg": lambda: _image(640, 480, "JPEG"),
    "photos/2024/dog.png": lambda: _image(300, 200),
    "dataset/images/a.png": lambda: _image(40, 30),
    "archive/a.png": lambda: _image(40, 30),
    "clip.mp4": lambda: _video(12),
    "talk.mp4": lambda: _video(12),
    "walk.mp4": lambda: _video(8),
    "videos/a.mp4": lambda: _video(4),
}


@cache
def _made(name: str, spec: str = "") -> bytes:
    """The bytes of a library file, or of `name=WxH` / `name=Ns` from a files directive."""
    if not spec:
        return LIBRARY[name]()
    if spec in ("text", "empty"):  # a file that is not media: refused as such
        return b"just some text, not an image\n" if spec == "text" else b""
    if spec.endswith("s"):  # `12s`, or `2560x1440@1s` (two frames a second)
        size, _, seconds = spec.rpartition("@")
        if not size:
            return _video(float(seconds[:-1]))
        w, h = (int(v) for v in size.split("x"))
        return _video(float(seconds[:-1]), w, h)
    w, h = (int(v) for v in spec.split("x"))
    return _image(w, h, "JPEG" if name.endswith((".jpg", ".jpeg")) else "PNG")


def populate(workdir: Path, names: dict[str, str]) -> None:
    for name, spec in names.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_made(name, spec))


# -- comparing -------------------------------------------------------------------------


def normalise(text: str, workdir: Path) -> str:
    text = text.replace(str(workdir), SHOWN_DIR)
    text = re.sub(r"\b\d+\.\d+s\b", "<T>s", text)
    text = re.sub(r"\b1[6-9]\d{8}\b", "<EPOCH>", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", "<TIME>", text)
    return _IDS.sub("<ID>", text)


def matches(shown: list[str], actual: str) -> bool:
    """`shown` (with `...` wildcards) against the actual output, both normalised."""
    parts = []
    for line in shown:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in line.rstrip().split("...")) + r"\n")
    body = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return re.fullmatch("".join(parts), body, re.S) is not None


def id_map(shown: list[str], actual: str) -> dict[str, str]:
    """Ids the page shows -> the ids this run made, paired in order of appearance."""
    return dict(zip(_IDS.findall("\n".join(shown)), _IDS.findall(actual), strict=False))


def report(where: str, cmd: Command, shown: list[str], actual: str, workdir: Path) -> str:
    want = [normalise(s, workdir) for s in shown]
    got = normalise(actual, workdir).splitlines()
    diff = "\n".join(
        difflib.unified_diff(want, got, "shown in the doc", "what the command printed", lineterm="")
    )
    return f"{where.split(':')[0]}:{cmd.line}: $ {cmd.text}\n{diff}"


# -- running ---------------------------------------------------------------------------


@dataclass
class Session:
    """One page's run: its directory, environment, the last exit code, the ids seen."""

    workdir: Path
    env: dict[str, str]
    fake: object
    last: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    # The machine the in-process commands run on: `batch results --wait` polls at once.
    host: Host = field(default_factory=lambda: Host(sleep=lambda seconds: None))

    def expand(self, text: str) -> str:
        """The command as this run must give it: the ids it made, its directory."""
        for shown, real in self.ids.items():
            text = text.replace(shown, real)
        return text.replace(SHOWN_DIR, str(self.workdir))

    def shown(self, text: str) -> str:
        """Output as the page shows it: the page's ids for those this run made."""
        for shown, real in self.ids.items():
            text = text.replace(real, shown)
        return text

    def run(self, text: str) -> tuple[int, str]:
        """(exit code, stdout and stderr interleaved) of one command line."""
        import time

        t0 = time.monotonic()
        try:
            return self._run(text)
        finally:
            if os.environ.get("KIMI_VISION_DOCS_TIMES"):
                sys.stderr.write(f"{time.monotonic() - t0:6.2f}s  {text[:100]}\n")

    def _run(self, text: str) -> tuple[int, str]:
        text = self.expand(text).replace("\\\n", " ")
        into = _REDIRECT.match(text)  # `kimi-vision ... > FILE`: in-process too, stdout into FILE
        if into and not SHELL.search(into.group(1)):
            args = [self._var(a) for a in shlex.split(into.group(1))[1:]]
            return self._in_process(args, stdout_to=self.workdir / self._var(into.group(2)))
        argv = None if SHELL.search(text) else shlex.split(text, comments=True)
        if argv and argv[0] == "export":
            for name, _, value in (a.partition("=") for a in argv[1:]):
                if not name.startswith(("MOONSHOT_", "KIMI_API_KEY")):  # the key and URL stay the fake's
                    self.env[name] = self._var(value)
            return 0, ""
        if argv and argv[0] == "kimi-vision":
            return self._in_process([self._var(a) for a in argv[1:]])
        if argv and argv[:2] == ["echo", "$?"]:
            return 0, f"{self.last}\n"
        return self._bash(text)

    def _var(self, arg: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), ""), arg)

    def _in_process(self, args: list[str], stdout_to: Path | None = None) -> tuple[int, str]:
        from kimi_vision_cli.cli.main import run as cli_run
        from kimi_vision_cli.terminal import Terminal
        from tests.conftest import _BytesOut

        expanded: list[str] = []
        # -j N runs as -j 1 (and the default too, through the env): answers in a fixed order.
        args = ["1" if i and args[i - 1] in ("-j", "--concurrency") else a for i, a in enumerate(args)]
        for a in args:
            hits = sorted(glob.glob(a, root_dir=self.workdir)) if any(c in a for c in "*?[") else []
            expanded.extend(hits or [a])
        out = _BytesOut()
        stdout = _BytesOut() if stdout_to else out
        stdin = _BytesOut()
        term = Terminal(
            stdout=stdout, stderr=out, stdin=stdin, stdout_isatty=False, stderr_isatty=False,
            stdin_isatty=False, color=False, env=dict(self.env),
        )  # fmt: skip
        here = os.getcwd()
        os.chdir(self.workdir)
        try:
            self.last = cli_run(expanded, term, host=self.host)
        finally:
            os.chdir(here)
        if stdout_to is not None and str(stdout_to) != "/dev/null":
            stdout_to.write_bytes(stdout.buffer.getvalue())  # type: ignore[attr-defined]
        return self.last, out.text()

    def _bash(self, script: str) -> tuple[int, str]:
        env = dict(self.env)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run(
            ["bash", "-c", f"sleep() {{ :; }}\n(exit {self.last})\n{script}"], cwd=self.workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
        self.last = proc.returncode
        return proc.returncode, proc.stdout.decode("utf-8", "replace")


def has_bash_tools(block: Block) -> list[str]:
    """Programs a block needs that this machine lacks (the test skips the block, saying so)."""
    wanted = {"exiftool", "jq"}
    text = "\n".join(block.body)
    # kimi-vision itself runs ExifTool for these (output/exiftool.py)
    through_us = re.search(r"--sidecar[ =]xmp\b|--embed\b", text) is not None
    return [
        t
        for t in sorted(wanted)
        if (re.search(rf"\b{t}\b", text) or (t == "exiftool" and through_us)) and shutil.which(t) is None
    ]


def fault_of(spec: str) -> object:
    from tests.fake_moonshot import Fault

    return Fault(**json.loads(spec))
