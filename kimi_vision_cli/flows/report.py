"""The review page's composition (issue 22; issue 21, item 4): output/report.py draws the
page and takes its thumbnails as a function; media/thumbnail.py makes them. This flow
joins the two, so neither peer imports the other."""

from __future__ import annotations

from kimi_vision_cli.output.report import Entry
from kimi_vision_cli.types import Thumb


def entry_thumb(entry: Entry) -> Thumb:
    """The thumbnail of an entry's local file, or a placeholder saying why there is none."""
    if entry.media is None:
        return Thumb(None, why=entry.no_media or "no local file", kind="")
    from kimi_vision_cli.media.thumbnail import thumbnail  # PIL and PyAV: only when drawn

    return thumbnail(entry.media)
