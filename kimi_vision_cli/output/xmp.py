"""`--sidecar xmp`: a standard XMP packet beside the input (`photo.png.xmp`).

The caption goes in `dc:description` as a language alternative with one `x-default`
item, and a structured answer's tags/keywords in `dc:subject` as an unordered bag (XMP
Specification Part 1, 8.2.2.4 and Dublin Core namespace; what digiKam, darktable and
Lightroom read as caption and keywords). The original image is never touched.

With --schema, the caption is the answer's caption/description/alt_text field when it has
one, else the whole JSON answer. Text is escaped as XML; characters XML 1.0 forbids (C0 controls other than tab, LF and
CR; lone surrogates left by undecodable bytes; U+FFFE/U+FFFF) are dropped, so no answer
can break the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from kimi_vision_cli import __version__
from kimi_vision_cli.schema import answer_caption, answer_keywords

if TYPE_CHECKING:
    from kimi_vision_cli.output.records import Result

# XML 1.0 section 2.2: Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# The packet wrapper's id is fixed by the XMP specification (Part 1, 7.3.2).
_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_TAIL = '<?xpacket end="w"?>\n'


def xml_text(text: str) -> str:
    """Escaped character data with every character XML 1.0 forbids removed; CRLF -> LF
    (a parser would fold it anyway, and a bare CR would not survive a round trip)."""
    clean = _NOT_XML_CHAR.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return escape(clean)


def packet(description: str, subjects: Sequence[str] = (), *, tool: str = "kimi-vision") -> bytes:
    """The XMP packet, UTF-8: dc:description (x-default) and, when given, dc:subject."""
    lines = [
        _HEAD,
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{escape(tool, {chr(34): "&quot;"})}">\n',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n',
        '  <rdf:Description rdf:about=""\n    xmlns:dc="http://purl.org/dc/elements/1.1/">\n',
        "   <dc:description>\n    <rdf:Alt>\n",
        f'     <rdf:li xml:lang="x-default">{xml_text(description).strip()}</rdf:li>\n',
        "    </rdf:Alt>\n   </dc:description>\n",
    ]
    words = [w for w in (xml_text(s).strip() for s in subjects) if w]
    if words:
        lines.append("   <dc:subject>\n    <rdf:Bag>\n")
        lines.extend(f"     <rdf:li>{w}</rdf:li>\n" for w in words)
        lines.append("    </rdf:Bag>\n   </dc:subject>\n")
    lines += ["  </rdf:Description>\n", " </rdf:RDF>\n", "</x:xmpmeta>\n", _TAIL]
    return "".join(lines).encode("utf-8")


def xmp_sidecar(result: Result) -> bytes:
    """`photo.png.xmp`: the caption (a structured answer's caption field, else the answer)
    and a structured answer's tags/keywords (schema.answer_caption, answer_keywords)."""
    caption = answer_caption(result.text, result.data)
    return packet(caption, answer_keywords(result.data), tool=f"kimi-vision {__version__}")
