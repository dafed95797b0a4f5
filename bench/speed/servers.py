"""Benchmark servers as real processes on free loopback ports: start, wait for readiness, read
their CPU time and resident memory from /proc (the whole process tree: uvicorn's workers are
children of the process started here), stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.speed.load import HOST

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    ready_s: float  # from start to the first 200 from /readyz (servers start side by side)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far."""
        return sum(_stat(pid)[0] for pid in _tree(self.process.pid))

    def rss_bytes(self) -> int:
        """Resident memory of the server and its worker processes."""
        return sum(_stat(pid)[1] for pid in _tree(self.process.pid))


@dataclass(frozen=True)
class Launch:
    command: Sequence[str]  # arguments to the Python interpreter, e.g. ["-m", "inttower.cli", ...]
    port: int
    log: Path


@contextmanager
def running(launches: Sequence[Launch], ready_timeout_s: float = 300.0) -> Iterator[list[Server]]:
    """Start every server at once, wait until each is ready, yield them; at the end SIGTERM,
    then SIGKILL whatever has not stopped in 30 s."""
    started = time.perf_counter()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for launch in launches:
            with open(launch.log, "wb") as out:
                processes.append(subprocess.Popen([sys.executable, *launch.command], stdout=out,
                                                  stderr=subprocess.STDOUT))
        servers = []
        for process, launch in zip(processes, launches, strict=True):
            _wait_ready(process, launch.port, started + ready_timeout_s, launch.log)
            servers.append(Server(process, launch.port, time.perf_counter() - started))
        yield servers
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, deadline: float, log: Path) -> None:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the server was not ready in time:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the bundle loads
        time.sleep(0.2)


def _tree(root: int) -> list[int]:
    """`root` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            parent[int(entry.name)] = int(text[text.rindex(")") + 2:].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parent.items() if ppid in frontier]
        tree += frontier
    return tree


def _stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of one process; zeros if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0
    fields = text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on
    utime, stime, rss_pages = int(fields[11]), int(fields[12]), int(fields[21])
    return (utime + stime) / _TICKS, rss_pages * _PAGE
