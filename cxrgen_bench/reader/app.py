"""The reader study's web app (ASGI, Starlette): one item at a time to each reader, answers into SQLite.

Routes (TOKEN: the reader's 43-character random token, or the admin's):

  GET  /r/TOKEN/               → the first item not yet answered (resume), or the overview when all are
  GET  /r/TOKEN/item/K         the K-th item of this reader (HTML; JSON with Accept: application/json)
  POST /r/TOKEN/item/K         save the answer (one transaction, committed before the reply) → next item
  GET  /r/TOKEN/img/NAME       an image of one of this reader's items, by its random name
  GET  /r/TOKEN/done           the reader's overview (their own answers only)
  GET  /admin/TOKEN/           every reader's progress
  GET  /admin/TOKEN/export.csv the answers as entered (no key: `reader-study export` adds it from the disk)

Defences, each where it acts: tokens compared in constant time (db.StudyDB.reader_for), reader queries
filtered by reader and unable to read the key (db's authorizer), image names matched against the
reader's own items and opened without following links inside the study's image folder, every value of
the data escaped (pages.py) under a Content-Security-Policy of this server only, writes refused unless
they carry the reader's CSRF token and come from this origin (Origin / Sec-Fetch-Site), a Host header
check against DNS rebinding when bound to localhost, and an access log that never prints a token or a
query string.
"""
from __future__ import annotations

import csv
import io
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import pages
from .db import EXPORT_COLUMNS, MAX_COMMENT, MAX_SECONDS, Reader, StudyDB
from .scales import ALIGNMENT_QUESTION, REALISM_QUESTION, VALUES, labels

IMAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.png$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_BODY = 64 * 1024
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make browsers send Origin: null
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
TOKEN_PATH = re.compile(r"^/(r|admin)/[^/]*")


def redact(path: str) -> str:
    """A path as the log may show it: the token segment replaced."""
    return TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", path)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: security headers on every response, the Host check, the token-free access log,
    and a plain 500 page (no traceback, no data) for anything unexpected."""

    def __init__(self, app: Any, log: Callable[[str], None], local_only: bool):
        self.app, self.log, self.local_only = app, log, local_only

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = redact(scope.get("path", ""))
        status = {"code": 0}

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if self.local_only and not self._host_ok(scope):
            await _plain(send_with_headers, 400, "Unexpected Host header: open the link as it was given.")
            self.log(f"{scope['method']} {path} 400 (Host)")
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 — a reader sees a plain page; the log names the error, not the data
            self.log(f"{scope['method']} {path} 500 ({type(exc).__name__})")
            if status["code"] == 0:
                await _plain(send_with_headers, 500, "Something went wrong on the server. Your saved answers are "
                                                     "safe; reload the page, or tell the study's organiser.")
            return
        self.log(f"{scope['method']} {path} {status['code']}")

    @staticmethod
    def _host_ok(scope: dict) -> bool:
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)


async def _plain(send: Callable, code: int, text: str) -> None:
    body = pages.message("Reader study", text).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def not_found() -> HTMLResponse:
    return HTMLResponse(pages.message("Not found", "There is nothing here. Check that the link is complete."), 404)


def forbidden(why: str) -> HTMLResponse:
    return HTMLResponse(pages.message("Not allowed", why), 403)


def same_origin(request: Request) -> bool:
    """A write from a page of this server: Origin (sent by browsers with every POST) equal to our own, and
    no browser saying the request is cross-site. Clients that send neither (scripts) carry the token
    themselves, which is what a cross-site page cannot do."""
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin not in (f"http://{host}", f"https://{host}"):
            return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def build_app(folder: str | Path, log: Callable[[str], None] | None = None, local_only: bool = True) -> Any:
    """The ASGI app of the study in ``folder`` (checked by the caller: `db.check_study`)."""
    store = StudyDB(Path(folder))
    app = Starlette(routes=STATIC_ROUTES + StudyRoutes(store).routes())
    app.router.redirect_slashes = False  # every path is one of the routes; anything else is a plain 404
    app.add_exception_handler(404, lambda request, exc: not_found())
    app.add_exception_handler(405, lambda request, exc: HTMLResponse(pages.message("Not allowed", "Method not "
                                                                                   "allowed."), 405))
    guarded = Guard(app, log or (lambda message: None), local_only)
    guarded.store = store  # type: ignore[attr-defined]  (closed by the server on shutdown)
    return guarded


# --- pages that are the same for everyone ---------------------------------------------------------------------

async def home(request: Request) -> Response:
    return HTMLResponse(pages.message("Reader study", "Open the personal link you were given."))


async def script(request: Request) -> Response:
    return Response(pages.SCRIPT, media_type="text/javascript; charset=utf-8")


async def style(request: Request) -> Response:
    return Response(pages.STYLE, media_type="text/css; charset=utf-8")


async def icon(request: Request) -> Response:
    return Response(pages.ICON, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


STATIC_ROUTES = [Route("/", home), Route("/static/reader.js", script), Route("/static/reader.css", style),
                 Route("/static/icon.svg", icon), Route("/favicon.ico", icon)]


# --- one study's readers and admin ------------------------------------------------------------------------------

class NotSaved(Exception):
    """An answer refused before it reached the database; ``response`` tells the reader why."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class Answer:
    """A reader's answer as the form sent it, checked and cleaned."""

    item: str  # the public id of the item the page showed
    choice: int
    comment: str
    nonce: str
    seconds: float  # time on the item
    wall: float | None  # the server's time since it rendered the page


class StudyRoutes:
    """The routes of one study's readers and its admin, over the study's database."""

    def __init__(self, store: StudyDB):
        self.store = store

    def routes(self) -> list[Route]:
        return [
            Route("/r/{token}/", self.reader_home), Route("/r/{token}", self.reader_home),
            Route("/r/{token}/item/{position:int}", self.item, methods=["GET", "POST"]),
            Route("/r/{token}/img/{name}", self.image), Route("/r/{token}/done", self.done),
            Route("/admin/{token}/", self.admin), Route("/admin/{token}", self.admin),
            Route("/admin/{token}/export.csv", self.export),
        ]

    def reader_of(self, request: Request) -> Reader | None:
        return self.store.reader_for(request.path_params.get("token", ""))

    async def reader_home(self, request: Request) -> Response:
        reader = await run_in_threadpool(self.reader_of, request)
        if reader is None:
            return not_found()
        token = request.path_params["token"]
        position = await run_in_threadpool(self.store.first_unanswered, reader)
        target = f"/r/{token}/done" if position is None else f"/r/{token}/item/{position}"
        return RedirectResponse(target, status_code=303)

    async def item(self, request: Request) -> Response:
        reader = await run_in_threadpool(self.reader_of, request)
        if reader is None:
            return not_found()
        token, position = request.path_params["token"], request.path_params["position"]
        as_json = "application/json" in request.headers.get("accept", "")
        if request.method == "GET":
            return await run_in_threadpool(self.render, reader, token, position, as_json)
        try:
            return await self.save(request, reader, token, position, as_json)
        except NotSaved as refusal:
            return refusal.response

    def render(self, reader: Reader, token: str, position: int, as_json: bool, error: str = "",
               code: int = 200) -> Response:
        """The item's page (or its JSON), with a fresh nonce and the time it was served."""
        view = self.store.item(reader, position)
        if view is None:
            return not_found()
        resume = self.store.first_unanswered(reader)
        if resume is not None and position > resume:  # no skipping ahead: answers stay a prefix
            return RedirectResponse(f"/r/{token}/item/{resume}", status_code=303)
        total, answered = self.store.total(reader), self.store.answered(reader)
        nonce, served = secrets.token_urlsafe(12), int(time.time() * 1000)
        base = f"/r/{token}"
        if as_json:
            return JSONResponse(_item_json(base, view, position, total, answered, resume, reader.csrf, nonce, served),
                                status_code=code)
        html = pages.item_page(base, reader.name, view, total, answered, resume, reader.csrf, nonce, served, error)
        return HTMLResponse(html, code)

    async def save(self, request: Request, reader: Reader, token: str, position: int, as_json: bool) -> Response:
        """Save the posted answer (committed before the reply), then send the reader to their next item."""
        check_write(request)
        fields = await read_form(request)
        if not secrets.compare_digest(fields.get("csrf", "").encode(), reader.csrf.encode()):
            return forbidden("This answer did not come from your page and was not saved.")
        answer = parse_answer(fields)
        if answer is None:
            return await run_in_threadpool(self.render, reader, token, position, as_json,
                                           "Choose a rating first (keys 1–5).", 400)
        resume = await run_in_threadpool(self.store.first_unanswered, reader)
        if resume is not None and position > resume:  # answers stay a prefix: nothing is skipped
            return HTMLResponse(pages.message("Not saved", f"Item {resume} comes first: open your link again to "
                                                           "continue there."), 409)
        outcome = await run_in_threadpool(self.store.save, reader, position, answer.item, answer.choice,
                                          answer.comment, answer.seconds, answer.wall, answer.nonce)
        if outcome == "stale":
            return HTMLResponse(pages.message("Not saved", "This page is out of date (it belongs to another item). "
                                                           "Open your link again to continue."), 409)
        location = await run_in_threadpool(self.next_location, reader, token, position)
        if as_json:
            return JSONResponse({"saved": outcome, "next": location}, status_code=200)
        return RedirectResponse(location, status_code=303)

    def next_location(self, reader: Reader, token: str, position: int) -> str:
        """The item after ``position`` (or the first unanswered, on a revisited item), else the overview."""
        total = self.store.total(reader)
        resume = self.store.first_unanswered(reader)
        target = position + 1 if position < total and (resume is None or position + 1 <= resume) else resume
        return f"/r/{token}/done" if target is None else f"/r/{token}/item/{target}"

    async def image(self, request: Request) -> Response:
        reader = await run_in_threadpool(self.reader_of, request)
        name = request.path_params["name"]
        if reader is None or not IMAGE_NAME.match(name):
            return not_found()
        data = await run_in_threadpool(_read_image, self.store, reader, name)
        if data is None:
            return not_found()
        # no ETag or Last-Modified: nothing but the pixels may differ between a real and a synthetic file
        return Response(data, media_type="image/png", headers={"cache-control": "private, max-age=3600"})

    async def done(self, request: Request) -> Response:
        reader = await run_in_threadpool(self.reader_of, request)
        if reader is None:
            return not_found()
        rows = await run_in_threadpool(self.store.answers_list, reader)
        return HTMLResponse(pages.done_page(f"/r/{request.path_params['token']}", reader.name, rows))

    async def admin(self, request: Request) -> Response:
        token = request.path_params["token"]
        if not self.store.is_admin(token):
            return not_found()
        rows = await run_in_threadpool(self.store.progress)
        items = {t: rows[0]["tasks"][t]["total"] for t in ("realism", "alignment")} if rows else {}
        return HTMLResponse(pages.admin_page(f"/admin/{token}", rows, items))

    async def export(self, request: Request) -> Response:
        if not self.store.is_admin(request.path_params["token"]):
            return not_found()
        rows = await run_in_threadpool(self.store.export_rows)
        return Response(to_csv(rows, EXPORT_COLUMNS), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="answers.csv"'})


def _item_json(base: str, view: dict[str, Any], position: int, total: int, answered: int, resume: int | None,
               csrf: str, nonce: str, served: int) -> dict[str, Any]:
    task = view["task"]
    return {
        "position": position, "total": total, "answered": answered, "resume": resume, "task": task,
        "question": REALISM_QUESTION if task == "realism" else ALIGNMENT_QUESTION,
        "scale": [{"key": i, "value": v, "label": t} for i, (v, t) in enumerate(labels(task), 1)],
        "prompt": view["prompt"], "images": [f"{base}/img/{n}" for n in view["images"]],
        "answer": view["answer"], "form": {"action": f"{base}/item/{position}", "csrf": csrf,
                                           "item": view["public_id"], "nonce": nonce, "served": served}}


def check_write(request: Request) -> None:
    """Raise NotSaved unless the request is a form posted from a page of this server."""
    if not same_origin(request):
        raise NotSaved(forbidden("This answer came from another site and was not saved."))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise NotSaved(HTMLResponse(pages.message("Not saved", "Answers are sent as a form."), 415))


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the first value of each), read up to MAX_BODY bytes; raise NotSaved otherwise."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise NotSaved(HTMLResponse(pages.message("Not saved", "This answer is too long."), 413))
    try:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20).items()}
    except (UnicodeDecodeError, ValueError):
        raise NotSaved(HTMLResponse(pages.message("Not saved", "The answer could not be read."), 400)) from None


def parse_answer(fields: dict[str, str]) -> Answer | None:
    """The answer in the form's fields; None without a rating on the scale or a well-formed nonce."""
    nonce = fields.get("nonce", "")
    try:
        choice = int(fields.get("choice", ""))
    except ValueError:
        choice = None
    if choice not in VALUES or not NONCE.match(nonce):
        return None
    comment = fields.get("comment", "").replace("\x00", "").replace("\r\n", "\n").strip()[:MAX_COMMENT]
    elapsed, served = _number(fields.get("elapsed_ms")), _number(fields.get("served"))
    # the page's own count of visible time; the server's time since it rendered the page beside it
    wall = None if served is None else min(max(time.time() - served / 1000.0, 0.0), MAX_SECONDS)
    seconds = wall if elapsed is None else min(elapsed / 1000.0, MAX_SECONDS)
    return Answer(fields.get("item", ""), choice, comment, nonce, seconds or 0.0, wall)


def _number(text: str | None) -> float | None:
    """A non-negative finite number from a form field, else None."""
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def _read_image(store: StudyDB, reader: Any, name: str) -> bytes | None:
    """The bytes of one of the reader's images: a regular file directly inside the study's image folder."""
    if not store.reader_may_see(reader, name):
        return None
    path = store.images / name
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or Path(os.path.realpath(path)).parent != store.images:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV; a text cell that a spreadsheet would run as a formula is prefixed with ' (comments are data)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
                         for k, v in row.items()})
    return buf.getvalue()


__all__ = ["build_app", "is_loopback", "redact", "to_csv"]
