"""Timed captions: WebVTT and SRT from the answers of `describe --segment` (issue 15).

A cue is one segment: its real start and end (seconds, from media/segments.py) and the
model's answer. Answers are Markdown with paragraphs, and both formats end a cue at a
blank line, so blank lines are dropped; WebVTT also reads `-->`, `<` and `&` as syntax
(W3C WebVTT, "cue text"), so they are escaped there. SRT has no escaping: `-->` is
broken up instead, and the rest is left as players show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kimi_vision_cli.output.records import Result


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


def timestamp(seconds: float, sep: str = ".") -> str:
    """HH:MM:SS.mmm (WebVTT) or HH:MM:SS,mmm (SRT, `sep=","`); hours grow past 99."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def clock(seconds: float) -> str:
    """00:00:30, or 00:00:04.500 when not a whole second."""
    stamp = timestamp(seconds)
    return stamp[:-4] if stamp.endswith(".000") else stamp


def span_label(start: float, end: float) -> str:
    """`[00:00:00–00:00:30]`, the header of a segment in text output; milliseconds
    only when a bound is not a whole second (`--segment 4.5s`)."""
    return f"[{clock(start)}–{clock(end)}]"


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return [line for line in lines if line.strip()] or ["…"]  # an empty cue would end the block


def _vtt_text(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(_lines(escaped))


def _srt_text(text: str) -> str:
    return "\n".join(_lines(text.replace("-->", "->")))


def webvtt(cues: Iterable[Cue]) -> str:
    """A whole WebVTT file: the `WEBVTT` line, then one block per cue."""
    blocks = ["WEBVTT"]
    for cue in cues:
        blocks.append(f"{timestamp(cue.start)} --> {timestamp(cue.end)}\n{_vtt_text(cue.text)}")
    return "\n\n".join(blocks) + "\n"


def srt(cues: Iterable[Cue]) -> str:
    """A whole SRT file: numbered blocks, times with a comma before the milliseconds."""
    blocks = [
        f"{n}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{_srt_text(cue.text)}"
        for n, cue in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


WRITERS = {"vtt": webvtt, "srt": srt}


def cues_of(result: Result) -> list[Cue]:
    """One cue per segment of a `describe --segment` result: with --schema, the caption
    field of the part's answer (schema.CAPTION_KEYS), not its JSON."""
    from kimi_vision_cli.schema import answer_caption

    return [
        Cue(s["start"], s["end"], answer_caption(s["text"], s.get("data"))) for s in result.segments or []
    ]


def subtitle_file(kind: str, result: Result) -> str:
    """The whole `vtt` or `srt` file of one result (a sidecar, or stdout)."""
    return WRITERS[kind](cues_of(result))


def labelled_text(result: Result, *, gap: str = "\n") -> str:
    """Text output of a segmented result: each segment's answer under its time span.
    `gap` between label and answer: Markdown (the terminal) needs a blank line, or the
    label runs into the answer's first line."""
    return "\n\n".join(f"{span_label(c.start, c.end)}{gap}{c.text.strip()}" for c in cues_of(result))
