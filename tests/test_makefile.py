"""The Makefile's system packages (libmagic, ExifTool, chromium, jq, python3-venv) go
through one `need` function: a tool already there costs nothing; a missing one is
installed with apt-get as root, or through sudo when it asks no password; else a line
says how, and a required one fails make. Run with shims for apt-get, id and sudo on
PATH, so nothing is installed and the user id is the test's to choose."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

# Targets that use `need` on a tool this test names (kv-tool-*), never a real package.
PROBE = """\
probe-optional:
\t@$(call need,command -v kv-tool-opt,kv-tool-opt,kv-tool-opt is missing (only a warning))
probe-required:
\t@$(call need,command -v kv-tool-req,kv-tool-req,kv-tool-req is missing: install it,required)
"""

SHIMS = {
    # apt-get logs its call; `install` makes the package's tool unless told not to.
    "apt-get": '#!/bin/sh\necho "apt-get $*" >> "$KV_LOG"\n'
    'if [ "$1" = install ] && [ -z "$KV_APT_BROKEN" ]; then\n'
    '  for p; do case "$p" in kv-tool-*) printf "#!/bin/sh\\n" > "$KV_BIN/$p"; chmod +x "$KV_BIN/$p";; esac; done\n'
    "fi\n",
    "id": '#!/bin/sh\necho "$KV_UID"\n',
    # sudo -n: runs the command when no password is needed (KV_SUDO=ok), else fails.
    "sudo": '#!/bin/sh\necho "sudo $*" >> "$KV_LOG"\n[ "$1" = -n ] && shift\n'
    '[ "$KV_SUDO" = ok ] || exit 1\nexec "$@"\n',
}


def _make(tmp_path: Path, *, uid: int, sudo: bool = False, broken_apt: bool = False, present: bool = False):  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in SHIMS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    if present:
        for tool in ("kv-tool-opt", "kv-tool-req"):
            (bin_dir / tool).write_text("#!/bin/sh\n")
            (bin_dir / tool).chmod(0o755)
    (tmp_path / "probe.mk").write_text(PROBE)
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "KV_LOG": str(log), "KV_BIN": str(bin_dir),
        "KV_UID": str(uid), "KV_SUDO": "ok" if sudo else "no", "KV_APT_BROKEN": "1" if broken_apt else "",
    }  # fmt: skip
    results = {}
    for target in ("probe-optional", "probe-required"):
        run = subprocess.run(
            ["make", "-s", "-f", str(ROOT / "Makefile"), "-f", str(tmp_path / "probe.mk"), target],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
        )  # fmt: skip
        results[target] = run
    return results, log.read_text().splitlines()


def test_a_tool_already_there_costs_nothing(tmp_path: Path) -> None:
    results, calls = _make(tmp_path, uid=1000, present=True)
    assert calls == []
    assert all(r.returncode == 0 and r.stdout == r.stderr == "" for r in results.values())


def test_as_root_a_missing_tool_is_installed_with_apt_get(tmp_path: Path) -> None:
    results, calls = _make(tmp_path, uid=0)
    assert [r.returncode for r in results.values()] == [0, 0], results
    assert calls == [
        "apt-get update -qq", "apt-get install -y -qq kv-tool-opt",
        "apt-get update -qq", "apt-get install -y -qq kv-tool-req",
    ]  # fmt: skip
    assert results["probe-required"].stderr == "installing kv-tool-req with apt-get\n"


def test_without_root_sudo_is_used_only_when_it_asks_no_password(tmp_path: Path) -> None:
    results, calls = _make(tmp_path, uid=1000, sudo=True)
    assert [r.returncode for r in results.values()] == [0, 0], results
    assert "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kv-tool-req" in calls
    assert results["probe-required"].stderr == "installing kv-tool-req with apt-get (through sudo)\n"


def test_without_root_or_sudo_make_says_how_and_fails_only_for_a_required_one(tmp_path: Path) -> None:
    results, calls = _make(tmp_path, uid=1000, sudo=False)
    assert not any(c.startswith("apt-get") for c in calls)  # never run without root
    optional, required = results["probe-optional"], results["probe-required"]
    assert optional.returncode == 0 and optional.stderr == "kv-tool-opt is missing (only a warning)\n"
    assert required.returncode != 0 and required.stderr.startswith("kv-tool-req is missing: install it\n")


def test_a_package_that_leaves_the_tool_missing_fails_make(tmp_path: Path) -> None:
    results, _calls = _make(tmp_path, uid=0, broken_apt=True)
    for target, r in results.items():
        assert r.returncode != 0, target
        assert "apt-get installed kv-tool-" in r.stderr and "but it is still missing" in r.stderr


def test_every_system_package_goes_through_need() -> None:
    """One shape: apt-get is written once (in `need`), and each package is a `need` call."""
    text = (ROOT / "Makefile").read_text()
    assert len(re.findall(r"apt-get install -y", text)) == 1
    needed = re.findall(r"\$\(call need,[^,]*,([a-z0-9.+-]+),", text)
    assert sorted(needed) == ["chromium", "jq", "libimage-exiftool-perl", "libmagic1", "python3-venv"]
