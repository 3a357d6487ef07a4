"""`--embed` (output/embed.py): the caption in the photo's own metadata, through ExifTool;
pixels, every other field, mode and mtime kept (issue 22 item 1). Without --embed no
input is ever written to."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
from pathlib import Path

import pytest
from PIL import Image, features

from tests.media import image_bytes, write_image
from tests.test_xmp import EXIFTOOL, SCHEMA, exiftool_tags, exiftool_write

pytestmark = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool is not installed (`make install` installs it)"
)

OLD = 1_500_000_000_000_000_000  # 2017: a photo's mtime, which libraries sort on


def scan_data(jpeg: bytes) -> bytes:
    """The entropy-coded image data of a JPEG: from its first SOS segment to the end,
    found by walking the marker segments (a metadata segment may hold FFDA bytes)."""
    assert jpeg[:2] == b"\xff\xd8"
    pos = 2
    while True:
        marker = jpeg[pos + 1]
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if marker == 0xDA:
            return jpeg[pos:]
        pos += 2 + length


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGBA").tobytes()


def photo(tmp_path: Path, name: str, fmt: str) -> Path:
    path = tmp_path / name
    path.write_bytes(image_bytes(48, 32, fmt))
    os.chmod(path, 0o640)
    os.utime(path, ns=(OLD, OLD))
    return path


def test_a_jpeg_gets_every_caption_field_and_keeps_the_rest(kv, fake, tmp_path: Path) -> None:
    """The issue's test: a JPEG with an XMP rating and keywords (and camera EXIF and GPS,
    which the request strips but the file keeps)."""
    path = photo(tmp_path, "photo.jpg", "JPEG")
    exiftool_write(
        path, "-XMP-xmp:Rating=4", "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=beach", "-IPTC:Keywords=holiday",
        "-EXIF:Make=Canon", "-GPSLatitude=48.85", "-GPSLatitudeRef=N",
    )  # fmt: skip
    os.chmod(path, 0o640)
    os.utime(path, ns=(OLD, OLD))
    before = path.read_bytes()
    old_tags = exiftool_tags(path)

    r = kv("describe", "photo.jpg", "--embed", "--schema", SCHEMA)
    assert r.returncode == 0, r.all
    caption = json.loads(r.stdout)["alt_text"]
    tags = exiftool_tags(path)
    written = {
        "IPTC:CodedCharacterSet",
        "IPTC:EnvelopeRecordVersion",
        "XMP-x:XMPToolkit",
        "File:CurrentIPTCDigest",
    }
    for key, value in old_tags.items():  # every other field, as it was
        if not key.startswith(("System:", "ExifTool:")) and key not in written and key not in (
            "XMP-dc:Subject", "IPTC:Keywords"
        ):  # fmt: skip
            assert tags[key] == value, key
    for key in (
        "XMP-dc:Description", "XMP-iptcCore:AltTextAccessibility", "XMP-iptcCore:ExtDescrAccessibility",
        "IPTC:Caption-Abstract", "IFD0:ImageDescription",
    ):  # fmt: skip
        assert tags[key] == caption, key
    assert tags["XMP-xmp:Rating"] == 4
    assert tags["XMP-dc:Subject"] == ["holiday", "beach", "a", "48x32", "image/jpeg"]
    assert tags["IPTC:Keywords"] == ["holiday", "a", "48x32", "image/jpeg"]
    assert tags["IFD0:Make"] == "Canon" and tags["GPS:GPSLatitudeRef"] == "North"
    assert tags["XMP-kimivision:Model"] == "kimi-k2.6"
    after = path.read_bytes()
    assert scan_data(after) == scan_data(before) and pixels(after) == pixels(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_mtime_ns == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]  # no sidecar, no temp file


@pytest.mark.parametrize(("name", "fmt"), [("a.png", "PNG"), ("a.webp", "WEBP"), ("a.tif", "TIFF")])
def test_png_webp_and_tiff_keep_their_pixels(kv, fake, tmp_path: Path, name: str, fmt: str) -> None:
    path = photo(tmp_path, name, fmt)
    before = path.read_bytes()
    r = kv("describe", name, "--embed", "--convert")
    assert r.returncode == 0, r.all
    tags = exiftool_tags(path)
    assert tags["XMP-dc:Description"] == r.stdout.strip() == tags["IFD0:ImageDescription"]
    assert ("IPTC:Caption-Abstract" in tags) == (fmt == "TIFF")  # IPTC-IIM only where it is standard
    assert pixels(path.read_bytes()) == pixels(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.stat().st_mtime_ns == OLD


@pytest.mark.parametrize("name", ["a.heic", "a.avif"])
def test_heic_and_avif_when_pillow_can_make_them(kv, fake, tmp_path: Path, name: str) -> None:
    if name.endswith("heic"):
        pytest.importorskip("pillow_heif").register_heif_opener()
    elif not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    path = tmp_path / name
    Image.open(io.BytesIO(image_bytes(48, 32))).save(path)
    before = path.read_bytes()
    r = kv("describe", name, "--embed", "--convert")
    assert r.returncode == 0, r.all
    assert exiftool_tags(path)["XMP-dc:Description"] == r.stdout.strip()
    assert pixels(path.read_bytes()) == pixels(before)


def test_touch_sets_the_mtime_and_a_rerun_resumes(kv, fake, tmp_path: Path) -> None:
    path = photo(tmp_path, "a.jpg", "JPEG")
    r = kv("describe", "a.jpg", "--embed", "--touch")
    assert r.returncode == 0, r.all
    assert path.stat().st_mtime_ns > OLD
    again = kv("describe", "a.jpg", "--embed")
    assert again.returncode == 0 and len(fake.chat_requests) == 1, again.all  # ours is there: skipped


def test_what_cannot_hold_a_caption_is_refused_before_its_request(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.gif", 20, 10, "GIF")
    good = photo(tmp_path, "b.png", "PNG")
    r = kv("describe", "a.gif", "-", "b.png", "--embed", input=image_bytes(20, 10))
    assert r.returncode == 2, r.all
    assert len(fake.chat_requests) == 1  # only b.png was sent
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 2 and "Traceback" not in r.all, r.stderr
    assert "a.gif: --embed cannot write into a GIF file" in errors[0]
    assert "-: --embed writes into a local file" in errors[1]
    assert "XMP-dc:Description" in exiftool_tags(good)


def test_a_png_named_jpg_is_refused_before_its_request(kv, fake, tmp_path: Path) -> None:
    """ExifTool writes by the name's extension: found writing after the answer was paid."""
    write_image(tmp_path / "a.jpg", 20, 10)  # PNG bytes
    before = (tmp_path / "a.jpg").read_bytes()
    r = kv("describe", "a.jpg", "--embed")
    assert r.returncode == 2 and not fake.chat_requests, r.all
    assert "a.jpg: --embed: its name says JPEG but it holds a PNG file" in r.stderr
    assert "rename it to .png" in r.stderr
    assert (tmp_path / "a.jpg").read_bytes() == before


def test_touch_without_embed_is_a_usage_error(kv, fake, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 20, 10)
    r = kv("describe", "a.png", "--touch")
    assert r.returncode == 2 and fake.chat_requests == [] and "--touch goes with --embed" in r.stderr


def test_a_caption_another_program_embedded_is_kept_unless_overwrite(kv, fake, tmp_path: Path) -> None:
    path = photo(tmp_path, "a.jpg", "JPEG")
    exiftool_write(path, "-IPTC:Caption-Abstract=Written by hand in Photo Mechanic")
    r = kv("describe", "a.jpg", "--embed")
    assert r.returncode == 2 and fake.chat_requests == [], r.all
    assert exiftool_tags(path)["IPTC:Caption-Abstract"] == "Written by hand in Photo Mechanic"
    r = kv("describe", "a.jpg", "--embed", "--on-exists", "overwrite")
    assert r.returncode == 0, r.all
    assert exiftool_tags(path)["IPTC:Caption-Abstract"] == r.stdout.strip()


def test_without_embed_no_input_is_ever_modified(kv, fake, tmp_path: Path) -> None:
    names = []
    for name, fmt in (("a.jpg", "JPEG"), ("b.png", "PNG"), ("c.webp", "WEBP"), ("d.tif", "TIFF")):
        photo(tmp_path, name, fmt)
        names.append(name)
    exiftool_write(tmp_path / "a.jpg", "-GPSLatitude=48.85", "-GPSLatitudeRef=N", "-XMP-xmp:Rating=2")
    os.utime(tmp_path / "a.jpg", ns=(OLD, OLD))
    before = {n: ((tmp_path / n).read_bytes(), (tmp_path / n).stat().st_mtime_ns) for n in names}
    for sidecar in ("xmp", "json", "txt"):
        r = kv("describe", *names, "--sidecar", sidecar, "--manifest", f"m-{sidecar}.jsonl", "--convert")
        assert r.returncode == 0, r.all
    assert {n: ((tmp_path / n).read_bytes(), (tmp_path / n).stat().st_mtime_ns) for n in names} == before


def test_iptc_limits_cut_on_a_character_and_xmp_holds_it_whole(kv, fake, tmp_path: Path) -> None:
    from kimi_vision_cli.output.embed import fit

    assert fit("é" * 40, 64) == "é" * 32 and fit("é" * 40, 63) == "é" * 31 and fit("ok", 64) == "ok"
    path = photo(tmp_path, "a.jpg", "JPEG")
    fake.state.answers.append("é" * 1500 + ".")
    r = kv("describe", "a.jpg", "--embed")
    assert r.returncode == 0, r.all
    tags = exiftool_tags(path)
    assert tags["IPTC:Caption-Abstract"] == "é" * 1000
    assert tags["XMP-dc:Description"] == "é" * 1500 + "."


def test_batch_results_embed_as_describe_does(kv, fake, tmp_path: Path) -> None:
    path = photo(tmp_path, "a.jpg", "JPEG")
    write_image(tmp_path / "b.gif", 20, 10, "GIF")
    sub = kv("batch", "submit", "a.jpg", "b.gif")
    assert sub.returncode == 0, sub.all
    assert path.stat().st_mtime_ns == OLD  # submitting writes nothing
    kv("batch", "status", sub.stdout.strip())  # the fake batch finishes once looked at
    r = kv("batch", "results", sub.stdout.strip(), "--embed", "--format", "jsonl")
    assert r.returncode == 2, r.all  # b.gif cannot hold it; a.jpg does
    recs = {rec["input"]: rec for rec in map(json.loads, r.stdout.splitlines())}
    assert "cannot write into a GIF" in recs["b.gif"]["error"]["message"]
    tags = exiftool_tags(path)
    assert tags["XMP-dc:Description"] == recs["a.jpg"]["text"] == tags["IPTC:Caption-Abstract"]
    assert path.stat().st_mtime_ns == OLD


def test_embed_through_a_symlink_writes_the_photo_and_keeps_the_link(kv, fake, tmp_path: Path) -> None:
    """Audit: `--embed view/p.jpg`, a link into the library (how albums and "views" are
    made), replaced the link with a captioned copy: the photo itself stayed uncaptioned
    and the album silently held a separate file. The caption goes into the link's
    target; the link stays a link."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "view").mkdir()
    photo(tmp_path / "lib", "p.jpg", "JPEG")
    (tmp_path / "view" / "p.jpg").symlink_to(Path("..") / "lib" / "p.jpg")
    r = kv("describe", "view/p.jpg", "--embed")
    assert r.returncode == 0, r.all
    assert (tmp_path / "view" / "p.jpg").is_symlink()
    assert (
        exiftool_tags(tmp_path / "lib" / "p.jpg", "-XMP-dc:Description")["XMP-dc:Description"]
        == r.stdout.strip()
    )
    assert not [p for p in (tmp_path / "view").iterdir() if p.name != "p.jpg"]  # no temp file left beside it
