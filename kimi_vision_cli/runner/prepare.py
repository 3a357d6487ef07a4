"""One input, source -> Prepared: read (file, stdin, URL), sniff, prepare (images resized
and stripped, videos probed or downscaled), just before its request is planned. An
ms:// id is looked up (its purpose says image or video) unless the run is offline."""

from __future__ import annotations

from typing import Any

from kimi_vision_cli.buffers import MediaBytes
from kimi_vision_cli.errors import InputError, KimiVisionError, quote_name
from kimi_vision_cli.inputs.discover import read_path
from kimi_vision_cli.media.image import ImageOptions, prepare_image
from kimi_vision_cli.media.sniff import sniff
from kimi_vision_cli.plan import Prepared
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.types import MediaRef, Source


def load_bytes(source: Source, ctx: Context) -> MediaBytes:
    """A local file comes as a bytearray (read_path), stdin and URLs as bytes."""
    if source.error:
        raise source.error
    if source.kind == "bytes" and source.data is not None:  # given in memory (library.py)
        return source.data
    if source.kind == "stdin":
        data = ctx.term.stdin_bytes()
        if not data:
            raise InputError("standard input is empty", input="-", hint="pipe image or video bytes")
        return data
    if source.kind == "url":
        from kimi_vision_cli.inputs.fetch import fetch_url, max_download

        return fetch_url(
            source.value,
            timeout=min(ctx.settings.connection.timeout, 60.0),
            total=ctx.settings.connection.timeout,
            max_bytes=max_download(ctx.term.env),
        )
    if source.kind == "object":  # the same cap as a file (issue 24)
        from kimi_vision_cli.inputs.discover import MAX_READ_BYTES
        from kimi_vision_cli.inputs.objects import read_object

        return read_object(source.value, MAX_READ_BYTES, source.display)
    return read_path(source.value)


def prepare_source(source: Source, ctx: Context) -> Prepared:
    """Read, sniff and prepare one input. Errors come out naming the input."""
    name = source.display
    try:
        if source.error:  # found by discovery (a bad ms:// id, a missing file): no lookup, no read
            raise source.error
        if source.kind == "file_id":
            return _file_id(source, ctx)
        if source.kind in ("url", "object") and ctx.offline:
            return _not_downloaded(source, ctx)
        data = load_bytes(source, ctx)
        info = sniff(data, convert=ctx.settings.media.convert, name=name)
        if info.kind == "image":
            # Pillow's side takes bytes; rebinding lets the bytearray go before decoding.
            data = bytes(data) if isinstance(data, bytearray) else data
            return _image(data, info.mime, ctx, name)
        video_data, record = _video(data, info.mime, ctx, name)
        return Prepared(name, MediaRef("video", str(record["mime"]), data=video_data), record)
    except KimiVisionError as err:
        raise err.with_input(name) from None


def _image(data: bytes, mime: str, ctx: Context, name: str) -> Prepared:
    s = ctx.settings
    img = prepare_image(
        data,
        mime,
        ImageOptions(s.media.max_size, s.resize, s.media.convert, s.media.keep_metadata),
        name=name,
    )
    record = {
        "mime": img.mime, "width": img.width, "height": img.height,
        "original_width": img.original_width, "original_height": img.original_height,
        "bytes": len(img.data), "original_bytes": img.original_bytes,
        "original_mime": img.original_mime, "resized": img.resized,
        "rotated": img.rotated, "converted": img.converted, "stripped": img.stripped,
        "color_converted": img.color_converted,
    }  # fmt: skip
    return Prepared(name, MediaRef("image", img.mime, data=img.data), record)


def _video(data: MediaBytes, mime: str, ctx: Context, name: str) -> tuple[MediaBytes, dict[str, Any]]:
    from kimi_vision_cli.media.video import prepare_video

    s = ctx.settings
    return prepare_video(
        data,
        mime,
        resize=s.resize,
        downscale_wanted=s.media.downscale_video,
        warn=ctx.diag.warn,
        keep_metadata=s.media.keep_metadata,
        # The bar only on a terminal stderr (SPEC: progress goes to stderr).
        bar=ctx.frame_bar,
        name=name,
    )


def _not_downloaded(source: Source, ctx: Context) -> Prepared:
    """--dry-run makes no network call, so a URL input is not downloaded: its part shows
    where the downloaded (and prepared) bytes would go, as an image part."""
    ctx.diag.note(f"{quote_name(source.display)}: --dry-run does not download URLs; shown as image_url")
    placeholder = f"data:<downloaded from {source.display}>"
    record: dict[str, Any] = {"mime": None, "transport": "inline", "file_id": None}
    return Prepared(source.display, MediaRef("image", "", placeholder=placeholder), record)


def _file_id(source: Source, ctx: Context) -> Prepared:
    """An already uploaded file: its purpose (GET /v1/files/{id}) says image_url or video_url."""
    file_id = source.value
    record: dict[str, Any] = {"mime": None, "transport": "upload", "file_id": file_id}
    if ctx.offline:
        # --dry-run makes no network call, so the purpose is not checked: shown as an image part.
        ctx.diag.note(
            f"{quote_name(source.display)}: --dry-run does not look the file up; shown as image_url"
        )
        return Prepared(source.display, MediaRef("image", "", file_id=file_id), record)
    meta = ctx.client.retrieve_file(file_id)
    purpose = str(meta.get("purpose") or "")
    if purpose not in ("image", "video"):
        raise InputError(
            f"file has purpose {purpose or 'unknown'!r}, not image or video",
            input=source.display,
            hint="upload media with `kimi-vision upload`, which sets the purpose",
        )
    record["bytes"] = meta.get("bytes")
    return Prepared(source.display, MediaRef(purpose, "", file_id=file_id), record)
