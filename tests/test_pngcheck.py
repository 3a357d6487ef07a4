"""Images refused cleanly: PNG chunk CRCs checked before Pillow decodes (issue 19, item 14),
and Pillow's reasons shown without Python reprs (item 16)."""

from __future__ import annotations

import pytest

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.media.pngcheck import check_png_crcs
from tests.media import animated_gif, image_bytes


def _apng() -> bytes:
    import io

    from PIL import Image

    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    return out.getvalue()


@pytest.mark.parametrize("make", [lambda: image_bytes(30, 20, "PNG"), _apng])
def test_an_intact_png_passes_as_bytes_and_bytearray(make) -> None:  # type: ignore[no-untyped-def]
    data = make()
    check_png_crcs(data)
    check_png_crcs(bytearray(data))


def test_a_changed_byte_in_any_chunk_is_refused_naming_the_chunk() -> None:
    data = image_bytes(30, 20, "PNG")
    for kind in (b"IHDR", b"IDAT", b"IEND"):
        bad = bytearray(data)
        bad[bad.index(kind) + 3] ^= 0x20  # the last letter of the type: the CRC covers it too
        with pytest.raises(InputError, match=r"chunk at byte .* fails its CRC check") as info:
            check_png_crcs(bad, name="x.png")
        assert info.value.input == "x.png"


def test_a_cut_file_and_other_formats_are_left_to_the_decoder() -> None:
    data = image_bytes(30, 20, "PNG")
    check_png_crcs(data[: len(data) // 2])  # truncated: Pillow reports it
    check_png_crcs(animated_gif())


def test_pillow_reasons_never_show_a_python_repr() -> None:
    """Issue 19, item 16: Pillow names the BytesIO it was given in some messages."""
    from kimi_vision_cli.media.image import pillow_reason

    assert pillow_reason(OSError("cannot identify image file <_io.BytesIO object at 0x7f60a20b9fd0>")) == (
        "cannot identify image file"
    )
    assert pillow_reason(SyntaxError("broken PNG file")) == "broken PNG file"
    assert pillow_reason(IndexError()) == "IndexError"
