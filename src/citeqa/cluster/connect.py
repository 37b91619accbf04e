"""Connecting to a Ray cluster (or starting a local one), with clear messages when that cannot be done."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from citeqa.errors import EngineError

RUNTIME_ENV = {"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                            "GRADIO_ANALYTICS_ENABLED": "False", "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}}


def ray_module() -> Any:
    """The ``ray`` package, or :class:`EngineError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError("--engine ray needs Ray: pip install 'citeqa[ray]' (or: pip install 'ray[data,serve]')"
                          ) from exc
    return ray


def connect(address: str | None) -> Any:
    """``ray``, initialised: joined to the cluster at ``address`` ("auto" finds a local one), or a new local
    single-node cluster when ``address`` is None."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    if address and address != "auto":
        reachable(address)
    # The driver's own C++ log: Ray logs a harmless warning about actor arguments at level "E"; failures reach
    # us as exceptions, which become messages.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        ray.init(address=address, runtime_env=RUNTIME_ENV, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise EngineError(f"cannot reach a Ray cluster {where}: {exc}. Start one with `ray start --head`, "
                          "or leave out --address to run one here") from exc
    quiet()  # Ray sets its loggers up in init: quieten them after it
    return ray


def quiet(prefix: str = "ray", level: int = logging.WARNING) -> None:
    """Ray's own loggers (Ray Data configures its own on import): ``level`` and above only."""
    for name in [prefix, *(n for n in logging.root.manager.loggerDict if n.startswith(prefix + "."))]:
        logging.getLogger(name).setLevel(level)


def reachable(address: str, timeout: float = 5.0) -> None:
    """:class:`EngineError` at once when nothing listens at ``host:port`` (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            return
    except ValueError as exc:
        raise EngineError(f"--address must be host:port (or auto), not {address!r}") from exc
    except OSError as exc:
        raise EngineError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}. Start one with "
                          "`ray start --head`, or leave out --address to run one here") from exc


def nodes(ray: Any) -> list[str]:
    """The alive nodes of the cluster, as ``ip (node id prefix)``."""
    return sorted(f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in ray.nodes() if n.get("Alive"))
