"""The fast paths of image preparation (issue 12, item 2) send what the slow one sent.

A JPEG bound to at most half its size is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's
DCT scaling); other formats are box-reduced by an integer factor before the final
LANCZOS (Pillow's reducing_gap). Each test compares the result against a full-quality
reference (full decode, EXIF rotation, LANCZOS straight to the target) by the mean
absolute difference per channel, in levels of 0-255.
"""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat

from kimi_vision_cli.media.image import ImageOptions, prepare_image

# A JPEG is re-encoded at quality 90 whichever way it was decoded, and on this grainy
# test photo that alone costs 2-5 levels; the fast path may add at most JPEG_EXTRA on top
# of what the slow path sends (measured: 0.0-0.2). A PNG is lossless: the box reduce
# alone shows (measured: 0.35-0.45). A wrong orientation, a shift or blocks measure 20+.
JPEG_EXTRA = 0.5
PNG_MAX = 1.0


def photo(w: int, h: int, seed: int = 1) -> Image.Image:
    """Gradients, hard-edged shapes and a little grain: detail at every scale, like a
    photo, so that a poor downscale shows in the difference."""
    rng = random.Random(seed)
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, s = rng.randrange(w), rng.randrange(h), rng.randrange(w // 40, w // 5)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse([x, y, x + s, y + s // 2], fill=colour)
        draw.line([(rng.randrange(w), rng.randrange(h)), (rng.randrange(w), rng.randrange(h))], colour, 3)
    grain = Image.effect_noise((w, h), 24).convert("RGB")
    return Image.blend(img, grain, 0.1)


def encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def reference(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The slow way: every pixel decoded, turned upright, LANCZOS to the size sent."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        upright = ImageOps.exif_transpose(img)
        return upright.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def slow_path_jpeg(ref: Image.Image) -> Image.Image:
    """What the full-decode path sends: the reference, re-encoded as prepare_image does."""
    return Image.open(io.BytesIO(encode(ref, "JPEG", quality=90, optimize=True)))


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    stat = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    return sum(stat.mean) / len(stat.mean)


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size each JPEG was decoded at (its draft size, once load() runs)."""
    from PIL import JpegImagePlugin

    sizes: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def load(self: Any) -> Any:
        if self.tile:  # still to decode (load() is called again once the pixels are there)
            sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    return sizes


@pytest.fixture
def reduce_factors(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    factors: list[Any] = []
    original = Image.Image.reduce

    def reduce(self: Image.Image, factor: Any, box: Any = None) -> Image.Image:
        factors.append(factor)
        return original(self, factor, box)

    monkeypatch.setattr(Image.Image, "reduce", reduce)
    return factors


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@pytest.mark.parametrize(
    ("stored", "orientation", "bound", "sent", "draft"),
    [
        ((1600, 1200), 1, (400, 300), (400, 300), (400, 300)),  # 1/4 scale, exactly the target
        ((1600, 1200), 1, (700, 500), (667, 500), (800, 600)),  # 1/2 scale, then LANCZOS
        # Stored landscape, shown portrait (EXIF 6): bounded upright, drafted as stored.
        ((1600, 1200), 6, (400, 300), (300, 400), (400, 300)),
        ((1200, 1600), 1, (640, 360), (360, 480), (600, 800)),  # a portrait photo, 1/2 scale
        ((1200, 1600), 1, (400, 300), (300, 400), (300, 400)),  # and at 1/4
    ],
)
def test_jpeg_draft_decode_matches_the_full_decode(
    decoded_sizes: list[tuple[int, int]],
    stored: tuple[int, int],
    orientation: int,
    bound: tuple[int, int],
    sent: tuple[int, int],
    draft: tuple[int, int],
) -> None:
    data = encode(photo(*stored), "JPEG", quality=92, exif=exif_orientation(orientation))
    out = prepare_image(data, "image/jpeg", ImageOptions(max_size=bound), name="p.jpg")
    assert (out.width, out.height) == sent and out.resized
    assert out.rotated == (orientation != 1)
    assert (out.original_width, out.original_height) == stored
    assert decoded_sizes == [draft]  # never the full size
    with Image.open(io.BytesIO(out.data)) as got:
        assert got.size == sent
        ref = reference(data, sent)
        assert mean_diff(got, ref) <= mean_diff(slow_path_jpeg(ref), ref) + JPEG_EXTRA


def test_jpeg_under_half_the_source_is_decoded_whole(decoded_sizes: list[tuple[int, int]]) -> None:
    data = encode(photo(800, 600), "JPEG", quality=92)
    out = prepare_image(data, "image/jpeg", ImageOptions(max_size=(500, 500)), name="p.jpg")
    assert (out.width, out.height) == (500, 375) and decoded_sizes == [(800, 600)]
    with Image.open(io.BytesIO(out.data)) as got:
        ref = reference(data, (500, 375))
        assert mean_diff(got, ref) <= mean_diff(slow_path_jpeg(ref), ref) + JPEG_EXTRA


def test_jpeg_no_resize_is_decoded_whole_and_sent_as_is(decoded_sizes: list[tuple[int, int]]) -> None:
    data = encode(photo(1600, 1200), "JPEG", quality=92)
    out = prepare_image(data, "image/jpeg", ImageOptions(max_size=(400, 300), resize=False), name="p.jpg")
    assert out.data == data and decoded_sizes == [(1600, 1200)]


@pytest.mark.parametrize(
    ("stored", "bound", "sent", "factor"),
    [
        ((2400, 1600), (300, 300), (300, 200), (4, 4)),  # 8x: box-reduce 4x, LANCZOS 2x
        ((1600, 2400), (640, 360), (360, 540), (2, 2)),  # portrait, 4.4x: reduce 2x first
    ],
)
def test_png_reduce_then_lanczos_matches_lanczos_alone(
    reduce_factors: list[Any],
    stored: tuple[int, int],
    bound: tuple[int, int],
    sent: tuple[int, int],
    factor: tuple[int, int],
) -> None:
    data = encode(photo(*stored), "PNG", compress_level=1)
    out = prepare_image(data, "image/png", ImageOptions(max_size=bound), name="p.png")
    assert (out.width, out.height) == sent and out.mime == "image/png"
    assert reduce_factors == [factor]
    with Image.open(io.BytesIO(out.data)) as got:
        assert mean_diff(got, reference(data, sent)) < PNG_MAX


def test_png_with_exif_rotation_shrinks_then_turns(reduce_factors: list[Any]) -> None:
    data = encode(photo(2400, 1600), "PNG", compress_level=1, exif=exif_orientation(8))
    out = prepare_image(data, "image/png", ImageOptions(max_size=(300, 300)), name="p.png")
    assert (out.width, out.height) == (200, 300) and out.rotated and reduce_factors == [(4, 4)]
    with Image.open(io.BytesIO(out.data)) as got:
        assert mean_diff(got, reference(data, (200, 300))) < PNG_MAX
