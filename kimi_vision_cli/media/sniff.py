"""What a blob of bytes is, from its content (libmagic), never from its name.

The allowlists follow Moonshot's docs (SPEC.md "What the API requires").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kimi_vision_cli.buffers import MediaBytes
from kimi_vision_cli.errors import InputError

if TYPE_CHECKING:
    import magic

IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif")
# libmagic's names for the video containers Moonshot lists (mp4, mpeg/mpg, mov, avi,
# x-flv, webm, wmv, 3gpp). We send libmagic's standard name; see fake_moonshot.py.
VIDEO_MIMES = (
    "video/mp4",
    "video/mpeg",
    "video/quicktime",
    "video/x-msvideo",
    "video/x-flv",
    "video/webm",
    "video/x-ms-wmv",
    "video/3gpp",
)
# libmagic spellings that mean one of the above.
_ALIASES = {
    "video/x-ms-asf": "video/x-ms-wmv",
    "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
    "video/mp2p": "video/mpeg",
    "video/mp2t": "video/mpeg",
    "video/3gpp2": "video/3gpp",
    "audio/mp4": "video/mp4",
    "video/x-m4v": "video/mp4",
}
SNIFF_BYTES = 1 << 16
# Vector formats: no pixels to send, and Pillow cannot draw them.
VECTOR_MIMES = frozenset({"image/svg+xml", "image/svg"})


@dataclass(frozen=True)
class MediaInfo:
    mime: str
    kind: str  # "image" | "video"


_magic: magic.Magic | None = None


def _detector() -> magic.Magic:
    global _magic
    if _magic is None:
        try:
            import magic
        except ImportError as exc:  # libmagic missing raises ImportError from python-magic
            raise InputError(
                f"cannot load libmagic ({exc})",
                hint="install it: Debian/Ubuntu `apt-get install libmagic1`, macOS `brew install libmagic`",
            ) from None
        _magic = magic.Magic(mime=True)
    return _magic


def _signature(data: MediaBytes) -> str | None:
    """The four image formats Moonshot takes, by the signatures libmagic reads for them
    (tests/test_sniff.py compares): a PNG or JPEG run never loads libmagic (~12 ms)."""
    if data[:16] == b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff" and len(data) > 3:  # the bare 3 bytes are text/plain to libmagic
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    # A size under 256 MB (the 4th size byte below 0x10): size bytes that spell a QuickTime
    # atom ("moov") make it video/quicktime to libmagic; a WebP that large is past 100 MB.
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[7] < 0x10:
        return "image/webp"
    return None


def detect_mime(data: MediaBytes) -> str:
    known = _signature(data)
    if known is not None:
        return known
    mime = str(_detector().from_buffer(bytes(data[:SNIFF_BYTES]))).lower()
    return _ALIASES.get(mime, mime)


def sniff(data: MediaBytes, *, convert: bool = False, name: str | None = None) -> MediaInfo:
    """Classify bytes; refuse what Moonshot cannot take (unless --convert can turn it into PNG)."""
    if not data:
        raise InputError("file is empty", input=name, hint="pass an image or video file")
    mime = detect_mime(data)
    if mime in IMAGE_MIMES:
        return MediaInfo(mime, "image")
    if mime in VIDEO_MIMES:
        return MediaInfo(mime, "video")
    if mime in VECTOR_MIMES:  # Pillow draws no vectors: --convert cannot help (issue 19, item 16)
        raise InputError(
            f"unsupported type {mime}: a vector image, which kimi-vision cannot rasterise",
            input=name,
            hint="render it to PNG first (e.g. `rsvg-convert -o out.png in.svg`) and pass the PNG",
        )
    if mime.startswith("image/") and convert:
        return MediaInfo(mime, "image")
    supported = ", ".join(m.split("/")[1] for m in IMAGE_MIMES + VIDEO_MIMES)
    hint = f"supported: {supported}"
    if mime.startswith("image/"):
        hint = "pass --convert to send it as PNG/JPEG; " + hint
    raise InputError(f"unsupported type {mime}", input=name, hint=hint)
