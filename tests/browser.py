"""Debian's headless Chromium, driven through its own DevTools protocol over a pipe
(`--remote-debugging-pipe`: JSON messages ending in NUL on fds 3 and 4). No driver,
no websocket, no browser download: the lightest way that works offline (issue 22).

    with Chromium.start() as browser:
        page = browser.open(Path("report.html"))
        page.evaluate("document.title")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# What this machine needs (docs of the machine): no sandbox as root, no GPU, and none of
# Chromium's own background connections, which a closed network refuses many at a time.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
)  # fmt: skip
TIMEOUT = 30.0
# argv: READ_FD WRITE_FD PROGRAM ARGS... -> PROGRAM with READ_FD on 3 and WRITE_FD on 4.
# Moved above 4 first: an end may itself be 3 or 4 (dup2 onto itself would keep its
# close-on-exec flag, or overwrite the other end).
_TRAMPOLINE = """
import fcntl, os, sys
a, b = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
os.dup2(a, 3)
os.dup2(b, 4)
for fd in {a, b, *map(int, sys.argv[1:3])} - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


def find_chromium() -> str | None:
    for name in (CHROMIUM, "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(Exception):
    pass


class Chromium:
    def __init__(self, proc: subprocess.Popen[bytes], to: int, back: int, profile: str):
        self.proc = proc
        self._to = to
        self._back = back
        self._profile = profile
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    @classmethod
    def start(cls, exe: str | None = None) -> Chromium:
        exe = exe or find_chromium()
        if exe is None:
            raise BrowserError("chromium is not installed")
        profile = tempfile.mkdtemp(prefix="kv-chromium-")
        to_r, to_w = os.pipe()  # we write commands, chromium reads them on fd 3
        back_r, back_w = os.pipe()  # chromium writes answers on fd 4

        # A tiny Python puts the pipe ends at 3 and 4 and execs chromium: no preexec_fn,
        # which is not safe in this multi-threaded process (the loopback server's thread).
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_r), str(back_w),
             exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_r, back_w),
        )  # fmt: skip
        os.close(to_r)
        os.close(back_w)
        browser = cls(proc, to_w, back_r, profile)
        try:
            browser.call("Browser.getVersion")  # answers once the browser is up
        except (BrowserError, OSError) as exc:
            browser.close()
            raise BrowserError(f"chromium did not start: {exc}") from None
        return browser

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to, self._back):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- the protocol -------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = TIMEOUT) -> dict[str, Any]:  # fmt: skip
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self._to, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._back], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._back, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium exited ({self.proc.poll()})")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)  # type: ignore[no-any-return]

    # -- pages --------------------------------------------------------------------------
    def open(self, path: Path, *, width: int = 1200, height: int = 900, mobile: bool = False) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile},
        )
        page.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired", session)
        # Keys go to the page in front: a page opened while another test's was still
        # closing got none of its typed text on a loaded machine.
        page.call("Page.bringToFront")
        return page


class Page:
    def __init__(self, browser: Chromium, target: str, session: str):
        self.browser = browser
        self.target = target
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type_text(self, text: str) -> None:
        """Typed into the focused element, as a keyboard would (input events fire)."""
        self.call("Input.insertText", {"text": text})

    def press(self, key: str, code: int, *, shift: bool = False) -> None:
        """A key down and up: "Tab" 9, " " (space) 32."""
        name = "Space" if key == " " else key
        base = {"key": key, "code": name, "windowsVirtualKeyCode": code, "modifiers": 8 if shift else 0}
        self.call("Input.dispatchKeyEvent", {"type": "rawKeyDown", **base})
        if key == " ":
            self.call("Input.dispatchKeyEvent", {"type": "char", "text": " ", **base})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **base})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def console_errors(self) -> list[str]:
        """Errors the page logged: console.error, uncaught exceptions, CSP refusals, failed loads."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            method = event.get("method")
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
                )
            elif method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})
