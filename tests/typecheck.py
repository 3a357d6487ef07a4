"""mypy --strict on a module of code that uses this checkout's package: how the type
tests show a mistake is caught (tests/test_settings_types.py, tests/test_library_types.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent


def mypy_errors(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `use.py:LINE: error: ...` lines mypy --strict gives `code`; the test is skipped
    where mypy is not installed (it comes with `make lint`, the dev group)."""
    api = pytest.importorskip("mypy.api", reason="mypy comes with `make lint` (the dev group)")
    monkeypatch.setenv("MYPYPATH", str(CHECKOUT))  # this checkout's package
    (tmp_path / "use.py").write_text(code)
    flags = ["--strict", "--python-version", "3.10", "--follow-imports", "silent"]
    # One cache for every such test and run (mypy's is safe to share): the package is
    # analysed once, not once per test (about 5 s of CPU each on this machine).
    cache = CHECKOUT / ".venv" / ".mypy-tests-cache"
    out, _err, status = api.run([*flags, "--cache-dir", str(cache), str(tmp_path / "use.py")])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == (1 if errors else 0), out
    return errors
