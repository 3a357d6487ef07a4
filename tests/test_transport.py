"""The pure inline-or-upload planner (transport.plan) and the one-file size check."""

from __future__ import annotations

import pytest

from kimi_vision_cli import transport
from kimi_vision_cli.errors import ExitCode, InputError

MB = 1024 * 1024
LIMIT = 100 * MB


def test_everything_inline_when_it_fits() -> None:
    assert transport.plan([10 * MB, 20 * MB], mode="auto") == set()


def test_auto_uploads_the_largest_first_until_the_rest_fits() -> None:
    # 80 + 50 + 30 = 160 MB: dropping the 80 MB part leaves 80 MB, under the budget.
    assert transport.plan([50 * MB, 80 * MB, 30 * MB], mode="auto") == {1}


def test_auto_uploads_several_when_one_is_not_enough() -> None:
    assert transport.plan([60 * MB, 60 * MB, 60 * MB], mode="auto") == {0, 1}


def test_margin_and_fixed_part_count() -> None:
    just_under = LIMIT - transport.MARGIN
    assert transport.plan([just_under], mode="auto") == set()
    assert transport.plan([just_under], mode="auto", fixed=1) == {0}


def test_always_uploads_every_part() -> None:
    assert transport.plan([1, 2, 3], mode="always") == {0, 1, 2}


def test_never_refuses_an_oversized_body_naming_the_limit() -> None:
    with pytest.raises(InputError) as info:
        transport.plan([70 * MB, 70 * MB], mode="never")
    assert "100 MB" in info.value.message
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_never_is_fine_under_the_limit() -> None:
    assert transport.plan([10 * MB], mode="never") == set()


def test_check_file_size() -> None:
    transport.check_file_size(100 * MB, "ok.mp4")
    with pytest.raises(InputError) as info:
        transport.check_file_size(100 * MB + 1, "big.mp4")
    assert info.value.input == "big.mp4" and "100 MB" in info.value.message
