"""``/runsync`` throughput and latency: rp_jupyter's server vs the SDK's own ``--rp_serve_api``.

Both servers run a trivial handler in their own subprocess on 127.0.0.1 (stopped by pid), measured
in the same run by the same load generator: REQUESTS requests from CLIENTS threads, each with its
own keep-alive httpx client, after a warm-up. Prints requests/second, p50 and p99 latency, and the
ratios rp_jupyter / SDK.

    .venv/bin/python bench/bench_server.py [--requests 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

HANDLER = textwrap.dedent("""
    import runpod

    def handler(job):
        return {"echo": job["input"]}

    runpod.serverless.start({"handler": handler})
""")

OURS = textwrap.dedent("""
    import sys, rp_jupyter
    rp_jupyter.register(lambda job: {"echo": job["input"]}, "handler")
    rp_jupyter.serve(port=int(sys.argv[1]))
    sys.stdin.read()
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url, json={"input": {"n": 0}}, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)  # a benchmark's start-up poll, not a test wait
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_sdk(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    (workdir / "handler.py").write_text(HANDLER)
    command = [sys.executable, "handler.py", "--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_ours(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", OURS, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


def _client(url: str, count: int) -> list[float]:
    latencies = []
    with httpx.Client(timeout=60) as client:
        for n in range(count):
            start = time.perf_counter()
            response = client.post(url, json={"input": {"n": n}})
            latencies.append(time.perf_counter() - start)
            assert response.json()["status"] == "COMPLETED", response.text
    return latencies


def measure(url: str, requests: int, clients: int) -> dict[str, float]:
    _client(url, 50)  # warm-up
    share = requests // clients
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = [x for part in pool.map(_client, [url] * clients, [share] * clients) for x in part]
    elapsed = time.perf_counter() - start
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, start, path in (
            ("sdk --rp_serve_api", lambda port: start_sdk(Path(workdir), port), "/runsync"),
            ("rp_jupyter", start_ours, "/v2/handler/runsync"),
        ):
            port = free_port()
            process = start(port)
            try:
                url = f"http://127.0.0.1:{port}{path}"
                wait_ready(url)
                results[name] = measure(url, args.requests, args.clients)
            finally:
                stop(process)
    print(f"/runsync, trivial handler, {args.requests} requests from {args.clients} clients, CPUs: {os.cpu_count()}")
    for name, figures in results.items():
        print(f"  {name:20} {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms   p99 {figures['p99_ms']:6.2f} ms")
    ours, sdk = results["rp_jupyter"], results["sdk --rp_serve_api"]
    print(f"  ratio rp_jupyter/sdk: req/s x{ours['rps'] / sdk['rps']:.2f}, "
          f"p50 x{ours['p50_ms'] / sdk['p50_ms']:.2f}, p99 x{ours['p99_ms'] / sdk['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
