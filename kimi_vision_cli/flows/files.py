"""`files delete` and `files prune`: which files go, and deleting them.

The account holds at most 1,000 files (moonshot.MAX_FILES); `prune` frees the room this
tool took (the ids in its upload cache), or everything with `--all`. What a deleted
file looks like on stdout is the caller's: each id goes to `deleted` as it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kimi_vision_cli.errors import ExitCode, Tally, UsageError
from kimi_vision_cli.runner.context import Context


def listed(ctx: Context) -> list[dict[str, Any]]:
    """`files list`: the files in the account, as Moonshot describes them."""
    return ctx.client.list_files()


def file_ids(given: list[str]) -> list[str]:
    """IDs as typed (`ms://ID` or `ID`) -> IDs; anything else is a usage error."""
    clean = [i[len("ms://") :] if i.startswith("ms://") else i for i in given]
    bad = [i for i in clean if not i or "/" in i]
    if bad:
        raise UsageError(f"not a file id: {bad[0]!r}", hint="pass IDs as `files list` shows them")
    return clean


def delete(ctx: Context, ids: list[str], deleted: Callable[[str], None]) -> ExitCode:
    """Delete the ids a few at a time (going on past a missing one), calling `deleted`
    with each id gone, in the order given. The upload cache is rewritten once, at the end."""
    from kimi_vision_cli.api.uploads import UploadCache, delete_files

    tally = Tally(report=ctx.diag.error)
    gone: set[str] = set()
    try:
        for fid, err in delete_files(ctx.client, ids, stop=lambda: tally.stopped):
            if err is not None:
                tally.error(err.with_input(f"ms://{fid}"))
                continue
            tally.ok()
            gone.add(fid)
            deleted(fid)
    finally:  # Ctrl-C or a closed stdout too: what was deleted leaves the record
        UploadCache.for_env(ctx.term.env, ctx.diag.warn).forget(gone)
    return tally.exit_code


@dataclass(frozen=True)
class Prunable:
    ids: list[str]
    what: str  # "file" or "files"
    scope: str  # "in the account" or "uploaded by kimi-vision"

    @property
    def question(self) -> str:
        return f"delete {len(self.ids)} {self.what} {self.scope}? [y/N] "


def prunable(ctx: Context, all_files: bool) -> Prunable:
    """The prune policy: every file in the account with --all, else the ids this tool's
    upload cache holds that are still there (the ones gone already leave the cache)."""
    from kimi_vision_cli.api.uploads import UploadCache

    present = [str(f.get("id")) for f in ctx.client.list_files()]
    if all_files:
        ids = present
    else:
        cache = UploadCache.for_env(ctx.term.env, ctx.diag.warn)
        mine = cache.file_ids(ctx.settings.connection.base_url)
        ids = [i for i in mine if i in set(present)]
        cache.forget(set(mine) - set(present))  # gone already: drop from the record
    what = "file" if len(ids) == 1 else "files"
    return Prunable(ids, what, "in the account" if all_files else "uploaded by kimi-vision")
