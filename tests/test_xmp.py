"""The XMP packet (output/xmp.py): a real XML parser and exiftool read back what it wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimi_vision_cli.output.xmp import _NOT_XML_CHAR, packet

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EXIFTOOL = shutil.which("exiftool")


def read_back(data: bytes) -> tuple[str, str | None, list[str]]:
    """(x-default description, its xml:lang, subjects) as an XMP reader walks the RDF."""
    root = ET.fromstring(data)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    desc = root.find("rdf:RDF/rdf:Description", NS)
    assert desc is not None
    li = desc.find("dc:description/rdf:Alt/rdf:li", NS)
    assert li is not None
    subjects = [s.text or "" for s in desc.findall("dc:subject/rdf:Bag/rdf:li", NS)]
    return li.text or "", li.get(XML_LANG), subjects


def exiftool_json(path: Path) -> dict[str, object]:
    assert EXIFTOOL
    out = subprocess.run([EXIFTOOL, "-j", "-charset", "utf8", str(path)], capture_output=True, check=True)
    return json.loads(out.stdout)[0]  # type: ignore[no-any-return]


def test_packet_has_the_wrapper_description_and_bag() -> None:
    data = packet("A cat on a mat.", ["cat", "mat"])
    text = data.decode("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert text.rstrip().endswith('<?xpacket end="w"?>')
    assert read_back(data) == ("A cat on a mat.", "x-default", ["cat", "mat"])


def test_no_subject_without_keywords() -> None:
    data = packet("plain caption")
    assert b"dc:subject" not in data
    assert read_back(data) == ("plain caption", "x-default", [])


def test_markup_and_forbidden_characters_cannot_break_the_file() -> None:
    caption = 'a <b>bold</b> & "quoted" ]]> \x00\x07\x1b[31m red\udcff \ufffe end\r\nline 2'
    text, _, subjects = read_back(packet(caption, ["a&b", "<tag>", "  ", "\x01"]))
    assert text == 'a <b>bold</b> & "quoted" ]]> [31m red  end\nline 2'
    assert subjects == ["a&b", "<tag>"]


@given(st.text(), st.lists(st.text(), max_size=4))
def test_any_text_parses_and_round_trips(caption: str, tags: list[str]) -> None:
    text, lang, subjects = read_back(packet(caption, tags))
    clean = _NOT_XML_CHAR.sub("", caption.replace("\r\n", "\n").replace("\r", "\n")).strip()
    assert (text, lang) == (clean, "x-default")
    assert len(subjects) <= len(tags)


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (Debian: libimage-exiftool-perl)")
def test_exiftool_reads_description_and_subject(tmp_path: Path) -> None:
    path = tmp_path / "photo.png.xmp"
    path.write_bytes(packet('Ein "Hund" & <Katze>, 日本 — ok', ["dog", "猫", "a&b"]))
    meta = exiftool_json(path)
    assert meta["Description"] == 'Ein "Hund" & <Katze>, 日本 — ok'
    assert meta["Subject"] == ["dog", "猫", "a&b"]
    check = subprocess.run(
        [EXIFTOOL, "-validate", "-warning", "-a", str(path)], capture_output=True, text=True
    )
    assert "Validate                        : OK" in check.stdout, check.stdout
