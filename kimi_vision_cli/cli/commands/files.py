"""`files list | delete ID... | prune`: manage what sits in Moonshot storage (the
policy of what goes is flows/files.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from kimi_vision_cli.cli.app import HelpGroup, app
from kimi_vision_cli.cli.params import command, context_for
from kimi_vision_cli.errors import UsageError
from kimi_vision_cli.output.listing import DELETED, FILES, ListingWriter
from kimi_vision_cli.settings import Settings
from kimi_vision_cli.settings_types import FilesDeleteArgs, FilesListArgs, FilesPruneArgs
from kimi_vision_cli.terminal import Terminal

if TYPE_CHECKING:
    from kimi_vision_cli.runner.context import Context

files_app = typer.Typer(
    cls=HelpGroup,
    help="Manage uploaded files (the account holds at most 1,000): list, delete, prune.",
    no_args_is_help=True,
)
app.add_typer(files_app, name="files")


@command(files_app, "files list", FilesListArgs)
def list_(term: Terminal, s: Settings, a: FilesListArgs) -> None:
    """List the files in the account: a table on a terminal, tab-separated when piped."""
    from kimi_vision_cli.flows import files as flow

    ctx = context_for(s, term, model=False)
    writer = ListingWriter(FILES, s.run.format, term, ctx.diag)
    for f in flow.listed(ctx):
        writer.row(f)
    writer.close()


@command(files_app, "files delete", FilesDeleteArgs)
def delete(term: Terminal, s: Settings, a: FilesDeleteArgs) -> int:
    """Delete files by id."""
    from kimi_vision_cli.flows import files as flow

    ctx = context_for(s, term, model=False)
    return _delete(term, ctx, flow.file_ids(a.file_ids))


@command(files_app, "files prune", FilesPruneArgs)
def prune(term: Terminal, s: Settings, a: FilesPruneArgs) -> int:
    """Delete the files this tool uploaded (its upload cache), or all with --all; asks unless --yes."""
    from kimi_vision_cli.flows import files as flow

    ctx = context_for(s, term, model=False)
    found = flow.prunable(ctx, a.all_files)
    if not found.ids:
        ctx.diag.note(f"nothing to prune: no files {found.scope}")
        return 0
    if not a.yes:
        if not (term.stdin_isatty and term.stderr_isatty):
            raise UsageError(
                f"refusing to delete {len(found.ids)} {found.what} without confirmation (no terminal to ask on)",
                hint="pass --yes to prune without asking",
            )
        if not _confirm(term, found.question):
            # Declining is the user's choice, not a failure (like `rm -i`): one plain line, exit 0.
            ctx.diag.note(f"nothing deleted ({len(found.ids)} {found.what} kept)")
            return 0
    return _delete(term, ctx, found.ids)


def _delete(term: Terminal, ctx: Context, ids: list[str]) -> int:
    """Delete `ids`, a `deleted ms://ID` line as each goes (output/listing.DELETED)."""
    from kimi_vision_cli.flows import files as flow

    writer = ListingWriter(DELETED, "text", term)
    try:
        return int(flow.delete(ctx, ids, writer.row))
    finally:
        writer.close()


def _confirm(term: Terminal, question: str) -> bool:
    """Ask on stderr, read the answer from stdin."""
    term.stderr.write(question)
    term.stderr.flush()
    answer = term.stdin.readline()
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    return answer.strip().lower() in ("y", "yes")
