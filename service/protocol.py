"""uvicorn's httptools protocol with the guards a public port needs (`inttower serve` runs it).

httptools reads headers without a size limit and waits for an unfinished request forever; a
worker accepts connections until it runs out of file descriptors. Here, per worker:
- a request's line and headers over `max_header_bytes` answer 431 and close the connection, as
  soon as that many bytes have arrived without the end of the headers: the parser hands a header
  over only when it is complete, so counting there let one 32 MiB header be read and buffered
  whole first (a 130-540 ms stall of the event loop, measured from outside);
- a request not received whole (headers and body) within `read_timeout_s` of its first byte, or
  of the connection's opening, closes the connection;
- a connection beyond `max_connections` answers 503 at once and is closed, so descriptors stay
  for the bundle watcher and the health routes.
What comes after the request (the app, keep-alive) is uvicorn's as before. The limits are the
app's Settings, which service.app's lifespan puts in uvicorn's app state (SETTINGS_STATE) for the
protocols to read; an app without them (the benchmark's floors) gets Settings() from the
environment.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.repeat_log import RepeatLimitedLog
from service.settings import Settings

log = logging.getLogger(__name__)
# Per worker: a flood of refused or timed-out connections is a line a minute, not one each.
_refusals = RepeatLimitedLog(log, logging.WARNING)


SETTINGS_STATE = "settings"  # the key of the app's Settings in uvicorn's app state
HEAD_END = b"\r\n\r\n"


@functools.cache
def _environment_settings() -> Settings:
    return Settings()  # once per worker: the environment does not change under it


def _plain_response(status: int, message: str) -> bytes:
    body = message.encode()
    return b"".join([STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


class _Refused(Exception):
    """Stops the parser: the connection has been answered and is closing."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.app_state.get(SETTINGS_STATE) or _environment_settings()
        self._max_header_bytes = settings.max_header_bytes
        self._read_timeout_s = settings.read_timeout_s
        self._max_connections = settings.max_connections
        self._header_bytes = 0  # of the current request's line and headers, as parsed
        self._in_head = True  # the bytes arriving belong to a request's line and headers
        self._head_bytes = 0  # received of the current head so far (before parsing)
        self._tail = b""  # the last bytes received, for a head end split across two reads
        self._read_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            self._refuse(503, f"more than {self._max_connections} connections")
            return
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head and self._head_overflows(data):
            self._refuse(431, f"request line and headers over {self._max_header_bytes} bytes")
            return
        super().data_received(data)

    def _head_overflows(self, data: bytes) -> bool:
        """Would `data` take the current head past the limit before it ends? Counted on the
        bytes as they arrive, before the parser buffers them."""
        received = self._head_bytes + len(data)
        if received <= self._max_header_bytes:
            self._head_bytes = received
            self._tail = (self._tail + data[-3:])[-3:]  # not the whole read: a body follows
            return False
        end = (self._tail + data).find(HEAD_END)  # the head may end within this read
        return end < 0 or self._head_bytes - len(self._tail) + end > self._max_header_bytes

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser's error after _Refused: answered already
            super().send_400_response(msg)

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._in_head = True
        if self._read_timer is None:  # the next request on a kept-alive connection
            self._arm_read_timer()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm_read_timer()
        self._in_head = True  # a kept-alive connection's next request begins with its head
        super().on_message_complete()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            self._refuse(431, f"request line and headers over {self._max_header_bytes} bytes")
            raise _Refused

    def _arm_read_timer(self) -> None:
        self._read_timer = self.loop.call_later(self._read_timeout_s, self._read_timed_out)

    def _disarm_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        _refusals.report(f"closed a connection whose request was not received within "
                         f"{self._read_timeout_s:g} s")
        self._read_timer = None
        self._refused = True
        self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        _refusals.report(f"refused a connection ({status}): {reason}")
        self._refused = True
        self._disarm_read_timer()
        self.transport.write(_plain_response(status, reason))
        self.transport.close()
