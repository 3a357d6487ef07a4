"""Property test (issue 6): random and mutated bytes through sniff + prepare raise only
our typed errors (KimiVisionError), never another exception."""

from __future__ import annotations

import contextlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from kimi_vision_cli.errors import KimiVisionError
from kimi_vision_cli.media.image import ImageOptions, prepare_image
from kimi_vision_cli.media.imagemeta import container_metadata
from kimi_vision_cli.media.sniff import sniff
from kimi_vision_cli.media.videometa import strip_bmff_metadata
from tests.media import animated_gif, image_bytes, jpeg_with_exif, video_bytes


def _webp() -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x8825] = {1: "N"}
    Image.new("RGB", (12, 9), (5, 6, 7)).save(out, format="WEBP", exif=exif.tobytes(), xmp=b"<x/>")
    return out.getvalue()


def _png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x")
    out = io.BytesIO()
    Image.new("RGBA", (10, 7)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


SEEDS = [
    image_bytes(16, 12, "PNG"),
    image_bytes(16, 12, "JPEG"),
    image_bytes(16, 12, "GIF"),
    jpeg_with_exif(16, 12, orientation=6),
    jpeg_with_exif(16, 12, orientation=3, icc=b"\0" * 64),
    animated_gif(10, 8, frames=2),
    _webp(),
    _png_with_text(),
]
OPTIONS = [
    ImageOptions(),
    ImageOptions(max_size=(8, 8)),
    ImageOptions(keep_metadata=True, max_size=(8, 8)),
    ImageOptions(convert=True, resize=False),
]


def mutated() -> st.SearchStrategy[bytes]:
    return st.sampled_from(SEEDS).flatmap(mutated_from)


@st.composite
def mutated_from(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
    return bytes(data)


def check(data: bytes, opts: ImageOptions) -> None:
    try:
        info = sniff(data, convert=opts.convert, name="fuzz")
        if info.kind == "image":
            prepare_image(data, info.mime, opts, name="fuzz")
    except KimiVisionError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated(), opts=st.sampled_from(OPTIONS))
def test_mutated_media_only_typed_errors(data: bytes, opts: ImageOptions) -> None:
    check(data, opts)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=512), opts=st.sampled_from(OPTIONS))
def test_random_bytes_only_typed_errors(data: bytes, opts: ImageOptions) -> None:
    check(data, opts)


@settings(max_examples=300, deadline=None)
@given(data=mutated(), fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "MPO", "GIF"]))
def test_container_strippers_only_typed_errors(data: bytes, fmt: str) -> None:
    with contextlib.suppress(KimiVisionError):
        container_metadata(data, fmt)


def test_bombs_refused_before_decoding() -> None:
    import pytest

    from kimi_vision_cli.errors import InputError
    from tests.scenarios import bomb_png

    # 225 MP: above our limit but below twice Pillow's, where Pillow only warns.
    for data in (bomb_png(15_000, 15_000), bomb_png(100_000, 100_000)):
        with pytest.raises(InputError, match="too many pixels"):
            prepare_image(data, "image/png", ImageOptions(), name="bomb.png")


VIDEO_SEEDS = [
    video_bytes(16, 12, 2, fmt="mov", metadata={"location": "+01.0000+002.0000/"}),
    video_bytes(16, 12, 2, fmt="mp4", metadata={"location": "+01.0000+002.0000/", "make": "X"}),
]


@settings(max_examples=300, deadline=None)
@given(data=st.sampled_from(VIDEO_SEEDS).flatmap(mutated_from))
def test_video_metadata_stripper_total_and_idempotent(data: bytes) -> None:
    """Any bytes: no exception, same length (nothing moves), and a second pass finds nothing."""
    out, _ = strip_bmff_metadata(data)
    assert len(out) == len(data)
    again, kinds = strip_bmff_metadata(out)
    assert kinds == [] and again == out
