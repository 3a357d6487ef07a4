"""sniff: bytes -> (mime, kind), from the content, never the name. Unit tests, no server."""

from __future__ import annotations

import pytest

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.media.sniff import sniff
from tests.media import animated_gif, image_bytes, video_bytes


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_images_the_api_takes(fmt: str, mime: str) -> None:
    info = sniff(image_bytes(20, 10, fmt), name="x.bin")
    assert (info.mime, info.kind) == (mime, "image")


def test_animated_gif_is_an_image() -> None:
    assert sniff(animated_gif()).kind == "image"


def test_mp4_is_a_video() -> None:
    info = sniff(video_bytes())
    assert info.kind == "video" and info.mime == "video/mp4"


def test_other_images_need_convert_and_say_so() -> None:
    bmp = image_bytes(8, 8, "BMP")
    with pytest.raises(InputError) as info:
        sniff(bmp, name="pic.bmp")
    assert info.value.input == "pic.bmp" and "--convert" in (info.value.hint or "")
    assert sniff(bmp, convert=True).kind == "image"


@pytest.mark.parametrize(
    ("data", "what"), [(b"", "file is empty"), (b"hello, world\n", "unsupported type text/plain")]
)
def test_not_media_is_refused_naming_the_type(data: bytes, what: str) -> None:
    with pytest.raises(InputError, match=what) as info:
        sniff(data, name="notes.png")
    assert info.value.exit_code == 2
