"""The connection guards (service.protocol) under a real uvicorn in this process: the limits come
from the app's Settings object, and an oversized head is refused as it arrives."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from service.app import create_app
from service.protocol import GuardedHttpToolsProtocol
from service.settings import Settings
from training.trainer import TrainResult

CHUNK = 64 * 1024


@contextmanager
def _served(settings: Settings) -> Iterator[int]:
    """`create_app(settings)` under uvicorn with the guarded protocol, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            http=GuardedHttpToolsProtocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server never started"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _status(sock: socket.socket) -> bytes:
    return sock.makefile("rb").readline().strip()


def _answer(settings: Settings, request: bytes) -> bytes:
    """The status line a server under `settings` answers `request` with."""
    with _served(settings) as port, socket.create_connection(("127.0.0.1", port),
                                                             timeout=10) as sock:
        sock.sendall(request)
        return _status(sock)


def test_the_header_limit_is_the_app_settings_not_the_environment(
        trained: TrainResult, trained_artifacts: Path) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4_000 + b"\r\n\r\n"
    small = Settings(artifacts=trained_artifacts, max_header_bytes=2_048)
    assert _answer(small, head) == b"HTTP/1.1 431 Request Header Fields Too Large"
    default = Settings(artifacts=trained_artifacts)  # 32 KiB
    assert _answer(default, head) == b"HTTP/1.1 200 OK"


def test_an_oversized_head_is_refused_as_it_arrives_not_once_it_ends(
        trained: TrainResult, trained_artifacts: Path) -> None:
    settings = Settings(artifacts=trained_artifacts)
    with _served(settings) as port, socket.create_connection(("127.0.0.1", port),
                                                             timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        while sent < 32 * 2**20:  # the header never ends: only a count on arrival answers
            try:
                sock.sendall(b"a" * CHUNK)
            except OSError:  # refused and closed while we were still sending
                break
            sent += CHUNK
            if select.select([sock], [], [], 0.05)[0]:
                break
        assert sent < 2**20  # answered within a few reads of the 32 KiB limit
        assert _status(sock) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_a_head_that_ends_inside_a_large_read_is_served(
        trained: TrainResult, trained_artifacts: Path) -> None:
    """A head under the limit that arrives with a large body in one read is parsed, not
    refused: the count stops where the head ends."""
    body = b'{"user_id": "u1", "candidate_ids": [' + b", ".join([b'"i1"'] * 8_000) + b"]}"
    request = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
    settings = Settings(artifacts=trained_artifacts, max_header_bytes=1_024)
    assert _answer(settings, request) == b"HTTP/1.1 200 OK"
