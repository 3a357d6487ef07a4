"""sniff: bytes -> (mime, kind), from the content, never the name. Unit tests, no server."""

from __future__ import annotations

import io

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.media.sniff import detect_mime, sniff
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


@pytest.mark.parametrize(
    ("fmt", "kw"),
    [("PNG", {}), ("PNG", {"save_all": True}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}),
     ("GIF", {"save_all": True}), ("WEBP", {}), ("WEBP", {"lossless": True}), ("WEBP", {"save_all": True})],
)  # fmt: skip
def test_the_signature_shortcut_names_what_libmagic_names(fmt: str, kw: dict) -> None:
    """sniff reads the four formats Moonshot takes from their signatures, without loading
    libmagic (issue 12: start-up): it must never disagree with libmagic. save_all: animated."""
    import magic
    from PIL import Image

    frames = [Image.new("RGB", (16, 12), (i * 60, 20, 200)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, fmt, **kw, **({"append_images": frames[1:]} if kw.get("save_all") else {}))
    assert detect_mime(out.getvalue()) == magic.from_buffer(out.getvalue(), mime=True)


@given(st.sampled_from([b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF"]),
       st.binary(max_size=40), st.binary(min_size=4, max_size=4))  # fmt: skip
@example(b"\xff\xd8\xff", b"", b"\0\0\0\0")  # the bare JPEG marker: libmagic says text/plain
@example(b"RIFF", b"", b"moov")  # a RIFF size that spells a QuickTime atom: video/quicktime
@settings(max_examples=300, deadline=None)
def test_the_signature_shortcut_agrees_with_libmagic_on_any_tail(
    head: bytes, tail: bytes, size: bytes
) -> None:
    import magic

    data = head + size + b"WEBP" + tail if head == b"RIFF" else head + tail
    assert detect_mime(data) == magic.from_buffer(data, mime=True)
