"""An inline video is held once while it is read, stripped and probed (issue 12, item 3).

A local file is read into a bytearray, its metadata boxes are blanked in place and PyAV
reads it through a view: no second or third copy of the video. tracemalloc counts the
Python allocations (PyAV's own buffers are FFmpeg's, not traced); the videos are padded
with a `free` box so that a copy of them stands far above everything else.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from kimi_vision_cli.buffers import ViewReader
from kimi_vision_cli.inputs.discover import read_path
from kimi_vision_cli.media.video import probe
from kimi_vision_cli.media.videometa import strip_bmff_metadata
from kimi_vision_cli.output.diagnostics import Diagnostics
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.terminal import Terminal
from kimi_vision_cli.types import Source
from tests.media import image_bytes, video_bytes

pytest.importorskip("av")

PLACE = "+48.8584+002.2945/"
PAD = 4 << 20  # a copy of the video is at least this much
T = TypeVar("T")


def padded(data: bytes, pad: int = PAD) -> bytes:
    """`data` with a top-level `free` box of `pad` zero bytes at the end (readers skip it)."""
    return data + struct.pack(">I4s", pad + 8, b"free") + bytes(pad)


def traced_peak(call: Callable[[], T]) -> tuple[T, int]:
    """call()'s result and the most Python memory it held at once, in bytes."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_bytearray_is_blanked_in_place() -> None:
    data = bytearray(padded(video_bytes(metadata={"location": PLACE, "make": "TestCam"})))
    (out, kinds), peak = traced_peak(lambda: strip_bmff_metadata(data))
    assert out is data
    assert "gps" in kinds and "metadata" in kinds
    assert PLACE.encode() not in data and b"TestCam" not in data
    assert peak < PAD // 4  # neither a mutable copy nor a final bytes copy


def test_bytes_are_copied_once_and_clean_input_comes_back_as_is() -> None:
    original = padded(video_bytes(metadata={"location": PLACE}))
    (out, kinds), peak = traced_peak(lambda: strip_bmff_metadata(original))
    assert "gps" in kinds and PLACE.encode() not in out and len(out) == len(original)
    assert peak < 1.5 * len(original)  # the one copy that blanks, no bytes(copy) after it
    for clean in (bytes(out), bytearray(out)):  # FFmpeg's own files carry an encoder tag
        same, none = strip_bmff_metadata(clean)
        assert same is clean and none == []


def test_probe_reads_a_bytearray_without_copying_it() -> None:
    data = bytearray(padded(video_bytes(w=64, h=48)))
    info, peak = traced_peak(lambda: probe(data, "clip.mp4"))
    assert (info.width, info.height, info.codec) == (64, 48, "h264")
    assert peak < PAD // 4  # io.BytesIO(bytearray) would have copied all of it
    data += b"\0"  # the view is released: the bytearray can be resized again


def test_a_local_video_is_read_stripped_and_probed_holding_one_copy(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(padded(video_bytes(metadata={"location": PLACE})))
    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    ctx = Context(Settings(), term, Diagnostics(term), offline=True)
    prepared, peak = traced_peak(lambda: prepare_source(Source("path", str(path)), ctx))
    size = path.stat().st_size
    assert peak < 1.5 * size  # it was 3x: the read, bytearray(data) and bytes(out)
    data = prepared.ref.data
    assert isinstance(data, bytearray) and len(data) == size
    assert PLACE.encode() not in data and "gps" in prepared.record["stripped"]
    assert prepared.record["width"] == 64  # probed


def test_a_local_image_is_still_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(image_bytes())
    term = Terminal(io.StringIO(), io.StringIO(), None, False, False, False, False)
    ctx = Context(Settings(), term, Diagnostics(term), offline=True)
    prepared = prepare_source(Source("path", str(tmp_path / "a.png")), ctx)
    assert type(prepared.ref.data) is bytes


def test_read_path_reads_the_whole_file_into_a_bytearray(tmp_path: Path) -> None:
    content = bytes(range(256)) * 4099
    (tmp_path / "f.bin").write_bytes(content)
    data = read_path(str(tmp_path / "f.bin"))
    assert isinstance(data, bytearray) and data == content
    data += b"x"  # no view of it left behind


def test_view_reader_reads_seeks_and_releases() -> None:
    data = bytearray(b"0123456789")
    with ViewReader(data) as f:
        assert f.read(3) == b"012" and f.tell() == 3
        assert f.seek(-2, io.SEEK_END) == 8 and f.read() == b"89" and f.read(5) == b""
        buf = bytearray(4)
        assert f.seek(1) == 1 and f.readinto(buf) == 4 and buf == b"1234"
        assert f.seek(2, io.SEEK_CUR) == 7 and f.read(10) == b"789"
        with pytest.raises(ValueError, match="negative seek position"):
            f.seek(-1)
    data += b"!"  # closed: the view no longer pins the bytearray's size
    assert data == b"0123456789!"
