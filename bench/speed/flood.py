"""The header-flood section of `inttower bench serve`: what a client sending 32 MiB headers does
to everyone else. A one-worker server is probed (GET /healthz every 20 ms on one kept-alive
connection) first alone, then while another client opens connection after connection and sends
a request line with a header that would be 32 MiB long (service.protocol refuses it with 431
once `max_header_bytes` have arrived); the probe's p50 / p99 in both phases and their ratio.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path
from typing import Any

from bench.report import table
from bench.speed.measure import api_launch
from bench.speed.serve_config import ServeConfig
from bench.speed.servers import running

PROBE_EVERY_S = 0.02
HEADER_BYTES = 32 * 2**20
CHUNK = 2**20


def flood_section(config: ServeConfig, main: Path, logs: Path) -> dict[str, Any]:
    seconds = 2 * config.seconds
    with running([api_launch(main, 1, config.device, logs / "api-flood.log")]) as (api,):
        idle = _probe(api.port, seconds)
        stop, attempts = threading.Event(), [0]
        flooder = threading.Thread(target=_flood, args=(api.port, stop, attempts))
        flooder.start()
        try:
            flooded = _probe(api.port, seconds)
        finally:
            stop.set()
            flooder.join()
    phases = {"idle": _summary(idle), "flood": _summary(flooded)}
    return {**phases, "seconds": seconds, "oversized_requests": attempts[0],
            "p99_ratio": phases["flood"]["p99_ms"] / phases["idle"]["p99_ms"]}


def _probe(port: int, seconds: float) -> list[float]:
    """Milliseconds of each GET /healthz, one every PROBE_EVERY_S for `seconds`."""
    times = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        times.append((time.perf_counter() - started) * 1e3)
        time.sleep(PROBE_EVERY_S)
    connection.close()
    return times


def _flood(port: int, stop: threading.Event, attempts: list[int]) -> None:
    """Send oversized heads until `stop`, one connection each, until the server answers or
    closes it."""
    chunk = b"a" * CHUNK
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(HEADER_BYTES // CHUNK):
                    sock.sendall(chunk)
                sock.sendall(b"\r\n\r\n")
                sock.recv(64)
        except OSError:  # refused and closed while sending: what a guard does
            pass
        attempts[0] += 1


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_ms": ordered[len(ordered) // 2],
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "max_ms": ordered[-1], "probes": len(ordered)}


def flood_goals(section: dict[str, Any]) -> list[tuple[str, str, float, bool, str]]:
    ratio = section["p99_ratio"]
    return [("/healthz p99 while 32 MiB headers are refused, vs idle", "<= 2x", ratio,
             ratio <= 2, "x")]


def render_flood(section: dict[str, Any]) -> list[str]:
    rows = [[phase, f"{section[phase]['p50_ms']:.2f}", f"{section[phase]['p99_ms']:.2f}",
             f"{section[phase]['max_ms']:.1f}", str(section[phase]["probes"])]
            for phase in ("idle", "flood")]
    return ["", "## Header flood", "",
            f"GET /healthz every {PROBE_EVERY_S * 1e3:g} ms on one worker, "
            f"{section['seconds']:g} s alone, then {section['seconds']:g} s while another "
            f"client sent {section['oversized_requests']:,} requests with a 32 MiB header "
            "(each refused).", "",
            *table(["phase", "p50 ms", "p99 ms", "max ms", "probes"], rows), "",
            f"p99 ratio flood / idle: {section['p99_ratio']:.2f}x"]
