"""Bounded HTTP load against a loopback server: wrk when installed, else a Python client.

Both keep `connections` keep-alive connections busy for `seconds`, cycling through the given
POST bodies (so candidates and users vary between requests, as they do in production), and
report request count, errors, p50 / p99 latency and throughput. Only 127.0.0.1 is ever targeted.

wrk (Debian package `wrk`) is a C event loop: at these rates it uses a few percent of a core,
so it measures the server rather than itself. The Python fallback (one uvloop process) costs
more CPU per request than wrk; on a small machine it can cap the saturation runs, which is why
the results name the generator used.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import uvloop

HOST = "127.0.0.1"
_WRK_RESULT = re.compile(r"^WRK_JSON (.*)$", re.MULTILINE)

# wrk runs this: POST each body in turn; print the summary as one JSON line when done.
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {%s}
local next_body = 0
request = function()
  next_body = next_body %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "errors": %%d, "seconds": %%.6f, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int  # completed, errors included
    errors: int  # non-2xx answers and socket errors
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def load_generator() -> str:
    """The generator `run_load` will use: "wrk" or "python"."""
    return "wrk" if shutil.which("wrk") else "python"


def run_load(port: int, path: str, bodies: Sequence[bytes], connections: int,
             seconds: float) -> LoadResult:
    """POST `bodies` in turn to http://127.0.0.1:<port><path> for `seconds`."""
    if load_generator() == "wrk":
        return _wrk(port, path, bodies, connections, seconds)
    return uvloop.run(_python_load(port, path, bodies, connections, seconds))


def _wrk(port: int, path: str, bodies: Sequence[bytes], connections: int,
         seconds: float) -> LoadResult:
    # Lua long brackets hold JSON verbatim (ids never contain "]==]").
    table = ",".join(f"[==[{body.decode()}]==]" for body in bodies)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_SCRIPT % table)
        script.flush()
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                   "--timeout", "10s", "-s", script.name, f"http://{HOST}:{port}{path}"]
        out = subprocess.run(command, capture_output=True, text=True, check=True,
                             timeout=seconds + 60).stdout
    found = _WRK_RESULT.search(out)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    summary = json.loads(found.group(1))
    return LoadResult(summary["requests"], summary["errors"], summary["seconds"],
                      summary["p50_us"] / 1e3, summary["p99_us"] / 1e3)


async def _python_load(port: int, path: str, bodies: Sequence[bytes], connections: int,
                       seconds: float) -> LoadResult:
    requests = [(f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            sent = offset
            while time.perf_counter() < deadline:
                request = requests[sent % len(requests)]
                sent += 1
                began = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - began)
                errors[0] += not 200 <= status < 300
        finally:
            writer.close()

    await asyncio.gather(*(connection(c) for c in range(connections)))
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e3 if latencies else (np.nan, np.nan)
    return LoadResult(len(latencies), errors[0], elapsed, float(p50), float(p99))


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with a Content-Length body; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                   if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


def wrk_version() -> str | None:
    """wrk's version line, for the results' provenance; None without wrk."""
    if load_generator() != "wrk":
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return out.split(" Copyright")[0] if out else "wrk"  # "wrk <version> [epoll]"
