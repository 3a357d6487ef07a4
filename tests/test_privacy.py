"""Privacy: metadata never leaves the machine by default (issue 6).

Every test decodes the bytes the loopback server received, not what prepare() returned.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from tests.fake_moonshot import FakeMoonshot
from tests.media import image_bytes, jpeg_with_exif, video_bytes

GPS_IFD = 0x8825
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def sent_bytes(fake: FakeMoonshot, i: int = 0) -> bytes:
    parts = fake.chat_requests[i].body["messages"][-1]["content"]
    url = next(p for p in parts if p["type"] == "image_url")["image_url"]["url"]
    return base64.b64decode(url.split(",", 1)[1])


def jsonl(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def open_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def scan_data(jpeg: bytes) -> bytes:
    """Everything from the first SOS on: the entropy-coded pixels (walks the segments, so
    bytes inside EXIF that look like a marker cannot fool it)."""
    i = 2
    while jpeg[i + 1] != 0xDA:
        i += 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
    return jpeg[i:]


def privacy_free(img: Image.Image) -> None:
    assert not img.getexif(), "EXIF was sent"
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"):
        assert key not in img.info, f"{key} was sent"


def test_jpeg_gps_stripped_without_reencoding(kv, fake, tmp_path: Path) -> None:
    original = jpeg_with_exif(64, 48, icc=SRGB)
    assert open_image(original).getexif().get_ifd(GPS_IFD)  # the input really has GPS
    (tmp_path / "photo.jpg").write_bytes(original)
    r = kv("describe", "--format", "jsonl", "photo.jpg")
    assert r.returncode == 0, r.stderr
    sent = sent_bytes(fake)
    img = open_image(sent)
    privacy_free(img)
    assert b"TestCam" not in sent
    assert img.info.get("icc_profile") == SRGB, "colour profile must stay"
    # Not re-encoded: the entropy-coded data is byte-identical.
    assert scan_data(sent) == scan_data(original)
    assert len(sent) < len(original)
    (rec,) = jsonl(r.stdout)
    assert rec["media"][0]["stripped"] == ["gps", "exif"]
    assert rec["media"][0]["resized"] is False and rec["media"][0]["rotated"] is False


def test_rotated_jpeg_orientation_applied_then_stripped(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "portrait.jpg").write_bytes(jpeg_with_exif(64, 48, orientation=6, icc=SRGB))
    r = kv("describe", "--format", "jsonl", "portrait.jpg")
    assert r.returncode == 0, r.stderr
    img = open_image(sent_bytes(fake))
    assert img.size == (48, 64), "orientation must be applied before the EXIF goes"
    privacy_free(img)
    assert img.info.get("icc_profile") == SRGB
    (rec,) = jsonl(r.stdout)
    assert rec["media"][0]["rotated"] is True
    assert "gps" in rec["media"][0]["stripped"]


def test_jpeg_xmp_comment_and_trailer_stripped(kv, fake, tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(
        out, format="JPEG", xmp=b"<x:xmpmeta>exif:GPSLatitude 48,51</x:xmpmeta>", comment=b"home address"
    )
    # A phone's "motion photo" appends a video (with its own location) after EOI.
    (tmp_path / "motion.jpg").write_bytes(out.getvalue() + b"\x00\x00\x00\x18ftypmp42 secret-location")
    r = kv("describe", "--format", "jsonl", "motion.jpg")
    assert r.returncode == 0, r.stderr
    sent = sent_bytes(fake)
    for secret in (b"GPSLatitude", b"home address", b"secret-location"):
        assert secret not in sent
    assert sent.endswith(b"\xff\xd9")
    privacy_free(open_image(sent))
    (rec,) = jsonl(r.stdout)
    assert rec["media"][0]["stripped"] == ["xmp", "comment", "trailer"]


def test_png_text_xmp_exif_stripped_colour_profile_kept(kv, fake, tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at home")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS 48.85</x:xmpmeta>")
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0)}
    src = open_image(image_bytes(40, 30))
    out = io.BytesIO()
    src.save(out, format="PNG", pnginfo=info, exif=exif.tobytes(), icc_profile=SRGB)
    (tmp_path / "shot.png").write_bytes(out.getvalue())
    r = kv("describe", "--format", "jsonl", "shot.png")
    assert r.returncode == 0, r.stderr
    sent = sent_bytes(fake)
    img = open_image(sent)
    privacy_free(img)
    assert "Comment" not in img.info and b"taken at home" not in sent
    assert img.info.get("icc_profile") == SRGB
    assert img.convert("RGB").tobytes() == src.convert("RGB").tobytes(), "pixels must be unchanged"
    (rec,) = jsonl(r.stdout)
    assert rec["media"][0]["stripped"] == ["gps", "exif", "xmp", "text"]


def test_webp_exif_xmp_stripped(kv, fake, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0)}
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (9, 99, 199)).save(
        out, format="WEBP", lossless=True, exif=exif.tobytes(), xmp=b"<x>secret-xmp</x>", icc_profile=SRGB
    )
    (tmp_path / "pic.webp").write_bytes(out.getvalue())
    r = kv("describe", "--format", "jsonl", "pic.webp")
    assert r.returncode == 0, r.stderr
    sent = sent_bytes(fake)
    assert b"secret-xmp" not in sent
    img = open_image(sent)
    privacy_free(img)
    assert img.size == (30, 20)
    assert img.info.get("icc_profile") == SRGB
    (rec,) = jsonl(r.stdout)
    assert rec["media"][0]["stripped"] == ["gps", "exif", "xmp"]


def test_gif_comment_stripped(kv, fake, tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("P", (16, 16), 3).save(out, format="GIF", comment=b"secret comment")
    (tmp_path / "a.gif").write_bytes(out.getvalue())
    r = kv("describe", "--format", "jsonl", "a.gif")
    assert r.returncode == 0, r.stderr
    assert b"secret comment" not in sent_bytes(fake)
    assert jsonl(r.stdout)[0]["media"][0]["stripped"] == ["comment"]


def test_keep_metadata_sends_gps(kv, fake, tmp_path: Path) -> None:
    original = jpeg_with_exif(64, 48)
    (tmp_path / "photo.jpg").write_bytes(original)
    (tmp_path / "turned.jpg").write_bytes(jpeg_with_exif(64, 48, orientation=6))
    r = kv("describe", "--keep-metadata", "--format", "jsonl", "-j", "1", "photo.jpg", "turned.jpg")
    assert r.returncode == 0, r.stderr
    assert sent_bytes(fake, 0) == original
    for i in (0, 1):
        exif = open_image(sent_bytes(fake, i)).getexif()
        assert exif.get_ifd(GPS_IFD), "--keep-metadata must keep GPS"
    assert open_image(sent_bytes(fake, 1)).size == (48, 64)
    assert [rec["media"][0]["stripped"] for rec in jsonl(r.stdout)] == [[], []]


def test_clean_image_sent_byte_for_byte(kv, fake, tmp_path: Path) -> None:
    original = image_bytes(50, 40, "JPEG")
    (tmp_path / "clean.jpg").write_bytes(original)
    r = kv("describe", "--format", "jsonl", "clean.jpg")
    assert r.returncode == 0, r.stderr
    assert sent_bytes(fake) == original
    assert jsonl(r.stdout)[0]["media"][0]["stripped"] == []


def test_mpo_second_picture_and_its_exif_stay_home(kv, fake, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0)}
    out = io.BytesIO()
    first, second = Image.new("RGB", (32, 24), (1, 2, 3)), Image.new("RGB", (32, 24), (9, 9, 9))
    first.save(out, format="MPO", save_all=True, append_images=[second], exif=exif.tobytes())
    original = out.getvalue()
    assert original.count(b"Exif\0\0") == 2  # GPS in both pictures
    (tmp_path / "phone.jpg").write_bytes(original)
    r = kv("describe", "--format", "jsonl", "phone.jpg")
    assert r.returncode == 0, r.stderr
    sent = sent_bytes(fake)
    assert b"Exif\0\0" not in sent and sent.count(b"\xff\xd8") == 1
    assert scan_data(sent) == scan_data(original)[: len(scan_data(sent))]
    privacy_free(open_image(sent))
    assert jsonl(r.stdout)[0]["media"][0]["stripped"] == ["gps", "exif", "mpf", "trailer"]


# -- videos: the location a phone writes into MP4/MOV/3GP never leaves the machine ----

PLACE = "+48.8584+002.2945/"  # ISO 6709, as phones write it


def sent_video(fake: FakeMoonshot, i: int = 0) -> bytes:
    parts = fake.chat_requests[i].body["messages"][-1]["content"]
    url = next(p for p in parts if p["type"] == "video_url")["video_url"]["url"]
    return base64.b64decode(url.split(",", 1)[1])


def video_tags(data: bytes) -> tuple[dict[str, str], int]:
    """(container tags PyAV reads, decoded frame count)."""
    import av

    with av.open(io.BytesIO(data)) as c:
        return dict(c.metadata), sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize(
    ("fmt", "metadata", "options"),
    [
        ("mp4", {"location": PLACE, "make": "TestCam"}, None),  # 3GPP `loci` box
        ("mov", {"location": PLACE, "make": "TestCam"}, None),  # QuickTime `\xa9xyz`
        ("3gp", {"location": PLACE}, None),
        (  # Apple's mdta keys, as an iPhone writes them
            "mov",
            {"com.apple.quicktime.location.ISO6709": PLACE, "com.apple.quicktime.make": "TestCam"},
            {"movflags": "use_metadata_tags"},
        ),
    ],
)
def test_video_location_stripped_without_touching_samples(
    kv, fake, tmp_path: Path, fmt: str, metadata: dict[str, str], options: dict[str, str] | None
) -> None:
    original = video_bytes(fmt=fmt, metadata=metadata, options=options)
    tags, frames = video_tags(original)
    assert any(PLACE in v for v in tags.values())  # the input really carries a location
    (tmp_path / f"clip.{fmt}").write_bytes(original)
    r = kv("describe", "--format", "jsonl", f"clip.{fmt}")
    assert r.returncode == 0, r.stderr
    sent = sent_video(fake)
    sent_tags, sent_frames = video_tags(sent)
    assert not any(PLACE in v or "TestCam" in v for v in sent_tags.values()), sent_tags
    assert b"TestCam" not in sent and b"48.8584" not in sent
    assert sent_frames == frames and len(sent) == len(original)  # blanked in place, samples intact
    (rec,) = jsonl(r.stdout)
    media = rec["media"][0]
    assert "gps" in media["stripped"] and "metadata" in media["stripped"]
    assert media["bytes"] == media["original_bytes"] == len(original)


def test_webm_title_comment_and_location_stripped(kv, fake, tmp_path: Path) -> None:
    """Issue 19, item 17: WebM keeps them in Info and Tags, voided in place."""
    original = video_bytes(
        fmt="webm",
        codec="libvpx-vp9",
        metadata={"title": "TestCam trip", "comment": "TestCam", "location": PLACE},
    )
    tags, frames = video_tags(original)
    assert tags["title"] == "TestCam trip" and tags["LOCATION"] == PLACE
    (tmp_path / "clip.webm").write_bytes(original)
    r = kv("describe", "--format", "jsonl", "clip.webm")
    assert r.returncode == 0, r.stderr
    sent = sent_video(fake)
    sent_tags, sent_frames = video_tags(sent)
    assert not any(PLACE in v or "TestCam" in v for v in sent_tags.values()), sent_tags
    assert b"TestCam" not in sent and b"48.8584" not in sent
    assert sent_frames == frames and len(sent) == len(original)
    assert jsonl(r.stdout)[0]["media"][0]["stripped"] == ["gps", "metadata"]


def test_video_keep_metadata_sends_the_file_as_is(kv, fake, tmp_path: Path) -> None:
    original = video_bytes(fmt="mov", metadata={"location": PLACE})
    (tmp_path / "clip.mov").write_bytes(original)
    r = kv("describe", "--format", "jsonl", "--keep-metadata", "clip.mov")
    assert r.returncode == 0, r.stderr
    assert sent_video(fake) == original
    assert jsonl(r.stdout)[0]["media"][0]["stripped"] == []


def test_uploaded_video_has_no_location(kv, fake, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(video_bytes(metadata={"location": PLACE}))
    r = kv("upload", "clip.mp4")
    assert r.returncode == 0, r.stderr
    (stored,) = fake.state.file_data.values()
    tags, _ = video_tags(stored)
    assert not any(PLACE in v for v in tags.values()), tags
