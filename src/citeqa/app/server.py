"""``citeqa serve``: one HTTP server for the REST API (:mod:`citeqa.app.api`) and the chat app.

The Gradio app is mounted on the API's FastAPI app at ``/`` (Gradio's own ``mount_gradio_app``), so one
uvicorn process serves ``/api/v1/...``, ``/healthz``, ``/docs`` and the chat with its ``/ask`` endpoint.
``--api-only`` serves the API alone: no Gradio event loop, no idle work. ``--share`` needs Gradio's own
server (it opens the tunnel), so it serves the chat app only.
"""

from __future__ import annotations

import ipaddress
import sys

from citeqa.app.progress import progress_bars
from citeqa.config import Settings
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


def prepare(settings: Settings, host: str, share: bool = False) -> QA:
    """Warn about exposure, build the index if it is missing or stale, and return a QA over it."""
    if not is_loopback(host):
        print(f"warning: binding {host}: the app (your documents, uploads and feedback) is reachable from other "
              "machines on the network, without authentication", file=sys.stderr)
    if share:
        print("warning: --share opens a PUBLIC Gradio link: anyone with the link can read your documents and upload "
              "files", file=sys.stderr)
    shards = int((read_manifest(settings.index_dir) or {}).get("shards", 1))
    qa = QA(settings.with_(shards=shards))  # a sharded index stays sharded
    report = qa.build(progress_bars())
    for path, reason in report.skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    print(f"index: {report.documents} documents, {report.chunks} passages", file=sys.stderr)
    return qa


def make_app(qa: QA, api_only: bool = False):  # -> fastapi.FastAPI
    """The API on a FastAPI app, with the chat app mounted at ``/`` unless ``api_only``."""
    from citeqa.app.api import build_api

    app = build_api(qa)
    if api_only:
        return app
    from citeqa.app import ui

    return ui.mount(ui.build_app(qa), app)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          api_only: bool = False) -> int:
    """Build the index if needed, then serve until interrupted."""
    qa = prepare(settings, host, share)
    if share:
        from citeqa.app import ui

        print("note: with --share only the chat app (and its /ask endpoint) is served, not /api/v1",
              file=sys.stderr)
        ui.launch(ui.build_app(qa), host, port, share)
        return 0
    what = "REST API" if api_only else "chat app and REST API"
    print(f"serving the {what} on http://{host}:{port}/ (API docs at /docs)", file=sys.stderr)
    run_app(make_app(qa, api_only), host, port)
    return 0


def run_app(app: object, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until interrupted (no access log: questions stay out of logs)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
