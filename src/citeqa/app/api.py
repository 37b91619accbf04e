"""The REST API: ``/api/v1/ask``, ``/api/v1/search``, ``/api/v1/documents``, ``/healthz``, OpenAPI at ``/docs``.

Every answer is the JSON contract of ``citeqa ask --json`` (:meth:`citeqa.models.Answer.to_dict`). Bad input
gets a 4xx with ``{"error": message}``; anything unexpected a 500 with ``{"error": "internal error"}`` and no
traceback. Request bodies are capped (``MAX_BODY_BYTES``). Questions run in a small pool of worker threads
(``WORKERS``): the work is numpy and SQLite, so more threads than cores only queue inside the interpreter.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from citeqa import __version__
from citeqa.app.guard import MAX_BODY_BYTES  # one cap: the guard's for every route, this API's own check too
from citeqa.config import MODES
from citeqa.errors import CiteqaError, IndexBusyError, IndexCorruptError, IndexMissingError, InputError
from citeqa.models import passage_dict
from citeqa.qa import QA, refuse_lone_surrogates

log = logging.getLogger("citeqa.api")
WORKERS = 2
MAX_HISTORY = 20


class AskRequest(BaseModel):
    question: str = Field(description="the question, plain language")
    k: int | None = Field(None, description="passages to read (1-100)")
    mode: str | None = Field(None, description=f"retrieval: {', '.join(MODES)}")
    min_confidence: float | None = Field(None, description="answer only at or above this confidence (0-1)")
    history: list[str] = Field(default_factory=list, description="earlier questions of the conversation")


class SearchRequest(BaseModel):
    query: str = Field(description="what to look for")
    k: int | None = Field(None, description="passages to return (1-100)")
    mode: str | None = Field(None, description=f"retrieval: {', '.join(MODES)}")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def status_of(exc: CiteqaError) -> int:
    """The HTTP status for a library error."""
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, IndexBusyError | IndexMissingError | IndexCorruptError):
        return 503
    return 500


class BodyCap:
    """ASGI middleware for ``/api/``: a POST must say its length (411), at most ``MAX_BODY_BYTES`` (413), and
    may not send more than it said."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        size = dict(scope["headers"]).get(b"content-length")
        problem = None
        if size is None and scope["method"] == "POST":
            problem = (411, "a POST needs a Content-Length header")
        elif size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            problem = (413, f"the request body is over {MAX_BODY_BYTES // 1024} KB")
        if problem is not None:
            await _error(*problem)(scope, receive, send)
            return
        limit, seen = int(size or 0), 0

        async def bounded() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise ValueError("the request body is longer than its Content-Length")
            return message

        await self.app(scope, bounded, send)


def build_api(qa: QA, app: FastAPI | None = None) -> FastAPI:
    """The API's routes on ``app`` (a new FastAPI app when ``None``), answering from ``qa``."""
    app = app or FastAPI(title="citeqa", version=__version__, description=__doc__.split("\n\n")[0],
                         docs_url=None, openapi_url="/openapi.json", redoc_url=None)
    add_offline_docs(app)
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="citeqa-api")

    async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, lambda: fn(*args, **kwargs))

    app.add_middleware(BodyCap)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:  # never a traceback to the client
        log.error("internal error on %s", request.url.path, exc_info=exc)
        return _error(500, "internal error")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request body")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(CiteqaError)
    async def library_error(_: Request, exc: CiteqaError) -> Response:
        return _error(status_of(exc), str(exc))

    @app.post("/api/v1/ask", summary="Answer a question with cited verbatim quotes")
    async def ask(req: AskRequest) -> Response:
        if len(req.history) > MAX_HISTORY:
            raise InputError(f"history holds at most {MAX_HISTORY} questions")
        refuse_lone_surrogates("the question", req.question)
        refuse_lone_surrogates("history", *req.history)
        ans = await run(qa.ask, req.question, k=req.k, mode=req.mode, min_confidence=req.min_confidence,
                        history=tuple(req.history))
        return _json(ans.to_dict())

    @app.post("/api/v1/search", summary="The passages that best match a query (no answer)")
    async def search(req: SearchRequest) -> Response:
        refuse_lone_surrogates("the query", req.query)
        passages = await run(qa.search, req.query, k=req.k, mode=req.mode)
        return _json({"query": req.query, "passages": [passage_dict(p) for p in passages]})

    @app.get("/api/v1/documents", summary="The indexed documents")
    async def documents() -> Response:
        docs = await run(qa.documents)
        return _json({"documents": [{"path": p, "format": f, "characters": n} for p, f, n in docs]})

    @app.get("/api/v1/documents/{path:path}", summary="A document's text, or the slice [start, end)")
    async def document(path: str, start: int | None = Query(None, ge=0), end: int | None = Query(None, ge=0)
                       ) -> Response:
        doc = await run(qa.document, path)
        if doc is None:
            return _error(404, f"no document {path!r} in the index")
        a = 0 if start is None else start
        b = len(doc.text) if end is None else end
        if a > b or b > len(doc.text):
            return _error(400, f"start and end must satisfy 0 <= start <= end <= {len(doc.text)}")
        return _json({"path": doc.path, "format": doc.format, "start": a, "end": b, "text": doc.text[a:b],
                      "pages": list(doc.pages)})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    async def unknown(rest: str) -> Response:  # before a mounted app can answer in its own format
        return _error(404, "Not Found")

    @app.get("/healthz", summary="Liveness and the index in use")
    async def healthz() -> Response:
        try:
            index = await run(lambda: qa.index)
        except CiteqaError as exc:
            return _json({"status": "unavailable", "error": str(exc)}, 503)
        counts = index.manifest.get("counts", {})
        return _json({"status": "ok", "version": __version__, "documents": counts.get("documents"),
                      "chunks": counts.get("chunks"), "index": index.folder.name})

    return app


def add_offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from files installed with the package ``fastapi-offline`` (FastAPI's own page loads
    it from a CDN: blank offline, and unpinned code in the app's origin)."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount("/docs-static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="citeqa API",
                                   swagger_js_url="/docs-static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-static/swagger-ui.css",
                                   swagger_favicon_url="/docs-static/favicon.png")


def add_login(app: FastAPI, token: str, page: str, cookie: str) -> None:
    """``/login``: a form (``page``, with a ``{message}`` slot) that checks the token and sets it as an HttpOnly,
    same-site cookie named ``cookie`` for the chat app."""

    @app.get("/login", include_in_schema=False)
    async def login_form() -> Response:
        return Response(page.format(message=""), media_type="text/html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = (await request.body())[:4096].decode("utf-8", "replace")
        given = (parse_qs(body).get("token") or [""])[0]
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response(page.format(message="<p role=alert>Wrong token.</p>"), 401, media_type="text/html")
        done = RedirectResponse("/", status_code=303)
        done.set_cookie(cookie, token, httponly=True, samesite="strict")
        return done
