"""Image preparation with Pillow: bytes in, bytes out, no I/O.

Order matters: apply EXIF orientation, then fit inside the size bound (in the
image's own orientation), then drop metadata. An image that needs none of this
is returned byte for byte; a JPEG that only carries metadata is stripped at the
marker level so its pixels are never re-encoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any

from kimi_vision_cli.errors import InputError

# Pillow's own guard is ~179 MP (warning) / 2x that (error). We refuse above the
# warning level: no honest photo is that large, and decoding it can eat gigabytes.
MAX_PIXELS = 178_956_970
_FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_MIME_FORMAT = {v: k for k, v in _FORMAT_MIME.items()}
_PHOTO_FORMATS = {"HEIF", "HEIC", "AVIF", "JPEG2000", "MPO"}  # converted to JPEG, others to PNG
_ORIENTATION = 0x0112


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


@dataclass(frozen=True)
class ImageOptions:
    max_size: tuple[int, int] = (4096, 2160)
    resize: bool = True
    convert: bool = False
    keep_metadata: bool = False


_heif_registered = False


def _register_plugins() -> None:
    global _heif_registered
    if _heif_registered:
        return
    _heif_registered = True
    try:  # optional extra: HEIC/HEIF photos from phones
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:
        pass


def fit_within(size: tuple[int, int], bound: tuple[int, int]) -> tuple[int, int]:
    """Largest size with the same aspect ratio inside `bound` taken in the image's
    own orientation (a portrait image is bounded by the bound turned upright)."""
    w, h = size
    long_side, short_side = max(bound), min(bound)
    bw, bh = (long_side, short_side) if w >= h else (short_side, long_side)
    if w <= bw and h <= bh:
        return w, h
    scale = min(bw / w, bh / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def prepare_image(data: bytes, mime: str, opts: ImageOptions, *, name: str | None = None) -> PreparedImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_plugins()
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Any = Image.open(io.BytesIO(data))
            fmt = (img.format or "").upper()
            frames = getattr(img, "n_frames", 1)
            _load_all_frames(img, frames)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            "image has too many pixels (decompression bomb?)",
            input=name,
            hint=f"the limit is {MAX_PIXELS:,} pixels",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(
            f"cannot decode image ({mime}): {exc}", input=name, hint="is the file complete?"
        ) from None

    orig_w, orig_h = img.size
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

    exif = img.getexif()
    orientation = exif.get(_ORIENTATION, 1) if exif else 1
    needs_rotate = orientation not in (1, None) and frames == 1
    upright = (orig_h, orig_w) if orientation in (5, 6, 7, 8) else (orig_w, orig_h)
    target = fit_within(upright, opts.max_size) if opts.resize else upright
    needs_resize = target != upright
    meta = [] if opts.keep_metadata else _metadata_kinds(img, fmt)

    if not (needs_convert or needs_rotate or needs_resize or meta):
        return result  # byte for byte: nothing to change

    if out_format == "JPEG" and fmt == "JPEG" and not (needs_rotate or needs_resize):
        # Only metadata to drop: cut the marker segments, keep the pixels' bytes.
        result.data = strip_jpeg_metadata(data)
        result.stripped = meta
        return result

    if needs_rotate:
        img = ImageOps.exif_transpose(img)
        result.rotated = True
    if needs_resize:
        result.resized = True
    result.data = _encode(img, out_format, target, keep_metadata=opts.keep_metadata, frames=frames)
    result.mime = _FORMAT_MIME[out_format]
    result.width, result.height = target
    result.converted = needs_convert
    # Re-encoding drops EXIF/XMP/text unless asked to keep them; say what went.
    result.stripped = meta
    return result


def _load_all_frames(img, frames: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(frames):
        img.seek(i)
        img.load()
    img.seek(0)


def _metadata_kinds(img, fmt: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Which privacy-relevant metadata this image carries (the colour profile is not one)."""
    found: list[str] = []
    exif = img.getexif()
    if exif:
        try:
            gps = exif.get_ifd(0x8825)
        except Exception:  # malformed GPS IFD: still EXIF we drop
            gps = {}
        if gps:
            found.append("gps")
        found.append("exif")
    info = img.info
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        found.append("xmp")
    if fmt == "JPEG" and any(k in info for k in ("photoshop", "iptc")):
        found.append("iptc")
    if fmt == "PNG":
        text_keys = [k for k in info if k not in _PNG_TECH_KEYS and isinstance(info[k], str)]
        if text_keys:
            found.append("text")
    if fmt == "JPEG" and "comment" in info:
        found.append("comment")
    return found


_PNG_TECH_KEYS = {"icc_profile", "gamma", "dpi", "transparency", "srgb", "chromaticity", "aspect"}


def _encode(img, fmt: str, size: tuple[int, int], *, keep_metadata: bool, frames: int) -> bytes:  # type: ignore[no-untyped-def]
    from PIL import Image, ImageSequence

    icc = img.info.get("icc_profile")
    out = io.BytesIO()
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if keep_metadata:
        exif = img.getexif()
        if exif:
            exif.pop(_ORIENTATION, None)  # already applied to the pixels
            params["exif"] = exif.tobytes()
    if fmt == "GIF" and frames > 1:
        # Animated GIF: resize every frame, keep each frame's duration and the loop count.
        out_frames = []
        durations = []
        for frame in ImageSequence.Iterator(img):
            durations.append(frame.info.get("duration", img.info.get("duration", 100)))
            f = frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
            out_frames.append(f)
        out_frames[0].save(
            out, format="GIF", save_all=True, append_images=out_frames[1:],
            duration=durations, loop=img.info.get("loop", 0), disposal=2, optimize=False,
        )  # fmt: skip
        return out.getvalue()
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L", "CMYK"):
            img = img.convert("RGB")
        params.update(quality=90, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=90)
    elif fmt == "PNG":
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            img = img.convert("RGBA")
    elif fmt == "GIF" and img.mode not in ("P", "L"):
        img = img.convert("P", palette=Image.Palette.ADAPTIVE)
    img.save(out, format=fmt, **params)
    return out.getvalue()


# JPEG segments that carry metadata: APP1 (EXIF, XMP), APP12 (Ducky), APP13 (IPTC /
# Photoshop), COM. APP2 (ICC profile) and APP14 (Adobe colour transform) stay:
# they change how the pixels look.
_DROP_MARKERS = {0xE1, 0xEC, 0xED, 0xFE}


def strip_jpeg_metadata(data: bytes) -> bytes:
    """Drop metadata segments from a JPEG without touching the entropy-coded data."""
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG stream")
    out = bytearray(data[:2])
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise InputError("malformed JPEG marker stream", hint="is the file complete?")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan: the rest is image data
            out += data[i:]
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[i : i + 2]
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > n:
            raise InputError("malformed JPEG segment", hint="is the file complete?")
        if marker not in _DROP_MARKERS:
            out += data[i : i + 2 + length]
        i += 2 + length
    raise InputError("JPEG has no image data", hint="is the file complete?")
