"""CMYK images to RGB before sending (issue 19, item 15).

A CMYK JPEG (print workflows, stock photos) holds four channels that many decoders
mishandle: inverted, oversaturated, or refused. It is converted to sRGB through its
embedded ICC profile with LittleCMS (Pillow's ImageCms), the way a colour-managed
viewer shows it; without a usable profile, with Pillow's plain formula. The `media`
record says which (`color_converted`, docs/output.md).
"""

from __future__ import annotations

import io
from typing import Any

# `color_converted` values: through the file's own profile, or by formula.
CMYK_ICC = "cmyk-icc"
CMYK_PLAIN = "cmyk"


def cmyk_to_rgb(img: Any) -> tuple[Any, str]:
    """(an RGB image, how it was converted) for a CMYK image; its CMYK profile is dropped
    from the result's info, since the pixels are sRGB now."""
    icc = img.info.get("icc_profile")
    out = None
    how = CMYK_PLAIN
    if icc:
        from PIL import ImageCms

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            how = CMYK_ICC
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            out = None  # a broken or non-CMYK profile: the formula below
    if out is None:
        out = img.convert("RGB")
        how = CMYK_PLAIN
    out.info = {k: v for k, v in img.info.items() if k != "icc_profile"}
    return out, how
