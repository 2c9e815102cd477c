"""Adding feeds and links from the browser: `/-/subscribe` (a feed, a site or a profile
address, found as `aggregator subscribe` finds it) and `/-/import` (a file in any format
`aggregator import` reads, with the same counts). The network and file work runs in a worker
thread with a connection of its own (web/refresher.py); every POST is checked as the other
write routes are (web/views.py)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasette.utils.asgi import Response

from .. import store
from . import refresher, settings
from .errors import one_line
from .settings import DATABASE
from .views import _render, check_csrf_token, checked_form, refuse_foreign_write

# How many of an import's warnings and skipped records are listed (as the command line does).
SHOWN_WARNINGS = 10
SHOWN_SKIPPED = 20
# Form fields other than the file: a few short values.
MAX_FIELD = 10_000


def _tags(value: str) -> list[str]:
    return store.normalise_tags(value.split(","))


# ---------------------------------------------------------------------------------------------
# Subscribe


def result_line(res: Any) -> tuple[str, bool]:
    """What subscribing to one address gave, in one line, and whether it worked."""
    if res.error:
        return f"Nothing was subscribed: {one_line(str(res.error))}", False
    name = res.title or res.feed_url
    if res.created:
        n = res.entries
        return f"Subscribed to {name} <{res.feed_url}>: {n} entr{'y' if n == 1 else 'ies'}.", True
    return f"Already subscribed to {name} <{res.feed_url}>.", True


async def subscribe(request: Any, datasette: Any) -> Response:
    if request.method != "POST":
        form = {k: request.args.get(k, "")[:MAX_FIELD] for k in ("url", "tags")}
        return await _render(
            datasette, request, "aggregator_subscribe.html", {"form": form, "result": None}
        )
    form = await checked_form(request, datasette)
    address = form.get("url", "").strip()
    tags = _tags(form.get("tags", ""))
    if not address:
        return await _render(
            datasette,
            request,
            "aggregator_subscribe.html",
            {"form": form, "result": {"ok": False, "line": "Give the address of a feed or site."}},
            status=400,
        )
    from .. import service

    db_path = datasette.get_database(DATABASE).path

    async def work(db: Any, client: Any) -> Any:
        return (await service.subscribe(db, client, [address], tags=tags))[0]

    try:
        res = await refresher.off_loop(lambda: refresher.run_with_db(db_path, work))
        line, ok = result_line(res)
    except Exception as exc:  # any type: the request is its own failure domain
        res, line, ok = None, f"Nothing was subscribed: {refresher.one_line(exc)}", False
    feed_id = None
    if ok and res is not None and res.feed_url:
        rows = await datasette.get_database(DATABASE).execute(
            "select id from feeds where url = :url", {"url": res.feed_url}
        )
        feed_id = rows.first()[0] if rows.first() else None
    return await _render(
        datasette,
        request,
        "aggregator_subscribe.html",
        {
            "form": form if not ok else {"url": "", "tags": ""},
            "result": {
                "ok": ok,
                "line": line,
                "articles_url": (
                    f"{datasette.urls.table(DATABASE, 'articles')}?feed_id={feed_id}"
                    if feed_id
                    else None
                ),
            },
        },
        status=200 if ok else 422,
    )


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class Upload:
    fields: dict[str, str]
    path: Path | None = None  # the file, written to the caller's folder as it arrived
    size: int = 0
    too_large: bool = False
    problem: str = ""  # why the body could not be read whole


async def read_upload(request: Any, limit: int, folder: Path) -> Upload:
    """A multipart/form-data body read from the request as it arrives: its short fields in
    memory, its one file (field `file`) written to `folder`, at most `limit` bytes (past that,
    the rest is read and dropped, and `too_large` set). Memory stays bounded by the fields.
    A body that cannot be read whole gets its `problem`, with the fields read before it."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    upload = Upload(fields={})
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        upload.problem = "send the file with the form on the import page"
        return upload
    part: dict[str, Any] = {}
    header: list[bytes] = [b"", b""]
    sink: list[Any] = []  # the open file of the part being read, if it is the upload
    ended: list[bool] = []  # the closing boundary came: the body is whole

    def on_part_begin() -> None:
        part.clear()
        part.update(name="", filename=None, chunks=[], size=0)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end][:1000]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end][:MAX_FIELD]

    def on_header_end() -> None:
        if header[0].lower() == b"content-disposition":
            _, params = parse_options_header(header[1])
            part["name"] = params.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in params:
                part["filename"] = params[b"filename"].decode("utf-8", "replace")
        header[0] = header[1] = b""

    def on_headers_finished() -> None:
        if part["filename"] is not None and part["name"] == "file" and upload.path is None:
            upload.path = folder / safe_filename(part["filename"])
            sink.append(open(upload.path, "wb"))  # closed at the part's end, or below

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["size"] += end - start
        if sink:
            upload.size = part["size"]
            if part["size"] > limit:
                upload.too_large = True
            else:
                sink[0].write(data[start:end])
        elif part["size"] <= MAX_FIELD:
            part["chunks"].append(data[start:end])

    def on_part_end() -> None:
        if sink:
            sink.pop().close()
        elif part["filename"] is None and part["name"] and part["size"] <= MAX_FIELD:
            upload.fields[part["name"]] = b"".join(part["chunks"]).decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": lambda: ended.append(True),
        },
    )
    try:
        while True:
            message = await request.receive()
            if message.get("type") != "http.request":
                break
            parser.write(message.get("body", b""))
            if not message.get("more_body", False):
                break
        parser.finalize()
    except Exception:  # any type: the body is the sender's; python-multipart's errors vary
        upload.problem = "the form could not be read; send it again"
    finally:
        while sink:
            sink.pop().close()
    if not ended and not upload.problem:
        upload.problem = "the upload was cut short; send the file again"
    return upload


def safe_filename(name: str) -> str:
    """The uploaded file's name without folders or odd characters (its extension helps to
    recognise the format)."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:100]
    return cleaned or "upload"


async def import_page(request: Any, datasette: Any) -> Response:
    from ..formats import FORMATS

    context: dict[str, Any] = {"formats": FORMATS, "form": {"format": "auto", "tags": ""}}
    if request.method != "POST":
        return await _render(datasette, request, "aggregator_import.html", context)
    from ..formats._common import MAX_IMPORT_BYTES

    refuse_foreign_write(request)
    with tempfile.TemporaryDirectory(prefix="aggregator-upload-") as folder:
        upload = await read_upload(request, MAX_IMPORT_BYTES, Path(folder))
        check_csrf_token(request, datasette, upload.fields.get("csrftoken", ""))
        problem = upload.problem
        fmt = upload.fields.get("format", "auto")
        if fmt != "auto" and fmt not in FORMATS:
            fmt = "auto"
        context["form"] = {"format": fmt, "tags": upload.fields.get("tags", "")}
        if not problem and upload.too_large:
            problem = f"the file is larger than {MAX_IMPORT_BYTES >> 20} MiB; split it"
        if not problem and (upload.path is None or not upload.size):
            problem = "choose a file to import"
        if problem:
            context["error"] = f"Nothing was imported: {problem}."
            return await _render(
                datasette, request, "aggregator_import.html", context, status=400
            )
        path = upload.path
        assert path is not None
        tags = _tags(upload.fields.get("tags", ""))
        db_path = datasette.get_database(DATABASE).path
        try:
            summary = await refresher.off_loop(lambda: _import(db_path, path, fmt, tags))
        except Exception as exc:  # any type: the request is its own failure domain
            context["error"] = f"Nothing was imported: {refresher.one_line(exc)}"
            return await _render(
                datasette, request, "aggregator_import.html", context, status=422
            )
    context["summary"] = {
        "line": summary.line(),
        "warnings": summary.warnings[:SHOWN_WARNINGS],
        "more_warnings": max(0, len(summary.warnings) - SHOWN_WARNINGS),
        "skipped": summary.skipped[:SHOWN_SKIPPED],
        "more_skipped": max(0, len(summary.skipped) - SHOWN_SKIPPED),
        "feeds": summary.feeds_added,
    }
    if summary.feeds_added or summary.links_added:
        context["summary"]["refreshing"] = _refresh_soon(datasette)
    return await _render(datasette, request, "aggregator_import.html", context)


def _import(db_path: str, path: Path, fmt: str, tags: list[str]) -> Any:
    """Read the file whole first (a bad file fails before anything is written), then store it
    under the single-writer lock, as `aggregator import` does."""
    from .. import service

    batch = service.read_import_file(path, format=fmt)
    with refresher.writer(db_path, wait=refresher.INTERACTIVE_LOCK_WAIT, what="import"):
        db = store.open_db(db_path, migrate=False)
        try:
            return service.import_batch(db, batch, tags=tags)
        finally:
            db.conn.close()


def _refresh_soon(datasette: Any) -> bool:
    """Start a refresh of what is due (the new feeds and links) when the server refreshes in
    the background at all; True when one was started or is running."""
    from .feeds import start_run

    if settings.read(datasette).refresh_every <= 0:
        return False
    return start_run(datasette, every_feed=False, what="refresh after the import")
