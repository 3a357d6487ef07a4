"""The one error policy (errors.Tally) and the one reading of Moonshot error bodies
(api/errors.moonshot_error): pure, no server."""

from __future__ import annotations

import pytest

from kimi_vision_cli.api.errors import moonshot_error
from kimi_vision_cli.errors import (
    APIError,
    AuthError,
    ExitCode,
    InputError,
    KimiVisionError,
    QuotaError,
    Tally,
    TemporaryError,
)


@pytest.mark.parametrize(
    ("errors", "code"),
    [
        ([], ExitCode.OK),
        ([InputError("x")], ExitCode.BAD_INPUT),
        ([InputError("x"), TemporaryError("t")], ExitCode.TEMPORARY),  # 75 outranks 2
        ([TemporaryError("t"), InputError("x")], ExitCode.TEMPORARY),
        ([TemporaryError("t"), APIError("a")], ExitCode.FAILURE),  # 1 outranks 75
        ([APIError("a"), InputError("x"), TemporaryError("t")], ExitCode.FAILURE),
        ([APIError("a"), AuthError("k")], ExitCode.AUTH),  # 3 outranks all
        ([AuthError("k"), APIError("a"), TemporaryError("t"), InputError("x")], ExitCode.AUTH),
    ],
)
def test_exit_code_is_the_most_serious_by_spec_order(errors: list[KimiVisionError], code: ExitCode) -> None:
    tally = Tally()
    for err in errors:
        tally.error(err)
    assert tally.exit_code == code and tally.failed == len(errors)


def test_counts_and_reports_each_failure_once() -> None:
    seen: list[str] = []
    tally = Tally(report=lambda err: seen.append(err.message))
    tally.ok()
    tally.skip()
    assert tally.error(InputError("bad")) is False
    tally.ok()
    assert (tally.done, tally.failed, tally.skipped) == (2, 1, 1)
    assert seen == ["bad"] and not tally.stopped


@pytest.mark.parametrize("stopper", [AuthError("no key"), QuotaError("no money")])
def test_auth_and_quota_stop_the_run(stopper: KimiVisionError) -> None:
    seen: list[str] = []
    tally = Tally(report=lambda err: seen.append(err.message))
    assert tally.error(TemporaryError("slow")) is False
    assert tally.error(stopper) is True and tally.stopped
    # requests that were in flight fail the same way: counted and folded, reported once
    assert tally.error(AuthError("again")) is True
    assert tally.error(APIError("other")) is True  # still stopped; a different failure is said
    assert seen == ["slow", stopper.message, "other"]
    assert tally.exit_code == ExitCode.AUTH and tally.failed == 4


def test_fold_takes_codes_met_outside_any_input() -> None:
    tally = Tally()
    tally.error(APIError("a"))
    tally.fold(ExitCode.INTERRUPTED)
    assert tally.exit_code == ExitCode.INTERRUPTED
    tally = Tally()
    tally.fold(ExitCode.BAD_INPUT)
    assert tally.exit_code == ExitCode.BAD_INPUT and tally.failed == 0


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (
            {"error": {"type": "rate_limit_reached_error", "message": "slow down"}},
            ("rate_limit_reached_error", "slow down"),
        ),
        (
            {"error": {"code": "content_filter", "message": "high risk"}},
            ("content_filter", "high risk"),
        ),  # batch lines
        ({"error": "plain text"}, ("", "plain text")),
        ({"type": "bare", "message": "no wrapper"}, ("bare", "no wrapper")),
        (None, ("", "")),
        ("<html>", ("", "")),
    ],
)
def test_moonshot_error_bodies_are_read_one_way(body: object, parsed: tuple[str, str]) -> None:
    assert moonshot_error(body) == parsed
