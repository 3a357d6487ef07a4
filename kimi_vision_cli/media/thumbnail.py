"""Small JPEG thumbnails for `kimi-vision report` (issue 22): one file in, a few KB out.

One input at a time, from its path: a JPEG is decoded in draft mode (at 1/2 to 1/8 of
its size), any other image is shrunk as soon as it is decoded, and a video gives one
frame through PyAV (the optional `video` extra). Nothing here raises for a file that
cannot be read: a report shows a placeholder that says why instead.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

from kimi_vision_cli.media.image import MAX_PIXELS
from kimi_vision_cli.media.sniff import SNIFF_BYTES, detect_mime
from kimi_vision_cli.types import Thumb

SIZE = 320  # px, the longer side: sharp in a phone-width grid, ~15 KB as JPEG
QUALITY = 75


def thumbnail(path: str, size: int = SIZE) -> Thumb:
    """The thumbnail of the file at `path`, or a Thumb whose `why` says why there is none."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        return Thumb(None, why="file not found", kind="")
    except IsADirectoryError:
        return Thumb(None, why="a directory, not a file", kind="")
    except OSError as exc:
        return Thumb(None, why=f"cannot read it: {exc.strerror or exc}", kind="")
    if not head:
        return Thumb(None, why="the file is empty", kind="")
    try:
        mime = detect_mime(head)
    except Exception:  # libmagic missing or failing: let Pillow try, it knows its formats
        mime = ""
    # An MP4/MOV that libmagic could not name (or no libmagic) is still a video by its box.
    if mime.startswith("video/") or (_is_bmff(head) and not mime.startswith("image/")):
        return _video(path, size)
    return _image(path, size)


def _is_bmff(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _image(path: str, size: int) -> Thumb:
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like: not ours to print
        try:
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    return Thumb(None, why=f"too large to decode ({w}x{h})")
                img.draft("RGB", (size, size))  # JPEG only: decode at a fraction of the size
                img.thumbnail((size, size))
                small = ImageOps.exif_transpose(img)
                return _encode(small)
        except UnidentifiedImageError:
            if _register_heif():
                return _image(path, size)
            return Thumb(None, why="not an image this tool can show", kind="")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            return Thumb(None, why=f"cannot decode it: {exc}")


_heif_tried = False


def _register_heif() -> bool:
    """HEIC/AVIF from phones, when the `heif` extra is installed: True the first time only
    (the caller then tries once more)."""
    global _heif_tried
    if _heif_tried:
        return False
    _heif_tried = True
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _video(path: str, size: int) -> Thumb:
    try:
        import av
    except ImportError:
        return Thumb(None, why="a video: install the video extra (PyAV) for a frame", kind="video")
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            _seek_in(container, stream)
            frame = next(container.decode(stream), None)
            if frame is None:
                return Thumb(None, why="a video with no frame to show", kind="video")
            img = frame.to_image()
    except (av.FFmpegError, OSError, IndexError, ValueError) as exc:
        return Thumb(None, why=f"cannot read a frame: {exc}", kind="video")
    img.thumbnail((size, size))
    return _encode(img, kind="video")


def _seek_in(container: Any, stream: Any) -> None:
    """A frame a little way in (a tenth of the clip, at most 2 s): first frames are often
    black (a fade in). The seek lands on the keyframe before; a failed seek keeps frame 0."""
    duration = container.duration  # microseconds (av.time_base), or None
    if not duration:
        return
    offset = min(duration // 10, 2_000_000)
    with contextlib.suppress(Exception):  # some containers cannot seek: the first frame will do
        container.seek(offset)


def _encode(img: Any, kind: str = "image") -> Thumb:
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))  # transparency on white, as a viewer shows it
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    elif img.mode != "RGB":
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=QUALITY, optimize=True)
    return Thumb(out.getvalue(), img.width, img.height, kind=kind)
