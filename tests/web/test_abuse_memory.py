"""Password hashing runs with bounded concurrency: sixteen parallel guesses against a
console whose hashes take 64 MiB each raise its peak memory by about two hashes'
worth (its ``parallel_hashes``), not sixteen (which was over 1 GiB)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.web.served import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
ARGON2_MEMORY = 64 * MIB  # argon2-cffi's default memory_cost (RFC 9106's second choice)


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_parallel_guessing_keeps_memory_bounded(tmp_path: Path, desk: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's peak memory")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "web" / "guess_server.py"),
            str(tmp_path),
            str(port),
            "2",
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("the console did not start") from None
                time.sleep(0.2)

        def guess(index: int) -> int:
            body = {"username": "fiona", "password": f"guess-{index}"}
            return httpx.post(f"{url}/api/login", json=body, timeout=120).status_code

        assert guess(0) == 401  # warm: one hash's memory is in the baseline
        before = peak_rss(server.pid)
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(guess, range(1, 17)))
        after = peak_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert answers == [401] * 16
    grown = after - before
    # Two hashes at once (one is in the baseline already), and some room for the rest;
    # unbounded, sixteen hashes at once would add about 1 GiB.
    assert grown < 2 * ARGON2_MEMORY + 48 * MIB, f"peak memory grew by {grown / MIB:.0f} MiB"
