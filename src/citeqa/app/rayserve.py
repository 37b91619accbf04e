"""``citeqa serve --engine ray --replicas N``: the REST API on Ray Serve replicas reading one index folder.

Every replica opens the same read-only index folder (shared storage on a real cluster) and builds the API of
:mod:`citeqa.app.api` around its own :class:`citeqa.qa.QA`; Ray Serve's proxy spreads requests over them, so
more users are served by adding nodes. A rebuild (``citeqa index``, any engine) swaps ``CURRENT``; each
replica's QA sees it within a second and swaps in the new index between two requests, so none fails.

The chat app is not served here: Gradio's queue keeps a session on one server, which a round-robin proxy
breaks. Run ``citeqa serve`` (local) beside it for the chat.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from pathlib import Path
from typing import Any

from citeqa.app.server import prepare
from citeqa.cluster.connect import connect, nodes
from citeqa.config import Settings
from citeqa.errors import EngineError


def _settings_dict(settings: Settings) -> dict[str, Any]:
    d = dataclasses.asdict(settings)
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


class Replica:
    """One Ray Serve replica: a QA over the index folder, and the REST API around it."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from citeqa.qa import QA

        fields = {f.name: f.type for f in dataclasses.fields(Settings)}
        values = {k: Path(v) if k in ("corpus_dir", "index_dir") else v for k, v in settings.items() if k in fields}
        self.qa = QA(Settings(**values))
        self.index = self.qa.index  # load now, not on the first request

    def __serve_build_asgi_app__(self) -> Any:
        from citeqa.app.api import build_api

        return build_api(self.qa)


REPLICA_CPUS = 0.5  # a replica answers one question at a time; half a CPU leaves room for a build on a small cluster


def deployment(settings: Settings, replicas: int) -> Any:
    """The Serve application: ``replicas`` copies of :class:`Replica`."""
    from ray import serve

    cls = serve.ingress()(Replica)
    return serve.deployment(cls, name="citeqa", num_replicas=replicas, ray_actor_options={"num_cpus": REPLICA_CPUS},
                            max_ongoing_requests=8).bind(_settings_dict(settings))


def serve_on_ray(settings: Settings, address: str | None, host: str, port: int, replicas: int) -> int:
    """Build the index if needed (locally), then serve the REST API from Ray Serve until interrupted."""
    prepare(settings, host)
    ray = connect(address)
    from ray import serve

    try:
        # One proxy, on the head node: nodes that share a host would otherwise share the port, and a connection
        # could reach a proxy that has not learnt the route yet. Replicas (the work) still spread over all nodes.
        serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
        serve.run(deployment(settings, replicas), name="citeqa", route_prefix="/", blocking=False)
    except Exception as exc:  # Ray reports deployment failures with many exception types
        raise EngineError(f"Ray Serve could not start the API: {exc}") from exc
    print(f"serving the REST API on http://{host}:{port}/ from {replicas} Ray Serve replica(s) on "
          f"{', '.join(nodes(ray))}", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)  # a plain kill shuts the replicas down too
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()  # the replicas are the cluster's: stop them, or they hold its CPUs
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
