"""Image preparation with Pillow: bytes in, bytes out, no I/O.

Order matters: apply EXIF orientation, then fit inside the size bound (in the
image's own orientation), then drop metadata. An image that needs none of this
is returned byte for byte; a JPEG that only carries metadata is stripped at the
marker level so its pixels are never re-encoded. This module decodes and decides;
media/pixels.py turns, resizes and encodes; media/imagemeta.py finds and strips metadata.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.media.imagemeta import CONTAINER_STRIP, container_metadata, metadata_kinds
from kimi_vision_cli.media.pixels import (
    ANIMATED,
    QUARTER_TURNS,
    draft_jpeg,
    encode,
    fit_within,
    orientation,
    shrink,
)
from kimi_vision_cli.moonshot import IMAGE_RECOMMENDED

# Pillow's own guard is ~179 MP (warning) / 2x that (error). We refuse above the
# warning level: no honest photo is that large, and decoding it can eat gigabytes.
MAX_PIXELS = 178_956_970
_FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_MIME_FORMAT = {v: k for k, v in _FORMAT_MIME.items()}
_PHOTO_FORMATS = {"HEIF", "HEIC", "AVIF", "JPEG2000", "MPO"}  # converted to JPEG, others to PNG
# What Pillow raises on corrupt input (found by tests/test_fuzz_prepare.py): plugins
# index, unpack and divide bytes they trust. Turned into InputError, exit 2.
_PILLOW_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
    ZeroDivisionError, struct.error, OverflowError, RecursionError,
    AttributeError,  # a mutated EXIF tag of the wrong type: "'IFDRational' object has no attribute 'encode'"
)  # fmt: skip


_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def pillow_reason(exc: BaseException) -> str:
    """Pillow's message without the Python reprs some carry (`<_io.BytesIO object at
    0x7f...>`, issue 19, item 16): the user gave a file, not an object."""
    return _REPR.sub("", str(exc)).strip() or type(exc).__name__


@dataclass
class PreparedImage:
    data: bytes
    mime: str
    width: int
    height: int
    original_width: int
    original_height: int
    original_mime: str
    original_bytes: int
    resized: bool = False
    rotated: bool = False
    converted: bool = False
    stripped: list[str] = field(default_factory=list)
    color_converted: str | None = None  # "cmyk-icc" | "cmyk": a CMYK image sent as sRGB (media/colour.py)


@dataclass(frozen=True)
class ImageOptions:
    max_size: tuple[int, int] = IMAGE_RECOMMENDED
    resize: bool = True
    convert: bool = False
    keep_metadata: bool = False


_warnings_filtered = False
_heif_lock = threading.Lock()
_heif_registered = False


def _register_plugins(mime: str) -> None:
    global _warnings_filtered
    if not _warnings_filtered:
        _warnings_filtered = True
        # Pillow warns on stderr about corrupt EXIF ("Corrupt EXIF data..."): not one line of
        # ours, and the image still decodes. A process-wide filter, because catch_warnings
        # is not thread-safe and describe prepares inputs in worker threads.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"PIL\.")
    if mime not in _MIME_FORMAT:  # PNG/JPEG/WebP/GIF are Pillow's own: no pillow_heif (~10 ms)
        _register_heif()


def _register_heif() -> None:
    global _heif_registered
    with _heif_lock:  # another worker must not open a HEIC before the opener is in
        if _heif_registered:
            return
        _heif_registered = True
        try:  # optional extra: HEIC/HEIF photos from phones
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            pass


def prepare_image(data: bytes, mime: str, opts: ImageOptions, *, name: str | None = None) -> PreparedImage:
    from PIL import Image

    _register_plugins(mime)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    if mime == "image/png":
        from kimi_vision_cli.media.pngcheck import check_png_crcs

        check_png_crcs(data, name=name)
    img, fmt, frames, orig_size = _decode(data, mime, opts, name)
    orig_w, orig_h = orig_size
    result = PreparedImage(
        data=data, mime=mime, width=orig_w, height=orig_h, original_width=orig_w,
        original_height=orig_h, original_mime=mime, original_bytes=len(data),
    )  # fmt: skip
    out_format = fmt if _FORMAT_MIME.get(fmt) == mime else _MIME_FORMAT.get(mime)
    needs_convert = out_format is None
    if needs_convert and not opts.convert:
        raise InputError(f"unsupported image type {mime}", input=name, hint="pass --convert")
    if needs_convert:
        out_format = "JPEG" if fmt in _PHOTO_FORMATS else "PNG"
    assert out_format is not None

    try:
        return _prepare_decoded(img, data, fmt, out_format, needs_convert, frames, opts, result)
    except InputError:
        raise
    except _PILLOW_ERRORS as exc:
        # Corrupt metadata or frames can fail late (EXIF parse, transpose, re-encode).
        raise _undecodable(mime, exc, name) from None


def _decode(
    data: bytes, mime: str, opts: ImageOptions, name: str | None
) -> tuple[Any, str, int, tuple[int, int]]:
    """The image decoded (a JPEG in draft mode at about the size it is sent), its format,
    frame count and original size; refused with one line when it cannot be."""
    from PIL import Image, UnidentifiedImageError

    try:
        img: Any = Image.open(io.BytesIO(data))
        # Checked before decoding: Pillow only warns below twice its own limit.
        if img.size[0] * img.size[1] > MAX_PIXELS:
            raise Image.DecompressionBombError(f"{img.size[0]}x{img.size[1]}")
        fmt = (img.format or "").upper()
        frames = getattr(img, "n_frames", 1)
        if frames * img.size[0] * img.size[1] > MAX_PIXELS:  # thousands of frames: the same bomb
            raise Image.DecompressionBombError(f"{frames} frames of {img.size[0]}x{img.size[1]}")
        orig_size = img.size  # a JPEG draft decodes smaller: img.size changes below
        if fmt == "JPEG" and frames == 1 and opts.resize:
            draft_jpeg(img, opts.max_size)
        _load_all_frames(img, frames)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            "image has too many pixels (decompression bomb?)",
            input=name,
            hint=f"the limit is {MAX_PIXELS:,} pixels",
        ) from None
    except UnidentifiedImageError:
        # Pillow's message holds a Python repr (`<_io.BytesIO object at 0x...>`): never shown.
        known = mime in _MIME_FORMAT  # a PNG/JPEG/WebP/GIF by its signature: a damaged one
        raise InputError(
            f"cannot decode image ({mime}): "
            + ("its header is damaged or not one Pillow reads" if known else "not a format Pillow can read"),
            input=name,
            hint="is the file complete? Re-export it" if known else "export it as PNG or JPEG first",
        ) from None
    except _PILLOW_ERRORS as exc:
        raise _undecodable(mime, exc, name) from None
    return img, fmt, frames, orig_size


def _undecodable(mime: str, exc: BaseException, name: str | None) -> InputError:
    """Pillow could not read the image: one line, with Pillow's reason (no repr)."""
    return InputError(
        f"cannot decode image ({mime}): {pillow_reason(exc)}", input=name, hint="is the file complete?"
    )


def _prepare_decoded(
    img: Any, data: bytes, fmt: str, out_format: str, needs_convert: bool, frames: int,
    opts: ImageOptions, result: PreparedImage,
) -> PreparedImage:  # fmt: skip
    from PIL import ImageOps

    if fmt == "MPO":
        frames = 1  # a phone's multi-picture JPEG: only the first picture is sent
    turn = orientation(img)
    needs_rotate = turn not in (1, None) and frames == 1
    orig_w, orig_h = result.original_width, result.original_height
    turned = needs_rotate and turn in QUARTER_TURNS
    upright = (orig_h, orig_w) if turned else (orig_w, orig_h)
    target = fit_within(upright, opts.max_size) if opts.resize else upright
    needs_resize = target != upright
    meta = [] if opts.keep_metadata else metadata_kinds(img, fmt, data)
    # Four channels many decoders mishandle: sent as sRGB (issue 19, item 15). Frames of an
    # animation are converted one by one in encode().
    cmyk = img.mode == "CMYK" and frames == 1

    if not (needs_convert or needs_rotate or needs_resize or meta or fmt == "MPO" or cmyk):
        return result  # byte for byte: nothing to change

    same_container = fmt in CONTAINER_STRIP and _FORMAT_MIME.get(out_format) == result.mime
    if same_container and not (cmyk or needs_convert or needs_rotate or needs_resize):
        # Only metadata to drop: cut it at the container level, keep the pixels' bytes.
        if not opts.keep_metadata:
            result.data, _ = container_metadata(data, fmt)
        elif fmt == "MPO":
            result.data = data  # --keep-metadata: sent as the user has it
        result.stripped = meta
        return result

    if needs_resize and not (out_format in ANIMATED and frames > 1):
        # Shrink first, then turn: the rotation copies the small image, not the full one.
        img = shrink(img, (target[1], target[0]) if turned else target)
    if needs_rotate:
        img = ImageOps.exif_transpose(img)
        result.rotated = True
    if cmyk:
        from kimi_vision_cli.media.colour import cmyk_to_rgb

        img, result.color_converted = cmyk_to_rgb(img)
    if needs_resize:
        result.resized = True
    result.data = encode(img, out_format, target, keep_metadata=opts.keep_metadata, frames=frames)
    result.mime = _FORMAT_MIME[out_format]
    result.width, result.height = target
    result.converted = needs_convert
    # Re-encoding drops EXIF/XMP/text unless asked to keep them; say what went.
    result.stripped = meta
    return result


def _load_all_frames(img: Any, frames: int) -> None:
    for i in range(frames):
        img.seek(i)
        img.load()
    img.seek(0)
