"""What a directory walk (-r) leaves out (issue 19, item 21): hidden entries unless
--hidden (as fd does; macOS's AppleDouble `._photo.jpg` and `.DS_Store` are hidden),
and whatever an --exclude GLOB matches.

The glob is matched as rsync and ripgrep match theirs (docs/options.md "Directory walks"):
- a pattern without a `/` matches the base name of a file or directory at any depth
  (`*.gif`, `raw`, `._*`);
- a pattern with a `/` matches the path relative to the walked directory, from its start
  (`drafts/*.png`, `/top.png`; a leading `/` only anchors);
- a trailing `/` matches directories only (`cache/`);
- `*` and `?` stop at `/`, `**` crosses it (`**/thumbs/*.jpg`), `[abc]` is a class.
An excluded directory is not walked into. Only walked entries are filtered: a path named
on the command line or in --files-from is taken as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kimi_vision_cli.errors import UsageError


def _class_end(glob: str, start: int) -> int:
    """The index of the `]` closing the class opened at `start`; -1: a literal `[`."""
    j = start + 1
    if glob[j : j + 1] in ("!", "^"):
        j += 1
    if glob[j : j + 1] == "]":  # `[]a]`: a leading `]` is part of the class
        j += 1
    return glob.find("]", j)


def _translate(glob: str) -> str:
    """A glob as a regular expression (anchored by the caller)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and _class_end(glob, i) > 0:
            end = _class_end(glob, i)
            body = glob[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    anchored: bool  # holds a `/`: matched against the relative path, else the base name
    dirs_only: bool

    @classmethod
    def parse(cls, text: str) -> Pattern:
        glob = text
        dirs_only = glob.endswith("/")
        glob = glob.rstrip("/")
        anchored = "/" in glob
        glob = glob.lstrip("/")
        if not glob:
            raise UsageError(
                f"--exclude {text!r} matches nothing", hint="give a glob such as '*.gif' or 'raw/'"
            )
        return cls(text, re.compile(_translate(glob) + r"\Z", re.DOTALL), anchored, dirs_only)

    def matches(self, rel: str, name: str, is_dir: bool) -> bool:
        if self.dirs_only and not is_dir:
            return False
        return bool(self.regex.match(rel if self.anchored else name))


@dataclass(frozen=True)
class WalkFilter:
    """-r's rules: `hidden` walks hidden entries too; `exclude` leaves matches out."""

    hidden: bool = False
    exclude: tuple[Pattern, ...] = field(default=())

    @classmethod
    def of(cls, hidden: bool, exclude: list[str] | None) -> WalkFilter:
        return cls(hidden, tuple(Pattern.parse(p) for p in exclude or ()))

    def skips(self, rel: str, name: str, is_dir: bool) -> bool:
        """Is this walked entry left out? `rel`: its path under the walked directory."""
        if not self.hidden and name.startswith("."):
            return True
        return any(p.matches(rel, name, is_dir) for p in self.exclude)
