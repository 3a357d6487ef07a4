"""WebVTT and SRT writers (output/subtitles.py)."""

from __future__ import annotations

import pytest

from kimi_vision_cli.output.subtitles import Cue, span_label, srt, timestamp, webvtt

CUES = [
    Cue(0, 4, "A red square."),
    Cue(4, 8.5, "It turns **blue**.\n\nThen it stops."),
    Cue(8.5, 3725.25, ""),
]


@pytest.mark.parametrize(
    ("seconds", "vtt", "srt_"),
    [
        (0, "00:00:00.000", "00:00:00,000"),
        (4.5, "00:00:04.500", "00:00:04,500"),
        (3725.2506, "01:02:05.251", "01:02:05,251"),
        (360000, "100:00:00.000", "100:00:00,000"),
    ],
)
def test_timestamps(seconds: float, vtt: str, srt_: str) -> None:
    assert timestamp(seconds) == vtt and timestamp(seconds, ",") == srt_


def test_webvtt_file() -> None:
    assert webvtt(CUES) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:04.000\nA red square.\n\n"
        "00:00:04.000 --> 00:00:08.500\nIt turns **blue**.\nThen it stops.\n\n"
        "00:00:08.500 --> 01:02:05.250\n…\n"
    )


def test_srt_file_is_numbered_with_commas() -> None:
    assert srt(CUES) == (
        "1\n00:00:00,000 --> 00:00:04,000\nA red square.\n\n"
        "2\n00:00:04,000 --> 00:00:08,500\nIt turns **blue**.\nThen it stops.\n\n"
        "3\n00:00:08,500 --> 01:02:05,250\n…\n"
    )
    assert srt([]) == ""


def test_cue_text_cannot_break_the_file() -> None:
    """Model text is untrusted: a blank line or `-->` would end the cue, `<` opens a tag."""
    hostile = Cue(0, 1, "a --> b\n\n\n00:00:09.000 --> 00:00:10.000\n<c.red>x</c> & y")
    vtt = webvtt([hostile])
    assert vtt.count("-->") == 1 and "\n\n" not in vtt.removeprefix("WEBVTT\n\n").rstrip("\n")
    assert "&lt;c.red&gt;x&lt;/c&gt; &amp; y" in vtt
    out = srt([hostile])
    assert out.count("-->") == 1 and "\n\n" not in out.rstrip("\n")


def test_span_label() -> None:
    assert span_label(0, 30) == "[00:00:00–00:00:30]"
    assert span_label(4.5, 9) == "[00:00:04.500–00:00:09]"
