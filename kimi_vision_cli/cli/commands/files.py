"""`files list | delete ID... | prune`: manage what sits in Moonshot storage.

The account holds at most 1,000 files (10 GB); `prune` frees the room this tool
took (the ids in its upload cache), or everything with `--all`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

from kimi_vision_cli.cli.app import STATE, HelpGroup, app
from kimi_vision_cli.cli.params import NoArgs, command, context_for
from kimi_vision_cli.errors import ExitCode, Tally, UsageError
from kimi_vision_cli.output.listing import FILES, ListingWriter
from kimi_vision_cli.settings import Settings

files_app = typer.Typer(
    cls=HelpGroup,
    help="Manage uploaded files (the account holds at most 1,000): list, delete, prune.",
    no_args_is_help=True,
)
app.add_typer(files_app, name="files")


@command(files_app, "files list", NoArgs)
def list_(s: Settings, a: NoArgs) -> None:
    """List the files in the account: a table on a terminal, tab-separated when piped."""
    ctx = context_for(s, model=False)
    writer = ListingWriter(FILES, s.format, STATE.term, ctx.diag)
    for f in ctx.client.list_files():
        writer.row(f)
    writer.close()


def _delete(ctx: Any, ids: list[str]) -> ExitCode:
    """Delete the ids a few at a time (going on past a missing one); print each deleted
    id on stdout in the order given. The upload cache is rewritten once, at the end."""
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
            STATE.term.stdout.write(f"deleted ms://{fid}\n")
            STATE.term.stdout.flush()
    finally:  # Ctrl-C or a closed stdout too: what was deleted leaves the record
        UploadCache.for_env(STATE.term.env, ctx.diag.warn).forget(gone)
    return tally.exit_code


@dataclass(frozen=True)
class DeleteArgs:
    file_ids: list[str]


@command(files_app, "files delete", DeleteArgs)
def delete(s: Settings, a: DeleteArgs) -> int:
    """Delete files by id."""
    ctx = context_for(s, model=False)
    clean = [i[len("ms://") :] if i.startswith("ms://") else i for i in a.file_ids]
    bad = [i for i in clean if not i or "/" in i]
    if bad:
        raise UsageError(f"not a file id: {bad[0]!r}", hint="pass IDs as `files list` shows them")
    return int(_delete(ctx, clean))


@dataclass(frozen=True)
class PruneArgs:
    all_files: bool
    yes: bool


@command(files_app, "files prune", PruneArgs)
def prune(s: Settings, a: PruneArgs) -> int:
    """Delete the files this tool uploaded (its upload cache), or all with --all; asks unless --yes."""
    from kimi_vision_cli.api.uploads import UploadCache

    ctx = context_for(s, model=False)
    present = [str(f.get("id")) for f in ctx.client.list_files()]
    if a.all_files:
        ids = present
    else:
        cache = UploadCache.for_env(STATE.term.env, ctx.diag.warn)
        mine = cache.file_ids(s.base_url)
        ids = [i for i in mine if i in set(present)]
        cache.forget(set(mine) - set(present))  # gone already: drop from the record
    what = "file" if len(ids) == 1 else "files"
    scope = "in the account" if a.all_files else "uploaded by kimi-vision"
    if not ids:
        ctx.diag.note(f"nothing to prune: no files {scope}")
        return 0
    if not a.yes:
        term = STATE.term
        if not (term.stdin_isatty and term.stderr_isatty):
            raise UsageError(
                f"refusing to delete {len(ids)} {what} without confirmation (no terminal to ask on)",
                hint="pass --yes to prune without asking",
            )
        if not _confirm(f"delete {len(ids)} {what} {scope}? [y/N] "):
            # Declining is the user's choice, not a failure (like `rm -i`): one plain line, exit 0.
            ctx.diag.note(f"nothing deleted ({len(ids)} {what} kept)")
            return 0
    return int(_delete(ctx, ids))


def _confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin."""
    term = STATE.term
    term.stderr.write(question)
    term.stderr.flush()
    answer = term.stdin.readline()
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    return answer.strip().lower() in ("y", "yes")
