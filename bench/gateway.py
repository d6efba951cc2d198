"""The gateway's added latency: a ``tools/call`` through it against the same call made
directly to the upstream MCP server.

    python bench/gateway.py [--calls N] [--database URL] [--mode M] [--profile FILE]

Starts the upstream server (``tests/gateway/upstream.py``, Streamable HTTP) and the
gateway (``tether gateway serve``, Streamable HTTP, a static API token) as child
processes on loopback; the clients (the MCP SDK's) run in this process. Each client
calls the upstream's ``ping`` (an allowed read) ``N`` times through the gateway, and
``N`` times directly, with 1 and with 8 concurrent clients. The gateway's work per
call is the whole gate: the token, the caller's run, identify, permit, check inputs,
execute, check output and the durable audit append (SQLite by default: the
database is the one ``--database`` names, else a file in a temporary folder).

Targets: <= 3 ms added at p50 and <= 10 ms at p99 for one client. Nothing is
asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "tests" / "gateway" / "upstream.py"
TOKEN = "bench-token"  # a local benchmark credential
POLICY = """
version: 1
roles: {bench: {may: ["up.*"]}}
users: {bench: {roles: [bench]}}
agents:
  bench:
    may_act_for: [role:bench]
    tools: [{tool: up.ping, effect: read}]
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({process.returncode})")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _config(folder: Path, upstream: str, gateway_port: int, database: str) -> Path:
    (folder / "policy.yaml").write_text(POLICY)
    (folder / "bench.yaml").write_text("name: bench\nmodel: test\npolicy: policy.yaml\n")
    config = {
        "database": database,
        "keys": str(folder / "keys"),
        "policy": "policy.yaml",
        "agents": ["bench.yaml"],
        "connectors": [
            {
                "type": "mcp",
                "settings": {
                    "prefix": "up",
                    "url": upstream,
                    "tools": ["ping"],
                    "effects": {"ping": "read"},
                    "untrusted_output": False,
                },
            }
        ],
        "gateway": {
            "url": f"http://127.0.0.1:{gateway_port}/mcp",
            "tokens": [
                {
                    "name": "bench",
                    "user": "bench",
                    "agent": "bench",
                    "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                }
            ],
        },
    }
    path = folder / "tether.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _client_calls(
    url: str, tool: str, calls: int, token: str | None, mode: str
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timings: list[float] = []
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        for _ in range(5):  # warm up the connection
            await client.call_tool(tool, {})
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool(tool, {})
            timings.append(time.perf_counter() - start)
            if result.is_error:
                raise RuntimeError(f"{tool}: {result.content}")
    return timings


async def _measure(
    url: str, tool: str, calls: int, clients: int, token: str | None, *, mode: str
) -> tuple[list[float], float]:
    start = time.perf_counter()
    per_client = await asyncio.gather(
        *(_client_calls(url, tool, calls, token, mode) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    return [t for timings in per_client for t in timings], clients * calls / elapsed


def _cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """The CPU time a child has used (Linux ``/proc``; 0 elsewhere): unlike latency,
    hardly moved by other load on the machine."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per client")
    parser.add_argument("--database", default=None, help="tether's database URL")
    parser.add_argument(
        "--mode",
        default="legacy",
        choices=["legacy", "2026-07-28"],
        help="the clients' protocol era: sessions and SSE (default), or stateless requests",
    )
    parser.add_argument(
        "--profile", default=None, help="run the gateway under cProfile, its stats to FILE"
    )
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tether-bench-gateway-"))
    database = options.database or f"sqlite:///{folder / 'tether.db'}"
    up_port, gw_port = _port(), _port()
    upstream_url = f"http://127.0.0.1:{up_port}/mcp"
    config = _config(folder, upstream_url, gw_port, database)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    upstream = subprocess.Popen([sys.executable, str(UPSTREAM), "--http", str(up_port)], env=env)
    gateway = None
    try:
        _wait_for(upstream_url, upstream)
        tether = [sys.executable, "-c", "from tether.cli import main; main()"]
        subprocess.run(
            [*tether, "gateway", "accept", "all", "--as", "bench", "-c", str(config)],
            env=env,
            check=True,
            capture_output=True,
        )
        serve = [*tether, "gateway", "serve", "-c", str(config)]
        if options.profile:  # cProfile takes a script: the CLI's entry point as one
            script = folder / "serve.py"
            script.write_text("from tether.cli import main\nmain()\n")
            serve = [sys.executable, "-m", "cProfile", "-o", options.profile, str(script)]
            serve += ["gateway", "serve", "-c", str(config)]
        gateway = subprocess.Popen(serve, env=env, stderr=subprocess.DEVNULL)
        gateway_url = f"http://127.0.0.1:{gw_port}/mcp"
        _wait_for(gateway_url, gateway)
        print(
            f"database: {database.split('://')[0]}; {options.calls} calls per client;"
            f" clients: {options.mode}"
        )
        print(
            f"{'clients':>7} {'direct p50':>11} {'p99':>7} {'gateway p50':>12} {'p99':>7}"
            f" {'added p50':>10} {'p99':>7} {'direct/s':>9} {'gateway/s':>10}"
        )
        cpu: list[str] = []
        for clients in (1, 8):
            before = _cpu_seconds(upstream)
            direct, direct_rate = asyncio.run(
                _measure(upstream_url, "ping", options.calls, clients, None, mode=options.mode)
            )
            upstream_cpu = (_cpu_seconds(upstream) - before) / len(direct) * 1000
            before = _cpu_seconds(gateway)
            through, gateway_rate = asyncio.run(
                _measure(gateway_url, "up.ping", options.calls, clients, TOKEN, mode=options.mode)
            )
            gateway_cpu = (_cpu_seconds(gateway) - before) / len(through) * 1000
            cpu.append(
                f"{clients} client(s): upstream {upstream_cpu:.2f} ms, gateway {gateway_cpu:.2f} ms"
            )
            d50, d99, g50, g99 = (
                _pct(direct, 0.5),
                _pct(direct, 0.99),
                _pct(through, 0.5),
                _pct(through, 0.99),
            )
            print(
                f"{clients:>7} {d50:>9.2f}ms {d99:>5.2f}ms {g50:>10.2f}ms {g99:>5.2f}ms"
                f" {g50 - d50:>8.2f}ms {g99 - d99:>5.2f}ms"
                f" {direct_rate:>9.0f} {gateway_rate:>10.0f}"
            )
        print("CPU per call (warm-up calls included):", "; ".join(cpu))
        print(
            f"(mean through the gateway: {statistics.fmean(through) * 1000:.2f} ms;"
            " targets for one client: added <= 3 ms p50, <= 10 ms p99)"
        )
    finally:
        for process in (gateway, upstream):
            if process is not None:  # SIGINT: cProfile writes its stats on the way out
                process.send_signal(signal.SIGINT if options.profile else signal.SIGTERM)
                process.wait(30)


if __name__ == "__main__":
    main()
