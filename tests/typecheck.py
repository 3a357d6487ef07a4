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
    flags = ["--strict", "--python-version", "3.10", "--follow-imports", "silent", "--no-incremental"]
    out, _err, status = api.run([*flags, "--cache-dir", str(tmp_path / "c"), str(tmp_path / "use.py")])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == (1 if errors else 0), out
    return errors
