"""`--embed` (describe, batch results): the caption written into the media file itself,
through ExifTool, in the fields photo libraries and CMSs read (issue 22 item 1):
the XMP fields of output/xmp.py (description, the IPTC alt-text pair, keywords, our
provenance), plus IPTC Caption-Abstract and Keywords (JPEG and TIFF: the formats where
IPTC-IIM is standard) and EXIF ImageDescription.

- ExifTool rewrites metadata segments only: the image data is copied as it is (tests
  compare decoded pixels and, for JPEG, the entropy-coded scan bytes).
- Every other field is kept; keywords are added to those there.
- Atomic (atomic.replace_by): a crash leaves the old file or the new one. The mode and
  owner are kept, and so are the access and modification times unless --touch: photo
  libraries sort on them.
- Only these formats; anything else (GIF, RAW, videos, stdin, URLs) is refused before its
  request, with one line. Without --embed no input is ever written to.

The privacy rule (GPS and camera metadata stripped) is about what is sent: the user's
file keeps all of its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_vision_cli.errors import InputError
from kimi_vision_cli.output import exiftool, xmp
from kimi_vision_cli.provenance import Provenance

if TYPE_CHECKING:
    from kimi_vision_cli.output.records import Result
    from kimi_vision_cli.types import Source

# ExifTool FileType -> whether it holds IPTC-IIM (a PNG/WebP/HEIC one would be non-standard)
WRITABLE = {"JPEG": True, "TIFF": True, "PNG": False, "WEBP": False, "HEIC": False, "AVIF": False}
NAMES = "JPEG, TIFF, PNG, WebP, HEIC or AVIF"
# ExifTool writes a file as its name's extension says: a PNG named .jpg is refused at the
# write ("Not a valid JPG"), after its answer was paid for. Checked before the request.
EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe"), "TIFF": (".tif", ".tiff"), "PNG": (".png",),
    "WEBP": (".webp",), "HEIC": (".heic", ".heif", ".hif"), "AVIF": (".avif",),
}  # fmt: skip


@dataclass(frozen=True)
class Embed:
    touch: bool = False  # --touch: the file's modification time becomes now
    overwrite: bool = False  # --on-exists overwrite: a caption another program wrote is replaced

    def rejects(self, source: Source) -> InputError | None:
        """Why this input cannot hold its caption (before its request), or None."""
        if source.kind != "path":
            return InputError(
                "--embed writes into a local file, and this input is not one",
                input=source.display, hint="download it first, or use --sidecar xmp",
            )  # fmt: skip
        path = Path(source.value)
        err = xmp.refusal(path, input=source.display, replace=self.overwrite, what="file")
        if err is not None:
            return err
        try:
            state = xmp.read_state(path, input=source.display)
        except OSError as exc:
            return InputError(f"cannot read {path}: {exc.strerror or exc}", input=source.display)
        if state.file_type not in WRITABLE:
            return InputError(
                f"--embed cannot write into a {state.file_type or 'file of this'} file: only {NAMES}",
                input=source.display, hint="use --sidecar xmp for this one",
            )  # fmt: skip
        return _misnamed(path, state.file_type, source.display)

    def write(self, source: Source, result: Result, provenance: Provenance | None) -> None:
        path = Path(source.value)
        state = xmp.read_state(path, input=result.input)
        fields = xmp.fields_of(result.text, result.data, provenance)
        args = [*xmp.xmp_args(fields), f"-EXIF:ImageDescription={exiftool.escape_value(fields.description)}"]
        if WRITABLE.get(state.file_type):
            args += _iptc_args(fields)
        xmp.write(path, args, input=result.input, keep_times=not self.touch)


# IPTC-IIM 4.2 record 2 lengths, in bytes: longer values are cut there, on a character
# boundary (ExifTool would cut the bytes anywhere); the XMP fields hold them whole.
CAPTION_BYTES = 2000
KEYWORD_BYTES = 64


def _iptc_args(fields: xmp.Fields) -> list[str]:
    v = exiftool.escape_value
    args = ["-charset", "iptc=UTF8", "-IPTC:CodedCharacterSet=UTF8"]
    args.append(f"-IPTC:Caption-Abstract={v(fit(fields.description, CAPTION_BYTES))}")
    for word in dict.fromkeys(fit(w, KEYWORD_BYTES) for w in fields.keywords):
        args += [f"-IPTC:Keywords-={v(word)}", f"-IPTC:Keywords+={v(word)}"]
    return args


def fit(text: str, size: int) -> str:
    """`text` cut to at most `size` bytes of UTF-8, never inside a character."""
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= size else data[:size].decode("utf-8", "ignore")


def _misnamed(path: Path, file_type: str, name: str) -> InputError | None:
    """A file whose extension names another writable format than the one it holds."""
    suffix = path.suffix.lower()
    named = next((kind for kind, exts in EXTENSIONS.items() if suffix in exts), None)
    if named is None or named == file_type:
        return None
    return InputError(
        f"--embed: its name says {named} but it holds a {file_type} file, which ExifTool will not write",
        input=name, hint=f"rename it to {EXTENSIONS[file_type][0]}, or use --sidecar xmp",
    )  # fmt: skip
