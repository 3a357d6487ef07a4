"""Image pixels out: EXIF orientation, the size that fits the bound, a JPEG decoded at
reduced scale, resizing, and encoding without the metadata Pillow would write back.
No I/O.
"""

from __future__ import annotations

import io
from typing import Any

_ORIENTATION = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
ANIMATED = ("GIF", "WEBP", "PNG")  # output formats whose frames encode() resizes one by one
# Pillow's reducing_gap: a box reduce() by an integer factor first, then LANCZOS over the
# last factor of at least 2 (what Image.thumbnail does); it stays within a few levels of a
# LANCZOS-only resize (tests/test_prepare_quality.py) at a fraction of its cost.
_REDUCING_GAP = 2.0


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


def orientation(img: Any) -> Any:
    """EXIF orientation as the file has it (any value but 1 is re-encoded); read from
    the header, so a JPEG is not decoded for it."""
    exif = img.getexif()
    return exif.get(_ORIENTATION, 1) if exif else 1


def draft_jpeg(img: Any, bound: tuple[int, int]) -> None:
    """Decode a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when the size sent
    is at most that fraction of the original: an 8K photo bound to 4096x2160 decodes
    straight to 3840x2160, a quarter of the pixels and of the memory. The draft is never
    smaller than the target; LANCZOS does the rest."""
    w, h = img.size
    turned = orientation(img) in QUARTER_TURNS
    tw, th = fit_within((h, w) if turned else (w, h), bound)
    if turned:
        tw, th = th, tw
    if (tw, th) != (w, h):
        img.draft(None, (tw, th))


def shrink(img: Any, size: tuple[int, int]) -> Any:
    from PIL import Image

    if img.size == size:
        return img  # a JPEG draft can land on the target exactly
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


# Keys of img.info that Pillow writes back on save (comment in JPEG/GIF, XMP, EXIF).
_INFO_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc", "extension")


def _scrub(img: Any) -> Any:
    from PIL import ImageFile

    if isinstance(img, ImageFile.ImageFile) and img.format == "GIF":
        img = img.copy()  # a file-backed GIF re-reads its comment on load; a copy cannot
    for key in _INFO_METADATA:
        img.info.pop(key, None)
    return img


def _save_params(img: Any, keep_metadata: bool) -> dict[str, object]:
    """What the encoder keeps: the ICC profile, and the EXIF with --keep-metadata."""
    params: dict[str, object] = {}
    icc = img.info.get("icc_profile")
    if icc:
        params["icc_profile"] = icc
    if keep_metadata:
        exif = img.getexif()
        if exif:
            exif.pop(_ORIENTATION, None)  # already applied to the pixels
            params["exif"] = exif.tobytes()
    return params


def encode(img: Any, fmt: str, size: tuple[int, int], *, keep_metadata: bool, frames: int) -> bytes:
    from PIL import Image, ImageSequence

    out = io.BytesIO()
    params = _save_params(img, keep_metadata)
    if fmt in ("GIF", "WEBP", "PNG") and frames > 1:
        # Animation: resize every frame, keep each frame's duration and the loop count.
        out_frames = []
        durations = []
        for frame in ImageSequence.Iterator(img):
            durations.append(frame.info.get("duration", img.info.get("duration", 100)))
            f = frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
            out_frames.append(f if keep_metadata else _scrub(f))
        extra: dict[str, object] = {"disposal": 2, "optimize": False} if fmt == "GIF" else dict(params)
        out_frames[0].save(
            out, format=fmt, save_all=True, append_images=out_frames[1:],
            duration=durations, loop=img.info.get("loop", 0), **extra,
        )  # fmt: skip
        return out.getvalue()
    img = shrink(img, size)
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
    if not keep_metadata:
        # Pillow writes a comment or XMP from img.info back on save; the copy must not.
        img = _scrub(img)
    img.save(out, format=fmt, **params)
    return out.getvalue()
