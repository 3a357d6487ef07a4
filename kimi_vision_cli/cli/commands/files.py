"""`files list | delete ID... | prune`: manage what sits in Moonshot storage.

The account holds at most 1,000 files (10 GB); `prune` frees the room this tool
took (the ids in its upload cache), or everything with `--all`.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from kimi_vision_cli.cli.app import STATE, app
from kimi_vision_cli.cli.options import (
    ApiKey,
    BaseUrl,
    Format,
    Region,
    Retries,
    Timeout,
    Verbose,
    context_for,
    settings_from,
)  # fmt: skip
from kimi_vision_cli.errors import ExitCode, KimiVisionError, UsageError, stops_run, worst
from kimi_vision_cli.moonshot import MAX_FILES

files_app = typer.Typer(
    help="Manage uploaded files (the account holds at most 1,000): list, delete, prune.",
    no_args_is_help=True,
)
app.add_typer(files_app, name="files")

# `files list --format json`: the keys of each object (Moonshot's file object).
FILE_KEYS = ("id", "purpose", "bytes", "created_at", "filename", "status")


def _row(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f.get(k) for k in FILE_KEYS}


@files_app.command("list")
def list_(
    format: Format = None,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
) -> None:
    """List the files in the account: a table on a terminal, tab-separated when piped."""
    s = settings_from(**locals())
    ctx = context_for(s)
    rows = [_row(f) for f in ctx.client.list_files()]
    out = STATE.term.stdout
    if s.format == "json":
        out.write(json.dumps(rows, indent=2) + "\n")
    elif s.format == "jsonl":
        out.writelines(json.dumps(r) + "\n" for r in rows)
    elif STATE.term.stdout_isatty:
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold" if STATE.term.color else "", pad_edge=False)
        for name, justify in (("id", "left"), ("purpose", "left"), ("bytes", "right"),
                              ("created", "left"), ("filename", "left")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(
                str(r["id"]), str(r["purpose"]), f"{r['bytes'] or 0:,}", _when(r["created_at"]),
                str(r["filename"]),
            )  # fmt: skip
        Console(file=out, force_terminal=True, no_color=not STATE.term.color, width=STATE.term.width).print(
            table
        )
        ctx.diag.note(f"{len(rows)} of {MAX_FILES:,} files")
    else:
        # Piped: one file per line, tab-separated, no header (cut/awk friendly).
        for r in rows:
            out.write(f"{r['id']}\t{r['purpose']}\t{r['bytes']}\t{r['created_at']}\t{r['filename']}\n")
    out.flush()


def _when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(int(ts)))
    except (TypeError, ValueError):
        return "?"


def _delete(ctx: Any, ids: list[str]) -> ExitCode:
    """Delete each id (going on past a missing one); print each deleted id on stdout."""
    from kimi_vision_cli.api.uploads import UploadCache

    code = ExitCode.OK
    gone: set[str] = set()
    for fid in ids:
        try:
            ctx.client.delete_file(fid)
        except KimiVisionError as err:
            ctx.diag.error(err.with_input(f"ms://{fid}"))
            code = worst(code, err.exit_code)
            if stops_run(err):
                break
            continue
        gone.add(fid)
        STATE.term.stdout.write(f"deleted ms://{fid}\n")
        STATE.term.stdout.flush()
    UploadCache.for_env(STATE.term.env).forget(gone)
    return code


@files_app.command("delete")
def delete(
    ids: Annotated[list[str], typer.Argument(help="File ids (ID or ms://ID).", show_default=False)],
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
) -> None:
    """Delete files by id."""
    s = settings_from(**{k: v for k, v in locals().items() if k != "ids"})
    ctx = context_for(s)
    clean = [i[len("ms://") :] if i.startswith("ms://") else i for i in ids]
    bad = [i for i in clean if not i or "/" in i]
    if bad:
        raise UsageError(f"not a file id: {bad[0]!r}", hint="pass IDs as `files list` shows them")
    STATE.exit_code = _delete(ctx, clean)


@files_app.command("prune")
def prune(
    all_files: Annotated[
        bool, typer.Option("--all", help="Delete every file in the account, not only this tool's uploads.")
    ] = False,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    base_url: BaseUrl = None,
    region: Region = None,
    api_key: ApiKey = None,
    timeout: Timeout = None,
    retries: Retries = None,
    verbose: Verbose = False,
) -> None:
    """Delete the files this tool uploaded (its upload cache), or all with --all; asks unless --yes."""
    from kimi_vision_cli.api.uploads import UploadCache

    s = settings_from(**{k: v for k, v in locals().items() if k not in ("all_files", "yes")})
    ctx = context_for(s)
    present = [str(f.get("id")) for f in ctx.client.list_files()]
    if all_files:
        ids = present
    else:
        cache = UploadCache.for_env(STATE.term.env)
        mine = cache.file_ids(s.base_url)
        ids = [i for i in mine if i in set(present)]
        cache.forget(set(mine) - set(present))  # gone already: drop from the record
    what = "file" if len(ids) == 1 else "files"
    scope = "in the account" if all_files else "uploaded by kimi-vision"
    if not ids:
        ctx.diag.note(f"nothing to prune: no files {scope}")
        return
    if not yes:
        term = STATE.term
        if not (term.stdin_isatty and term.stderr_isatty):
            raise UsageError(
                f"refusing to delete {len(ids)} {what} without confirmation (no terminal to ask on)",
                hint="pass --yes to prune without asking",
            )
        if not _confirm(f"delete {len(ids)} {what} {scope}? [y/N] "):
            raise UsageError(
                f"not deleting {len(ids)} {what}", hint="answered no; pass --yes to skip the question"
            )
    STATE.exit_code = _delete(ctx, ids)


def _confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin."""
    term = STATE.term
    term.stderr.write(question)
    term.stderr.flush()
    answer = term.stdin.readline()
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    return answer.strip().lower() in ("y", "yes")
