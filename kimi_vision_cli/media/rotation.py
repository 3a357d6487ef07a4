"""Turn decoded video frames upright (issue 23).

A phone stores a portrait clip as landscape pictures plus a display matrix saying how
to turn them. Copying packets keeps the matrix; re-encoding (--downscale-video, a
re-encoded segment) used to drop it and send the model a sideways clip. Here the
pixels themselves are turned, with FFmpeg's own transpose/flip filters, so the new
clip is upright with no matrix to honour (whatever reads it).

`rotation` is PyAV's `VideoFrame.rotation`: the degrees by which the display matrix
turns the picture counterclockwise, in [-180, 180].
"""

from __future__ import annotations

from typing import Any

# Counterclockwise degrees -> the filters that turn the picture that way (FFmpeg's own
# choice in fftools' autorotate: transpose=cclock for 90 ccw, clock for 90 cw).
_FILTERS: dict[int, list[tuple[str, str | None]]] = {
    90: [("transpose", "cclock")],
    180: [("hflip", None), ("vflip", None)],
    270: [("transpose", "clock")],
}


def quarter_turns(rotation: float | None) -> int:
    """0, 90, 180 or 270: the counterclockwise turn, to the nearest quarter."""
    return round((rotation or 0) / 90) % 4 * 90


def upright_size(width: int, height: int, rotation: float | None) -> tuple[int, int]:
    """The size as displayed: sides swapped by a quarter turn."""
    return (height, width) if quarter_turns(rotation) in (90, 270) else (width, height)


class Upright:
    """Turns each frame as its display matrix says; frames already upright pass as they are.

    The filter graph is built from the first frame that needs turning (its size, pixel
    format and time base), and frame times pass through unchanged."""

    def __init__(self, av: Any):
        self.av = av
        self.graphs: dict[int, tuple[Any, Any, Any]] = {}

    def __call__(self, frame: Any) -> Any:
        turn = quarter_turns(frame.rotation)
        if turn == 0:
            return frame
        if turn not in self.graphs:
            self.graphs[turn] = self._graph(frame, turn)
        _graph, src, sink = self.graphs[turn]
        src.push(frame)
        return sink.pull()

    def _graph(self, frame: Any, turn: int) -> tuple[Any, Any, Any]:
        # The graph is kept with its ends: freed, it frees the filters they point to (a segfault).
        graph = self.av.filter.Graph()
        src = graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format.name, time_base=frame.time_base
        )
        last = src
        for name, arg in _FILTERS[turn]:
            node = graph.add(name, arg) if arg else graph.add(name)
            last.link_to(node)
            last = node
        sink = graph.add("buffersink")
        last.link_to(sink)
        graph.configure()
        return graph, src, sink
