"""A CMYK JPEG is sent as sRGB, through its ICC profile when it has one, and the record
says so (issue 19, item 15)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from kimi_vision_cli.media.image import ImageOptions, prepare_image
from tests.media import cmyk_icc_profile, cmyk_jpeg
from tests.test_describe_e2e import _sent_bytes


def _centre(data: bytes) -> tuple[str, tuple[int, ...]]:
    with Image.open(io.BytesIO(data)) as img:
        return img.mode, img.getpixel((img.width // 2, img.height // 2))


def test_a_cmyk_jpeg_with_a_profile_is_converted_through_it() -> None:
    img = prepare_image(cmyk_jpeg(icc=cmyk_icc_profile()), "image/jpeg", ImageOptions())
    mode, (r, g, b) = _centre(img.data)
    assert img.mime == "image/jpeg" and mode == "RGB" and img.color_converted == "cmyk-icc"
    # The profile maps every colour to Lab (60, 40, 20), a dull red; the formula would give cyan.
    assert r > g + 40 and r > b + 40, (r, g, b)
    assert Image.open(io.BytesIO(img.data)).info.get("icc_profile") is None  # not the CMYK profile


def test_a_cmyk_jpeg_without_a_profile_is_converted_by_formula() -> None:
    img = prepare_image(cmyk_jpeg(), "image/jpeg", ImageOptions())
    mode, (r, g, b) = _centre(img.data)
    assert mode == "RGB" and img.color_converted == "cmyk"
    assert r < 40 and g > 215 and b > 215, (r, g, b)  # cyan


def test_a_broken_profile_falls_back_to_the_formula() -> None:
    img = prepare_image(cmyk_jpeg(icc=b"\0" * 200), "image/jpeg", ImageOptions())
    assert _centre(img.data)[0] == "RGB" and img.color_converted == "cmyk"


def test_an_rgb_jpeg_is_untouched() -> None:
    data = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(data, format="JPEG")
    img = prepare_image(data.getvalue(), "image/jpeg", ImageOptions())
    assert img.data == data.getvalue() and img.color_converted is None


def test_describe_sends_rgb_and_the_record_says_so(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "print.jpg").write_bytes(cmyk_jpeg(icc=cmyk_icc_profile()))
    r = kv("describe", "print.jpg", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    (media,) = json.loads(r.stdout)["media"]
    assert media["color_converted"] == "cmyk-icc" and media["mime"] == "image/jpeg"
    mime, sent = _sent_bytes(fake.chat_requests[0])
    assert mime == "image/jpeg" and _centre(sent)[0] == "RGB"
