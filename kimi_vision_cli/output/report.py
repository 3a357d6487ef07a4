"""`kimi-vision report` and `describe --report` (issue 22): one self-contained HTML page
to review captions: a grid of thumbnails, each with its caption, keywords, model,
tokens and cost; failures listed apart; totals at the top; a filter box and a
"failures only" toggle in plain JavaScript.

Self-contained: no network, no server. CSS and JavaScript are inline, thumbnails are
`data:` URLs, and a Content-Security-Policy lets the page load nothing else. Only the
page's own style and script run; they are allowed by their hashes, so markup slipped in
through a caption could not run even if the escaping below had a hole. Every piece of
text that comes from a record, a file name or an error is HTML-escaped (`_t`).

Memory: the entries (text only) are all held, to count the totals and list the failures
before the grid; each thumbnail is made, written and dropped one at a time, into the
page as it is written (atomic.replacing), so the report of thousands of photos never
holds more than one of them decoded.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from kimi_vision_cli import __version__
from kimi_vision_cli.errors import OutputError, UsageError
from kimi_vision_cli.types import Thumb, counted


@dataclass
class Entry:
    """One input's card: what a record, a manifest row or a sidecar says of it."""

    name: str  # the input as the record names it
    media: str | None = None  # the local file to make the thumbnail from
    no_media: str | None = None  # why there is no local file (a URL, ms://, stdin)
    caption: str = ""
    keywords: list[str] = field(default_factory=list)
    model: str | None = None
    tokens: int | None = None
    cost: float | None = None
    currency: str | None = None
    error_code: str | None = None
    error: str | None = None  # the error's one line; None: a caption

    @property
    def failed(self) -> bool:
        return self.error is not None


Thumbnails = Callable[[Entry], Thumb]


def write_report(
    path: Path, entries: list[Entry], *, thumbs: Thumbnails, title: str = "kimi-vision report"
) -> None:
    """The page at `path`, whole or not at all; OutputError (exit 1) when it cannot be written."""
    from datetime import datetime, timezone

    from kimi_vision_cli.atomic import replacing

    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        with replacing(path) as fh:
            write_page(fh, entries, thumbs=thumbs, title=title, made=made)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="check the disk and the directory's permissions (or pick another -o)",
        ) from None


def check_target(path: Path, flag: str) -> None:
    """Up front, before anything is read or sent: `path` can be the page. Only an .html
    name is written, so a slip (`-o run.jsonl`, `-o photo.jpg`) cannot replace the
    records or a photo; and its directory exists and can be written. A missing directory
    is not made: a slip in the path would otherwise leave the page somewhere unlooked-for
    (a file's directory must exist, as for a shell redirection; --output-dir, a
    directory of outputs, is made)."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{flag} {path}: the report is an HTML page", hint="name it FILE.html")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory", hint=f"name a file, e.g. {path / 'report.html'}")
    from kimi_vision_cli.atomic import check_directory_exists, check_writable

    check_directory_exists(path, f"{flag} {path}", "another place")
    where = path.absolute().parent
    if not where.is_dir():
        raise UsageError(f"{flag} {path}: {where} is not a directory", hint="name a file in a directory")
    check_writable(where, f"{flag} {path}", "check its permissions (or pick another place)")


# -- the page -----------------------------------------------------------------------------

_CSS = """\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#4f4f4f;--card:#f5f5f5;--line:#c8c8c8;\
--bad:#a50e1f;--badbg:#fdecee;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#ececec;--muted:#b4b4b4;--card:#1f1f1f;\
--line:#3c3c3c;--bad:#ff9a8f;--badbg:#3a1f1f;--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);\
color:var(--fg)}
header,main,footer{max-width:90rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:1rem 0 .5rem}
.totals{display:flex;flex-wrap:wrap;gap:.25rem 1.5rem;margin:0;padding:0;list-style:none}
.totals b{font-size:1.2rem}
.controls{position:sticky;top:0;z-index:1;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;\
padding:.6rem 1rem;background:var(--bg);border-bottom:1px solid var(--line)}
.controls input[type=search]{flex:1 1 12rem;min-width:0;font:inherit;padding:.4rem .6rem;\
border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg)}
.controls p{margin:0;color:var(--muted)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
[hidden]{display:none!important}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,16rem),1fr));gap:1rem;\
list-style:none;margin:0;padding:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;overflow:hidden;\
display:flex;flex-direction:column}
.card.failed{border:2px solid var(--bad);background:var(--badbg)}
.thumb img{display:block;width:100%;height:auto;max-height:20rem;object-fit:contain;background:#8881}
.placeholder{display:flex;align-items:center;justify-content:center;min-height:8rem;padding:1rem;\
text-align:center;color:var(--muted);background:repeating-linear-gradient(45deg,#0000 0 10px,#8882 10px 20px)}
.body{padding:.75rem;display:flex;flex-direction:column;gap:.4rem;min-width:0}
.name{font-size:.95rem;margin:0;overflow-wrap:anywhere}
.caption{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.error{margin:0;color:var(--bad);overflow-wrap:anywhere}
.keywords{display:flex;flex-wrap:wrap;gap:.3rem;margin:0;padding:0;list-style:none}
.keywords li{font-size:.8rem;padding:.05rem .5rem;border-radius:1rem;border:1px solid var(--line)}
.meta{display:flex;flex-wrap:wrap;gap:.1rem 1rem;margin:0;font-size:.85rem;color:var(--muted)}
.meta div{display:flex;gap:.3rem}
.meta dd{margin:0}
details{margin:.5rem 0}
summary{cursor:pointer}
summary h2{display:inline;margin:0}
.failures li{margin:.2rem 0;overflow-wrap:anywhere}
footer{color:var(--muted);font-size:.85rem}
"""

_JS = """\
"use strict";
(function () {
  var form = document.getElementById("controls");
  var box = document.getElementById("filter");
  var only = document.getElementById("failures-only");
  var shown = document.getElementById("shown");
  var cards = Array.prototype.slice.call(document.querySelectorAll("#grid > .card"));
  var texts = cards.map(function (card) { return card.textContent.toLowerCase(); });
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var n = 0;
    cards.forEach(function (card, i) {
      var show = (!only.checked || card.classList.contains("failed")) &&
        words.every(function (w) { return texts[i].indexOf(w) !== -1; });
      card.hidden = !show;
      if (show) { n += 1; }
    });
    shown.textContent = n + " of " + cards.length + " shown";
  }
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  box.addEventListener("input", apply);
  only.addEventListener("change", apply);
  form.hidden = false;  // the controls show only where they work: with JavaScript
  apply();
})();
"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Nothing but the page's own style, script and data: images; no request can leave the page.
CSP = (
    f"default-src 'none'; img-src data:; style-src {_hash(_CSS)}; script-src {_hash(_JS)}; "
    "base-uri 'none'; form-action 'none'"
)


def _t(text: object) -> str:
    """Untrusted text as HTML text or attribute value: escaped, quotes too; undecodable
    bytes of a file name (surrogate escapes) shown as U+FFFD rather than failing."""
    s = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return html.escape(s, quote=True)


def write_page(out: BinaryIO, entries: list[Entry], *, thumbs: Thumbnails, title: str, made: str) -> None:
    def put(text: str) -> None:
        out.write(text.encode("utf-8"))

    put(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f'<meta name="generator" content="kimi-vision {_t(__version__)}">\n'
        f"<title>{_t(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
    )
    put(f"<header>\n<h1>{_t(title)}</h1>\n{totals_html(entries)}</header>\n")
    put(
        '<form id="controls" class="controls" role="search" aria-label="Filter the inputs" hidden>\n'
        '<label for="filter">Filter</label>\n'
        '<input type="search" id="filter" autocomplete="off" '
        'placeholder="words of a caption, file name, keyword or error">\n'
        '<label><input type="checkbox" id="failures-only"> Failures only</label>\n'
        '<p id="shown" role="status" aria-live="polite"></p>\n</form>\n<main>\n'
    )
    put(failures_html(entries))
    put('<h2 id="inputs-title">Inputs</h2>\n<ul id="grid" class="grid" aria-labelledby="inputs-title">\n')
    for n, entry in enumerate(entries, 1):
        put(card_html(n, entry, thumbs(entry)))
    put("</ul>\n</main>\n")
    put(f"<footer>Made {_t(made)} by kimi-vision {_t(__version__)}.</footer>\n<script>{_JS}</script>\n")
    put("</body>\n</html>\n")


def spend_text(entries: Iterable[Entry]) -> str:
    """ "USD 0.0123" (one amount per currency), "+ N unpriced", or "unknown"."""
    sums: dict[str, float] = {}
    unpriced = 0
    for e in entries:
        if e.cost is None or e.currency is None:
            unpriced += e.tokens is not None  # an answer with usage but no price
            continue
        sums[e.currency] = sums.get(e.currency, 0.0) + e.cost
    text = " + ".join(f"{cur} {money(amount)}" for cur, amount in sums.items())
    if unpriced:
        text += f"{' + ' if text else ''}{unpriced} unpriced"
    return text or "unknown"


def summary(path: Path, entries: list[Entry]) -> str:
    """The line said on stderr once the page is written."""
    failed = sum(e.failed for e in entries)
    done = len(entries) - failed
    return f"wrote {path}: {counted(len(entries), 'input')}, {done} done, {failed} failed, spend {spend_text(entries)}"


def money(amount: float) -> str:
    if 0 < amount < 0.0001:
        return "<0.0001"
    return f"{amount:,.4f}".rstrip("0").rstrip(".")


def totals_html(entries: list[Entry]) -> str:
    failed = sum(e.failed for e in entries)
    tokens = sum(e.tokens or 0 for e in entries)
    items = [
        ("inputs", f"{len(entries):,}"),
        ("done", f"{len(entries) - failed:,}"),
        ("failed", f"{failed:,}"),
        ("tokens", f"{tokens:,}"),
        ("spend", spend_text(entries)),
    ]
    lis = "".join(f'<li><b data-total="{k}">{_t(v)}</b> {k}</li>\n' for k, v in items)
    return f'<ul class="totals" aria-label="Totals">\n{lis}</ul>\n'


def failures_html(entries: list[Entry]) -> str:
    failed = [(n, e) for n, e in enumerate(entries, 1) if e.failed]
    if not failed:
        return (
            '<section aria-labelledby="failures-title"><h2 id="failures-title">No failures</h2></section>\n'
        )
    rows = "".join(
        f'<li><a href="#card-{n}">{_t(e.name)}</a>: <code>{_t(e.error_code or "error")}</code> {_t(e.error)}</li>\n'
        for n, e in failed
    )
    opened = " open" if len(failed) <= 20 else ""
    return (
        f'<section aria-labelledby="failures-title">\n<details{opened}>'
        f'<summary><h2 id="failures-title">Failures ({len(failed):,})</h2></summary>\n'
        f'<ol class="failures">\n{rows}</ol>\n</details>\n</section>\n'
    )


def card_html(n: int, e: Entry, thumb: Thumb) -> str:
    if thumb.jpeg is not None:
        data = base64.b64encode(thumb.jpeg).decode("ascii")
        picture = (
            f'<img src="data:image/jpeg;base64,{data}" width="{thumb.width}" height="{thumb.height}" '
            f'alt="{_t(e.caption)}" decoding="async">'
        )
    else:
        why = f"No picture: {thumb.why or 'unknown'}"
        picture = f'<div class="placeholder" role="img" aria-label="{_t(why)}"><span>{_t(why)}</span></div>'
    if e.failed:
        text = f'<p class="error"><code>{_t(e.error_code or "error")}</code> {_t(e.error)}</p>'
    else:
        text = f'<p class="caption">{_t(e.caption)}</p>'
    keywords = ""
    if e.keywords:
        words = "".join(f"<li>{_t(k)}</li>" for k in e.keywords)
        keywords = f'<ul class="keywords" aria-label="Keywords">{words}</ul>'
    meta = [("Model", e.model or "unknown")]
    if e.tokens is not None:
        meta.append(("Tokens", f"{e.tokens:,}"))
    if e.cost is not None and e.currency:
        meta.append(("Cost", f"{e.currency} {money(e.cost)}"))
    dl = "".join(f"<div><dt>{k}</dt><dd>{_t(v)}</dd></div>" for k, v in meta)
    state = "failed" if e.failed else "ok"
    return (
        f'<li class="card {state}" id="card-{n}">'
        f'<div class="thumb">{picture}</div>'
        f'<div class="body"><h3 class="name" id="name-{n}">{_t(e.name)}</h3>{text}{keywords}'
        f'<dl class="meta">{dl}</dl></div></li>\n'
    )
