"""The outermost layer of ``citeqa serve``: which hosts and origins may talk to it, who may, and headers that keep
its pages out of other sites' frames.

* **Host allow-list**: a request whose ``Host`` is not an allowed name gets 400. Loopback names are always
  allowed; ``--host`` (when it names one address) and each ``--allowed-host`` add theirs; ``*`` allows any.
  This defeats DNS rebinding: a page on ``evil.example`` that re-points its name to 127.0.0.1 still sends
  ``Host: evil.example``.
* **Origin check**: a browser request from a page of another origin (an ``Origin`` header whose host is not
  allowed) gets 403, whatever CORS headers the app under it would send.
* **Access token** (optional, ``--token`` or ``CITEQA_TOKEN``): every route but ``/healthz`` needs
  ``Authorization: Bearer TOKEN`` or the ``citeqa_token`` cookie the chat app's login sets.
* **Bodies**: at most ``MAX_BODY_BYTES`` (the upload route: ``UPLOAD_BODY_BYTES``), no piece more than
  ``BODY_TIMEOUT_S`` after the last; headers are bounded and timed in :mod:`citeqa.app.transport`.
* **Headers** on every response: ``X-Frame-Options: DENY``, ``Content-Security-Policy: frame-ancestors 'none'``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 64 * 1024  # every route; the REST API checks it again (411, honest lengths) where no guard runs (Ray)
UPLOAD_PATH = "/gradio_api/upload"
UPLOAD_BODY_BYTES = 21 * 2**20  # the 20 MB upload limit plus the multipart envelope
BODY_TIMEOUT_S = 30.0
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
COOKIE = "citeqa_token"
OPEN_PATHS = ("/healthz", "/login")
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def host_name(value: str) -> str:
    """The host of a ``Host`` header value or URL netloc, lower case, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The allowed host names for a server bound to ``bind`` (``None``: any host, when ``*`` is among ``extra``)."""
    names = set(LOOPBACK_NAMES)
    if host_name(bind) not in WILDCARD_BINDS:
        names.add(host_name(bind))
    for name in extra:
        if name.strip() == "*":
            return None
        names.add(host_name(name))
    return frozenset(names)


class Guard:
    """ASGI middleware applying the rules above to HTTP and WebSocket requests."""

    def __init__(self, app: Any, hosts: frozenset[str] | None, token: str | None = None) -> None:
        self.app, self.hosts, self.token = app, hosts, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = self._problem(scope, headers)
        if problem is not None and problem[0] == 401 and scope["type"] == "http" and scope.get("method") == "GET" \
                and "text/html" in headers.get("accept", ""):
            await _redirect(send, "/login")  # a browser: to the login form
            return
        if problem is not None:
            await _reply(send, *problem) if scope["type"] == "http" else await send({"type": "websocket.close"})
            return

        if scope["type"] == "http":
            limit = UPLOAD_BODY_BYTES if scope.get("path", "").endswith(UPLOAD_PATH) else MAX_BODY_BYTES
            size = headers.get("content-length", "")
            if size and (not size.isdigit() or int(size) > limit):
                await _reply(send, 413, f"the request body is over {limit // 1024:,} KB")
                return
            receive = _bounded(receive, limit)

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)

    def _problem(self, scope: dict, headers: dict[str, str]) -> tuple[int, str] | None:
        if self.hosts is not None:
            host = host_name(headers.get("host", ""))
            if host not in self.hosts:
                return 400, f"host {host or '(none)'!r} is not served here (citeqa serve --allowed-host adds names)"
            origin = headers.get("origin")
            if origin and origin != "null" and host_name(urlsplit(origin).netloc) not in self.hosts:
                return 403, "cross-origin requests are refused"
        if self.token and not scope.get("path", "").startswith(OPEN_PATHS) and not self._authorised(headers):
            return 401, "this server needs its access token: Authorization: Bearer TOKEN"
        return None

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.token
        given = headers.get("authorization", "")
        if given.lower().startswith("bearer ") and hmac.compare_digest(given[7:].strip().encode(), self.token.encode()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.token.encode())


async def _reply(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


def _bounded(receive: Any, limit: int) -> Any:
    """``receive`` that fails a request whose body grows past ``limit`` bytes or stalls ``BODY_TIMEOUT_S``
    between pieces; once the body is complete, messages (a disconnect) pass through unbounded in time."""
    seen, done = 0, False

    async def bounded() -> dict:
        nonlocal seen, done
        if done:
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise RequestRefused("the request body stalled") from None
        seen += len(message.get("body", b""))
        if seen > limit:
            raise RequestRefused(f"the request body is over {limit // 1024:,} KB")
        done = message.get("type") != "http.request" or not message.get("more_body", False)
        return message

    return bounded


class RequestRefused(Exception):
    """A request body broke a limit of :func:`_bounded` (the server drops the request)."""


async def _redirect(send: Any, where: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", where.encode()), (b"content-length", b"0"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": b""})


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>citeqa: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem">
<h1>citeqa</h1><p>This server needs its access token (given to <code>citeqa serve --token</code> or
<code>CITEQA_TOKEN</code>).</p>
<form method="post" action="/login"><label>Access token <input type="password" name="token" required
autofocus></label> <button type="submit">Sign in</button></form>{message}</body></html>"""
