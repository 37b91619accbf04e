"""uvicorn settings of ``citeqa serve``: bounded headers, no request held open by a slow client, a bound on
connections. (Bodies are capped and timed by :class:`citeqa.app.guard.Guard`.)"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0  # from connecting (or the previous response) to a request's complete headers
MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 200  # beyond this, new requests get 503 at once
KEEP_ALIVE_S = 5


class TimedH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers have not all arrived in time
    (uvicorn itself waits for ever: fifty half-sent requests held fifty connections)."""

    _deadline: asyncio.TimerHandle | None = None
    _armed_for: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._armed_for = self.cycle
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._expire)

    def _expire(self) -> None:
        if self.cycle is self._armed_for and not self.transport.is_closing():  # no new request began
            self.transport.close()


def uvicorn_options() -> dict[str, Any]:
    return {"http": TimedH11, "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
            "limit_concurrency": MAX_CONNECTIONS, "timeout_keep_alive": KEEP_ALIVE_S}
