"""Uploading: what a plan says to upload (before its request is sent), and the `upload`
command's inputs. The same prepared bytes are never sent twice (api/uploads.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kimi_vision_cli.api.uploads import UploadCache, Uploaded, upload_bytes
from kimi_vision_cli.errors import KimiVisionError, NotStartedError, Tally, UsageError
from kimi_vision_cli.output.records import UploadRecord
from kimi_vision_cli.plan import Planned, Prepared, check_file_size
from kimi_vision_cli.runner.context import Context
from kimi_vision_cli.runner.prepare import prepare_source
from kimi_vision_cli.types import Source


def upload_prepared(p: Prepared, ctx: Context) -> Uploaded:
    """Upload one prepared medium, reusing an earlier upload of the same bytes."""
    assert p.ref.data is not None
    try:
        return upload_bytes(
            ctx.client, UploadCache.for_env(ctx.term.env, ctx.diag.warn), p.ref.data, p.ref.kind, p.ref.mime,
            base_url=ctx.settings.connection.base_url, name=p.input, reuse=not ctx.settings.media.no_cache,
        )  # fmt: skip
    except KimiVisionError as err:
        raise err.with_input(p.input) from None


def upload_pending(planned: Planned, ctx: Context) -> Planned:
    """The plan with every medium it says to upload uploaded: a body ready to send.
    (The plan checked every size before this first upload.)"""
    for index, p in planned.pending:
        up = upload_prepared(p, ctx)
        planned = planned.uploaded(index, up.file_id, cached=up.cached)
    return planned


def upload_each(sources: Iterable[Source], ctx: Context, tally: Tally) -> Iterator[UploadRecord]:
    """`upload`: each input prepared exactly as describe would send it, then uploaded.
    Failures go to the tally (reported there) and come out as failed records; auth and
    quota stop the run, and the inputs after are records saying they were not started."""
    it = iter(sources)
    for source in it:
        try:
            if source.kind == "file_id" and source.error is None:  # a bad id: prepare says so
                raise UsageError("already uploaded", input=source.display, hint="nothing to do")
            p = prepare_source(source, ctx)
            assert p.ref.data is not None
            # Refused before any byte is sent: Moonshot caps one file at 100 MiB.
            check_file_size(len(p.ref.data), p.input, p.ref.kind)
            up = upload_prepared(p, ctx)
        except KimiVisionError as err:
            err = err.with_input(source.display)
            stop = tally.error(err)
            yield UploadRecord.failed(source.display, err)
            if stop:
                why = "not started: the run stopped at an error every input would share (see above)"
                for rest in it:
                    yield UploadRecord.failed(
                        rest.display, NotStartedError(why, hint="fix it and rerun", input=rest.display)
                    )
                return
            continue
        tally.ok()
        yield UploadRecord(p.input, up.file_id, up.purpose, up.bytes, up.cached)
