"""`batch submit --segment` (issue 23): each part of a video goes into the batch as its
own request, and `batch results` joins their answers back into the video's one record,
the very record `describe --segment` makes (so the same VTT, SRT and JSONL).

A video's parts travel together, in one batch file: `video_lines` gives them as one
block, which flows/batch.py never splits across files. Each part's custom_id is the
video's with `-pNNNN` after its first field (`part_id`); the batch's manifest keeps, per
part, its start, end and label (`segments`), which is all `join_parts` needs.
"""

from __future__ import annotations

import json
from typing import Any

from kimi_vision_cli.errors import APIError
from kimi_vision_cli.output.records import Result
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.types import Source

PartInfo = dict[str, list[Any]]  # custom_id -> [start, end, label]


def part_id(video: str, index: int) -> str:
    """The custom_id of part `index`: `-pNNNN` after the video's first field, so an id
    that goes on after a `:` (the input named in it) keeps its tail as it was."""
    head, sep, tail = video.partition(":")
    return f"{head}-p{index:04d}{sep}{tail}"


def video_id(part: str) -> str:
    """The video's custom_id from one of its parts' (part_id undone)."""
    head, sep, tail = part.partition(":")
    return f"{head.rsplit('-p', 1)[0]}{sep}{tail}"


def video_lines(custom_id: str, source: Source, ctx: Context) -> tuple[bytes, PartInfo]:
    """Every part's JSONL line (one block) and what the manifest keeps of each. Raises
    the KimiVisionError of a part that cannot be cut or prepared: the video fails whole."""
    from kimi_vision_cli.flows.segments import label, segments_of

    block: list[bytes] = []
    parts: PartInfo = {}
    for i, (seg, planned) in enumerate(segments_of(source, ctx, batch=True)):
        cid = part_id(custom_id, i)
        line = {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": planned.body}
        block.append((json.dumps(line, ensure_ascii=False) + "\n").encode())
        parts[cid] = [seg.start, seg.end, label(source.display, seg.start, seg.end)]
    return b"".join(block), parts


def join_parts(records: dict[str, Result], sources: dict[str, Source], parts: PartInfo, model: str) -> None:
    """In place: each video's part records become its one record (and its source), keyed
    by the video's custom_id; a failed part fails the video, as in describe --segment."""
    from kimi_vision_cli.flows.segments import joined

    videos: dict[str, list[str]] = {}
    for cid in sorted(parts):
        videos.setdefault(video_id(cid), []).append(cid)
    for video, cids in videos.items():
        times = [(float(parts[c][0]), float(parts[c][1])) for c in cids]
        missing = APIError("no result in the batch output")
        results: list[Result | None] = [
            records.pop(c, None) or Result(str(parts[c][2]), model, error=missing) for c in cids
        ]
        first = sources.get(cids[0])
        name = first.display if first is not None else str(parts[cids[0]][2]).rsplit(" [", 1)[0]
        records[video] = joined(name, model, times, results)
        if cids[0] in sources:
            sources[video] = sources[cids[0]]
        for c in cids:
            sources.pop(c, None)
