"""``citeqa serve``: one HTTP server for the REST API (:mod:`citeqa.app.api`) and the chat app.

The Gradio app is mounted on the API's FastAPI app at ``/`` (Gradio's own ``mount_gradio_app``), so one
uvicorn process serves ``/api/v1/...``, ``/healthz``, ``/docs`` and the chat with its ``/ask`` endpoint.
``--api-only`` serves the API alone: no Gradio event loop, no idle work. ``--share`` needs Gradio's own
server (it opens the tunnel), so it serves the chat app only.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence

from citeqa.app.guard import COOKIE, LOGIN_PAGE, LOOPBACK_NAMES, WILDCARD_BINDS, Guard, allowed_hosts, host_name
from citeqa.app.progress import progress_bars
from citeqa.app.term import name
from citeqa.config import Settings
from citeqa.errors import BindError, InputError
from citeqa.index.layout import read_manifest
from citeqa.qa import QA


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is not a TCP port: use 1-65535")


def prepare(settings: Settings, host: str, share: bool = False, token: str | None = None) -> QA:
    """Warn about exposure, build the index if it is missing or stale, and return a QA over it."""
    if not is_loopback(host) and not token:
        print(f"WARNING: binding {host} WITHOUT AN ACCESS TOKEN: the app (your documents, uploads and feedback) is "
              "reachable from other machines on the network by anyone. Set --token or CITEQA_TOKEN.",
              file=sys.stderr)
    if share:
        print("warning: --share opens a PUBLIC Gradio link: anyone with the link can read your documents and upload "
              "files", file=sys.stderr)
    shards = int((read_manifest(settings.index_dir) or {}).get("shards", 1))
    qa = QA(settings.with_(shards=shards))  # a sharded index stays sharded
    report, why = qa.build_or_serve_current(progress_bars())
    if report is None:
        print(f"warning: {why}", file=sys.stderr)
        return qa
    for path, reason in report.skipped:
        print(f"warning: skipped {name(path)}: {name(reason)}", file=sys.stderr)
    print(f"index: {report.documents} documents, {report.chunks} passages", file=sys.stderr)
    return qa


def make_app(qa: QA, api_only: bool = False, hosts: frozenset[str] | None = LOOPBACK_NAMES,
             token: str | None = None):  # -> an ASGI app
    """The API on a FastAPI app, with the chat app mounted at ``/`` unless ``api_only``, behind
    :class:`citeqa.app.guard.Guard` (allowed hosts, optional token, framing headers)."""
    from citeqa.app.api import add_login, build_api

    app = build_api(qa)
    if token:
        add_login(app, token, LOGIN_PAGE, COOKIE)
    if not api_only:
        from citeqa.app import ui

        app = ui.mount(ui.build_app(qa), app)
    return Guard(app, hosts, token)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          api_only: bool = False, allowed: Sequence[str] = (), token: str | None = None) -> int:
    """Build the index if needed, then serve until interrupted."""
    check_port(port)
    if host_name(host) in WILDCARD_BINDS and not allowed:
        raise InputError(f"binding {host or 'every address'} serves any network name: say which names clients use "
                         "with --allowed-host NAME (repeatable), or --allowed-host '*' to accept any Host header")
    hosts = allowed_hosts(host, allowed)
    qa = prepare(settings, host, share, token)
    if share:
        from citeqa.app import ui

        print("note: with --share only the chat app (and its /ask endpoint) is served, not /api/v1",
              file=sys.stderr)
        ui.launch(ui.build_app(qa), host, port, share)
        return 0
    what = "REST API" if api_only else "chat app and REST API"
    print(f"serving the {what} on http://{host}:{port}/ (API docs at /docs)", file=sys.stderr)
    run_app(make_app(qa, api_only, hosts, token), host, port)
    return 0


def run_app(app: object, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until interrupted (no access log: questions stay out of logs)."""
    import uvicorn

    from citeqa.app.transport import uvicorn_options

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, **uvicorn_options())
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as exc:
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except SystemExit:  # uvicorn logs a bind failure and exits; say it as citeqa does
        if server.started:
            raise
        raise BindError(f"cannot listen on {host}:{port} (the address is in use, or the host name is unknown)"
                        ) from None
    if not server.started:
        raise BindError(f"cannot listen on {host}:{port} (the address is in use, or the host name is unknown)")
