"""Media the tests make on the fly (no binary blobs in the repo)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def image_bytes(
    w: int = 64, h: int = 48, fmt: str = "PNG", color: tuple[int, int, int] = (200, 30, 30), **save: object
) -> bytes:
    img = Image.new("RGB", (w, h), color)
    # a gradient so resizes and rotations are visible in the pixels
    for x in range(0, w, max(1, w // 8)):
        for y in range(h):
            img.putpixel((x, y), (x * 255 // max(1, w), y * 255 // max(1, h), 0))
    out = io.BytesIO()
    if fmt == "GIF":
        img = img.convert("P")
    img.save(out, format=fmt, **save)  # type: ignore[arg-type]
    return out.getvalue()


def write_image(path: Path, w: int = 64, h: int = 48, fmt: str = "PNG", **kw: object) -> Path:
    path.write_bytes(image_bytes(w, h, fmt, **kw))  # type: ignore[arg-type]
    return path


def jpeg_with_exif(
    w: int = 64, h: int = 48, *, orientation: int = 1, gps: bool = True, icc: bytes | None = None
) -> bytes:
    img = Image.new("RGB", (w, h), (10, 120, 240))
    img.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    kw: dict[str, object] = {"exif": exif.tobytes(), "quality": 85}
    if icc:
        kw["icc_profile"] = icc
    img.save(out, format="JPEG", **kw)  # type: ignore[arg-type]
    return out.getvalue()


def animated_gif(w: int = 40, h: int = 30, frames: int = 3, duration: int = 70) -> bytes:
    imgs = [Image.new("RGB", (w, h), ((i * 60) % 256, 255 - i * 50, 90)) for i in range(frames)]
    out = io.BytesIO()
    imgs[0].save(out, format="GIF", save_all=True, append_images=imgs[1:], duration=duration, loop=0)
    return out.getvalue()


def video_bytes(
    w: int = 64,
    h: int = 48,
    frames: int = 5,
    *,
    codec: str = "libx264",
    fmt: str = "mp4",
    metadata: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """A small real video. `metadata`: container tags as a phone writes them (FFmpeg puts
    `location` in `loci` for mp4/3gp, `\xa9xyz` for mov; `options` may ask for mdta keys)."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt, options=options or {}) as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(codec, rate=10)
        stream.width = w
        stream.height = h
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", (w, h), (i * 40 % 255, 100, 150)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def timed_video(
    seconds: float = 12, *, keyframe_every: float | None = 2, rate: int = 10, w: int = 64, h: int = 48
) -> bytes:
    """An H.264 MP4 of `seconds` with a keyframe exactly every `keyframe_every` seconds (None:
    only the first frame is one), B-frames on; each frame a different colour."""
    import av

    gop = str(round(keyframe_every * rate)) if keyframe_every else str(round(seconds * rate) + 1)
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": gop, "keyint_min": gop, "sc_threshold": "0"}  # no scene-cut keyframes
        for i in range(round(seconds * rate)):
            frame = av.VideoFrame.from_image(Image.new("RGB", (w, h), (i * 7 % 255, 100, 150)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def cmyk_icc_profile(lab: tuple[float, float, float] = (60.0, 40.0, 20.0)) -> bytes:
    """A minimal ICC v2 CMYK output profile (lut16 A2B0/B2A0, PCS Lab) that maps every CMYK
    colour to one Lab colour: an effect no plain CMYK-to-RGB formula gives, so a test sees
    whether the profile was used. No CMYK profile ships with the test machine."""
    import struct

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    lum, a, b = lab
    enc = (round(lum / 100 * 0xFF00), round((a + 128) * 256), round((b + 128) * 256))  # v2 Lab encoding

    def lut(inp: int, out: int, value: tuple[int, ...]) -> bytes:
        head = b"mft2" + b"\0" * 4 + bytes([inp, out, 2, 0])
        matrix = b"".join(s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))
        tables = struct.pack(">HH", 2, 2) + struct.pack(">HH", 0, 65535) * inp
        return (
            head
            + matrix
            + tables
            + struct.pack(f">{out}H", *value) * 2**inp
            + struct.pack(">HH", 0, 65535) * out
        )

    text = b"test CMYK\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 78
    wtpt = b"XYZ " + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", wtpt),
        (b"A2B0", lut(4, 3, enc)),
        (b"B2A0", lut(3, 4, (0, 0, 0, 32768))),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"prtrCMYKLab "
        + b"\0" * 12 + b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )  # fmt: skip
    return header + struct.pack(">I", len(tags)) + table + body


def cmyk_jpeg(w: int = 40, h: int = 30, *, icc: bytes | None = None) -> bytes:
    """A pure-cyan CMYK JPEG, with an embedded ICC profile when given."""
    out = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    Image.new("CMYK", (w, h), (255, 0, 0, 0)).save(out, format="JPEG", quality=95, **extra)
    return out.getvalue()


def headless_video(seconds: float = 12, *, drop: int = 5, keyframe_every: float = 3) -> bytes:
    """`timed_video` with its first `drop` packets removed, as a clip cut from a longer
    recording: it opens on frames that refer to a keyframe it no longer holds."""
    import av

    out = io.BytesIO()
    with (
        av.open(io.BytesIO(timed_video(seconds, keyframe_every=keyframe_every))) as src,
        av.open(out, mode="w", format="mp4") as dst,
    ):
        stream = src.streams.video[0]
        copy = dst.add_stream_from_template(stream)
        packets = [p for p in src.demux(stream) if p.dts is not None]
        for packet in packets[drop:]:
            packet.stream = copy
            dst.mux(packet)
    return out.getvalue()


def vfr_video(seconds: float = 12, *, fmt: str = "mp4", codec: str = "libx264", live: bool = False) -> bytes:
    """A variable frame rate clip (a second at 30 fps, then one at 10 fps, alternating);
    `live`: a Matroska/WebM muxer told the output is a stream, so no duration is written."""
    from fractions import Fraction

    import av

    out = io.BytesIO()
    ms = Fraction(1, 1000)
    with av.open(out, mode="w", format=fmt, options={"live": "1"} if live else {}) as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = ms
        t, i = 0, 0
        while t < seconds * 1000:
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (i * 7 % 255, 100, 150)))
            frame.pts, frame.time_base = t, ms
            for packet in stream.encode(frame):
                container.mux(packet)
            t += 33 if (i // 30) % 2 == 0 else 100
            i += 1
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def shots_video(
    changes: list[float], seconds: float = 12, *, rate: int = 10, gop: int = 10, w: int = 64, h: int = 48
) -> bytes:
    """An x264 MP4 whose picture changes completely at each time in `changes` (shots),
    a moving bar inside each shot; a keyframe every `gop` frames, and x264's scene-cut
    keyframes left on, as an ordinary encoder writes them."""
    import av
    from PIL import ImageDraw

    palette = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (230, 220, 40), (200, 40, 200), (30, 210, 210)]
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": str(gop)}
        for i in range(round(seconds * rate)):
            shot = sum(1 for t in changes if i >= round(t * rate))
            img = Image.new("RGB", (w, h), palette[shot % len(palette)])
            x = i * 3 % w
            ImageDraw.Draw(img).rectangle((x, h // 5, x + w // 8, h * 3 // 5), fill=palette[(shot + 3) % 6])
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def rotated_video(
    w: int = 64, h: int = 48, *, rotation: int = 90, seconds: float = 2, rate: int = 10, gop: int = 10
) -> bytes:
    """A clip stored as a phone stores a portrait one: w x h pictures, a display matrix
    turning them `rotation` degrees counterclockwise. The top-left quarter is red, the
    rest blue, so which way a picture is turned shows in its corners (`red_corner`)."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        stream.set_display_rotation(rotation)
        img = Image.new("RGB", (w, h), (40, 60, 220))
        img.paste((230, 30, 30), (0, 0, w // 2, h // 2))
        for _ in range(round(seconds * rate)):
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def shown(data: bytes) -> Image.Image:
    """The first frame as a player shows it: turned as its display matrix says
    (PyAV's `rotation` is counterclockwise degrees, as PIL's `rotate` takes them)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.to_image().rotate(frame.rotation, expand=True)


def red_corner(img: Image.Image) -> str:
    """Which quarter of the picture is red: 'top-left', 'top-right', 'bottom-left' or 'bottom-right'."""
    w, h = img.size
    corners = {"top-left": (w // 4, h // 4), "top-right": (w * 3 // 4, h // 4),
               "bottom-left": (w // 4, h * 3 // 4), "bottom-right": (w * 3 // 4, h * 3 // 4)}  # fmt: skip
    red = [name for name, xy in corners.items() if img.convert("RGB").getpixel(xy)[0] > 150]  # type: ignore[index]
    assert len(red) == 1, red
    return red[0]
