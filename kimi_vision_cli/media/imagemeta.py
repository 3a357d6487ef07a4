"""Image metadata: what an image carries that says where and who (EXIF, GPS, XMP, IPTC,
text, vendor segments, trailers), and dropping it at the container level, where the
pixels' bytes are copied, never re-encoded (JPEG/MPO, PNG, WebP). No I/O.
"""

from __future__ import annotations

from typing import Any

from kimi_vision_cli.errors import InputError

_PNG_TECH_KEYS = {"icc_profile", "gamma", "dpi", "transparency", "srgb", "chromaticity", "aspect"}


def metadata_kinds(img: Any, fmt: str, data: bytes) -> list[str]:
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


CONTAINER_STRIP = {"JPEG": _jpeg_strip, "MPO": _jpeg_strip, "PNG": _png_strip, "WEBP": _webp_strip}


def container_metadata(data: bytes, fmt: str) -> tuple[bytes, list[str]]:
    """(data without metadata, kinds dropped) at the container level; (data, []) when
    the format has no container stripper or there is nothing to drop."""
    strip = CONTAINER_STRIP.get(fmt)
    if strip is None:
        return data, []
    stripped, kinds = strip(data)
    return (stripped, kinds) if kinds else (data, [])
