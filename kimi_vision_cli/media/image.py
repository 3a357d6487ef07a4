"""Image preparation with Pillow: bytes in, bytes out, no I/O.

Order matters: apply EXIF orientation, then fit inside the size bound (in the
image's own orientation), then drop metadata. An image that needs none of this
is returned byte for byte; a JPEG that only carries metadata is stripped at the
marker level so its pixels are never re-encoded.
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
from kimi_vision_cli.moonshot import IMAGE_RECOMMENDED

# Pillow's own guard is ~179 MP (warning) / 2x that (error). We refuse above the
# warning level: no honest photo is that large, and decoding it can eat gigabytes.
MAX_PIXELS = 178_956_970
_FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_MIME_FORMAT = {v: k for k, v in _FORMAT_MIME.items()}
_PHOTO_FORMATS = {"HEIF", "HEIC", "AVIF", "JPEG2000", "MPO"}  # converted to JPEG, others to PNG
_ORIENTATION = 0x0112
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
            _draft_jpeg(img, opts.max_size)
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
    orientation = _orientation(img)
    needs_rotate = orientation not in (1, None) and frames == 1
    orig_w, orig_h = result.original_width, result.original_height
    turned = needs_rotate and orientation in _QUARTER_TURNS
    upright = (orig_h, orig_w) if turned else (orig_w, orig_h)
    target = fit_within(upright, opts.max_size) if opts.resize else upright
    needs_resize = target != upright
    meta = [] if opts.keep_metadata else _metadata_kinds(img, fmt, data)
    # Four channels many decoders mishandle: sent as sRGB (issue 19, item 15). Frames of an
    # animation are converted one by one in _encode.
    cmyk = img.mode == "CMYK" and frames == 1

    if not (needs_convert or needs_rotate or needs_resize or meta or fmt == "MPO" or cmyk):
        return result  # byte for byte: nothing to change

    same_container = fmt in _CONTAINER_STRIP and _FORMAT_MIME.get(out_format) == result.mime
    if same_container and not (cmyk or needs_convert or needs_rotate or needs_resize):
        # Only metadata to drop: cut it at the container level, keep the pixels' bytes.
        if not opts.keep_metadata:
            result.data, _ = container_metadata(data, fmt)
        elif fmt == "MPO":
            result.data = data  # --keep-metadata: sent as the user has it
        result.stripped = meta
        return result

    if needs_resize and not (out_format in _ANIMATED and frames > 1):
        # Shrink first, then turn: the rotation copies the small image, not the full one.
        img = _shrink(img, (target[1], target[0]) if turned else target)
    if needs_rotate:
        img = ImageOps.exif_transpose(img)
        result.rotated = True
    if cmyk:
        from kimi_vision_cli.media.colour import cmyk_to_rgb

        img, result.color_converted = cmyk_to_rgb(img)
    if needs_resize:
        result.resized = True
    result.data = _encode(img, out_format, target, keep_metadata=opts.keep_metadata, frames=frames)
    result.mime = _FORMAT_MIME[out_format]
    result.width, result.height = target
    result.converted = needs_convert
    # Re-encoding drops EXIF/XMP/text unless asked to keep them; say what went.
    result.stripped = meta
    return result


_QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_ANIMATED = ("GIF", "WEBP", "PNG")  # output formats whose frames _encode resizes one by one
# Pillow's reducing_gap: a box reduce() by an integer factor first, then LANCZOS over the
# last factor of at least 2 (what Image.thumbnail does); it stays within a few levels of a
# LANCZOS-only resize (tests/test_prepare_quality.py) at a fraction of its cost.
_REDUCING_GAP = 2.0


def _orientation(img: Any) -> Any:
    """EXIF orientation as the file has it (any value but 1 is re-encoded); read from
    the header, so a JPEG is not decoded for it."""
    exif = img.getexif()
    return exif.get(_ORIENTATION, 1) if exif else 1


def _draft_jpeg(img: Any, bound: tuple[int, int]) -> None:
    """Decode a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when the size sent
    is at most that fraction of the original: an 8K photo bound to 4096x2160 decodes
    straight to 3840x2160, a quarter of the pixels and of the memory. The draft is never
    smaller than the target; LANCZOS does the rest."""
    w, h = img.size
    turned = _orientation(img) in _QUARTER_TURNS
    tw, th = fit_within((h, w) if turned else (w, h), bound)
    if turned:
        tw, th = th, tw
    if (tw, th) != (w, h):
        img.draft(None, (tw, th))


def _shrink(img: Any, size: tuple[int, int]) -> Any:
    from PIL import Image

    if img.size == size:
        return img  # a JPEG draft can land on the target exactly
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


def _load_all_frames(img: Any, frames: int) -> None:
    for i in range(frames):
        img.seek(i)
        img.load()
    img.seek(0)


def _metadata_kinds(img: Any, fmt: str, data: bytes) -> list[str]:
    """Which privacy-relevant metadata this image carries (the colour profile is not one):
    what Pillow sees, then what the container parsers find (vendor segments, trailers)."""
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
    if fmt in ("JPEG", "MPO") and any(k in info for k in ("photoshop", "iptc")):
        found.append("iptc")
    if fmt == "PNG":
        text_keys = [k for k in info if k not in _PNG_TECH_KEYS and isinstance(info[k], str)]
        if text_keys:
            found.append("text")
    if info.get("comment"):
        found.append("comment")
    try:
        _, container = container_metadata(data, fmt)
    except InputError:
        container = []
    found += [k for k in container if k not in found]
    return found


# Keys of img.info that Pillow writes back on save (comment in JPEG/GIF, XMP, EXIF).
_INFO_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc", "extension")


def _scrub(img: Any) -> Any:
    from PIL import ImageFile

    if isinstance(img, ImageFile.ImageFile) and img.format == "GIF":
        img = img.copy()  # a file-backed GIF re-reads its comment on load; a copy cannot
    for key in _INFO_METADATA:
        img.info.pop(key, None)
    return img


_PNG_TECH_KEYS = {"icc_profile", "gamma", "dpi", "transparency", "srgb", "chromaticity", "aspect"}


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


def _encode(img: Any, fmt: str, size: tuple[int, int], *, keep_metadata: bool, frames: int) -> bytes:
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
    img = _shrink(img, size)
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


# -- container-level stripping: the pixels' bytes are copied, never re-encoded -------

# JPEG segments kept: APP0 JFIF, APP2 ICC_PROFILE, APP14 Adobe (they change how the
# pixels look) and the decoding tables. Every other APPn (EXIF, XMP, IPTC, MPF, C2PA...)
# and COM goes: an allowlist, so an unknown vendor segment cannot carry a location out.
_JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}


def _jpeg_app_kind(marker: int, payload: bytes) -> str | None:
    """None when the segment is kept; else the name reported in `media.stripped`."""
    if marker == 0xFE:
        return "comment"
    if not 0xE0 <= marker <= 0xEF:
        return None  # SOF, DHT, DQT, DRI, SOS...: decoding needs them
    if marker == 0xE0 and payload.startswith(b"JFIF\0"):
        return None
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\0"):
        return None
    if marker == 0xEE and payload.startswith(b"Adobe"):
        return None
    if marker == 0xE1:
        return "exif" if payload.startswith(b"Exif\0") else "xmp" if b"adobe" in payload[:40] else "app1"
    if marker == 0xED:
        return "iptc"
    if marker == 0xE2 and payload.startswith(b"MPF\0"):
        return "mpf"
    return f"app{marker - 0xE0}"


def _entropy_end(data: bytes, i: int) -> int | None:
    """Where the entropy-coded data from `i` ends (its next real marker); None: no marker."""
    j, n = i, len(data)
    while True:
        j = data.find(b"\xff", j)
        if j < 0 or j + 1 >= n:
            return None
        nxt = data[j + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # byte stuffing, restart marker
            j += 2
        elif nxt == 0xFF:
            j += 1
        else:
            return j


def _segment_length(data: bytes, i: int, bad: InputError) -> int:
    """The length field of the segment whose marker is at `i` (it counts itself)."""
    if i + 4 > len(data):
        raise bad
    length = int.from_bytes(data[i + 2 : i + 4], "big")
    if length < 2 or i + 2 + length > len(data):
        raise InputError("malformed JPEG segment", hint="is the file complete?")
    return length


def _jpeg_strip(data: bytes) -> tuple[bytes, list[str]]:
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG stream")
    bad = InputError("malformed JPEG marker stream", hint="is the file complete?")
    out = bytearray(data[:2])
    kinds: list[str] = []
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            raise bad
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI: anything after it (motion-photo video, MPO frames) stays home
            out += b"\xff\xd9"
            if data[i + 2 :].strip(b"\0"):
                kinds.append("trailer")
            return bytes(out), kinds
        if marker in _JPEG_NO_LENGTH or marker == 0xD8:
            out += data[i : i + 2]
            i += 2
            continue
        length = _segment_length(data, i, bad)
        kind = _jpeg_app_kind(marker, data[i + 4 : i + 2 + length])
        if kind is None:
            out += data[i : i + 2 + length]
        elif kind not in kinds:
            kinds.append(kind)
        i += 2 + length
        if marker == 0xDA:  # entropy-coded data: copied as is up to the next real marker
            j = _entropy_end(data, i)
            if j is None:  # no EOI: keep what there is (Pillow decoded it)
                out += data[i:]
                return bytes(out), kinds
            out += data[i:j]
            i = j
    raise InputError("JPEG has no image data", hint="is the file complete?")


# PNG chunks kept: critical ones and those that change how pixels look or move (APNG).
# Text (tEXt/zTXt/iTXt, where XMP lives), eXIf, tIME and unknown chunks go.
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"pHYs", b"bKGD", b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_strip(data: bytes) -> tuple[bytes, list[str]]:
    if not data.startswith(_PNG_SIG):
        raise InputError("not a PNG stream")
    out = bytearray(_PNG_SIG)
    kinds: list[str] = []
    i, n = len(_PNG_SIG), len(data)
    while i + 12 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        ctype = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > n:
            break
        if ctype in _PNG_KEEP:
            out += data[i:end]
        else:
            if ctype in (b"tEXt", b"zTXt", b"iTXt"):
                kind = "xmp" if data[i + 8 : i + 8 + 17] == b"XML:com.adobe.xmp" else "text"
            else:
                kind = ctype.decode("latin-1").lower()
            if kind not in kinds:
                kinds.append(kind)
        i = end
        if ctype == b"IEND":
            return bytes(out), kinds
    raise InputError("PNG ends before IEND", hint="is the file complete?")


# WebP (RIFF) chunks kept; EXIF and XMP go and the VP8X flags stop announcing them.
_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}


def _webp_strip(data: bytes) -> tuple[bytes, list[str]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InputError("not a WebP stream")
    body = bytearray()
    kinds: list[str] = []
    i, n = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    vp8x_at = None
    while i + 8 <= n:
        ctype = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        end = i + 8 + size + (size & 1)
        if i + 8 + size > n:
            raise InputError("malformed WebP chunk", hint="is the file complete?")
        if ctype in _WEBP_KEEP:
            if ctype == b"VP8X":
                vp8x_at = len(body)
            body += data[i : min(end, n)]
        else:
            kind = ctype.decode("latin-1").strip().lower()
            if kind not in kinds:
                kinds.append(kind)
        i = end
    if vp8x_at is not None and len(body) > vp8x_at + 8:
        body[vp8x_at + 8] &= ~(0x08 | 0x04) & 0xFF  # EXIF and XMP flags
    head = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP"
    return head + bytes(body), kinds


_CONTAINER_STRIP = {"JPEG": _jpeg_strip, "MPO": _jpeg_strip, "PNG": _png_strip, "WEBP": _webp_strip}


def container_metadata(data: bytes, fmt: str) -> tuple[bytes, list[str]]:
    """(data without metadata, kinds dropped) at the container level; (data, []) when
    the format has no container stripper or there is nothing to drop."""
    strip = _CONTAINER_STRIP.get(fmt)
    if strip is None:
        return data, []
    stripped, kinds = strip(data)
    return (stripped, kinds) if kinds else (data, [])
