"""The local endpoint vs the SDK's own ``--rp_serve_api``: ``/runsync`` and ``/run`` + ``/stream``.

Both servers run the same handlers in their own subprocess on 127.0.0.1 (stopped by pid), measured
in the same run by the same clients.

- ``/runsync`` of a trivial handler: REQUESTS requests from CLIENTS threads, each with its own
  keep-alive httpx client, after a warm-up; ROUNDS rounds with both servers up, each round A B B A
  (which is A alternates): whoever runs second in a row runs faster here, and drift is cancelled too.
  Prints each server's median requests/second, p50 and p99 latency over all runs, and the median of
  the per-round ratios (a server's two runs of a round averaged).
- ``/run`` + ``/stream`` of a generator yielding CHUNKS chunks GAP_MS apart (a model's tokens), each
  chunk stamped with the time it was yielded: a client submits with ``/run`` and calls ``/stream``
  until the job is done (every POLL_MS on rp_jupyter; the SDK's ``/stream`` answers once, with
  everything). Prints the time to the first chunk and each chunk's latency (received - yielded).

Each figure with the ratio rp_jupyter / SDK.

- The access guard (Host, Origin, Fetch-Metadata checks), in process: ``GET /health`` through the
  ASGI app with and without it (``--guard-only`` runs just this).

    .venv/bin/python bench/bench_server.py [--requests 2000] [--clients 8] [--rounds 5] [--chunks 20] [--gap-ms 20]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HANDLER = textwrap.dedent("""
    import runpod

    def handler(job):
        return {"echo": job["input"]}

    runpod.serverless.start({"handler": handler})
""")

TOKENS = textwrap.dedent("""
    import time
    import runpod

    def tokens(job):
        for i in range(job["input"]["chunks"]):
            time.sleep(job["input"]["gap_ms"] / 1000)
            yield {"i": i, "t": time.time()}

    runpod.serverless.start({"handler": tokens})
""")

OURS = textwrap.dedent("""
    import sys, time, rp_jupyter
    rp_jupyter.register(lambda job: {"echo": job["input"]}, "handler")

    def tokens(job):
        for i in range(job["input"]["chunks"]):
            time.sleep(job["input"]["gap_ms"] / 1000)
            yield {"i": i, "t": time.time()}

    rp_jupyter.register(tokens, "tokens")
    rp_jupyter.serve(port=int(sys.argv[1]))
    sys.stdin.read()
""")


def free_port(taken: tuple[int, ...] = ()) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port


def wait_ready(url: str, request: dict[str, Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url, json={"input": request}, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)  # a benchmark's start-up poll, not a test wait
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_sdk(workdir: Path, port: int, source: str = HANDLER) -> subprocess.Popen[bytes]:
    (workdir / "handler.py").write_text(source)
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


TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def stream_once(run_url: str, stream_url: str, request: dict[str, int], poll_s: float) -> tuple[float, list[float]]:
    """One job: (seconds from /run to the first chunk received, each chunk's received - yielded)."""
    first, latencies = None, []
    with httpx.Client(timeout=60) as client:
        start = time.time()
        job_id = client.post(run_url, json={"input": request}).json()["id"]
        while True:
            body = client.post(f"{stream_url}/{job_id}").json()
            now = time.time()
            for chunk in body.get("stream", []):
                latencies.append(now - chunk["output"]["t"])
                first = first if first is not None else now - start
            if body["status"] in TERMINAL:
                break
            time.sleep(poll_s)  # the client's poll interval
    assert len(latencies) == request["chunks"], body
    return first or 0.0, latencies


def measure_stream(run_url: str, stream_url: str, args: argparse.Namespace) -> dict[str, float]:
    request = {"chunks": args.chunks, "gap_ms": args.gap_ms}
    stream_once(run_url, stream_url, request, args.poll_ms / 1000)  # warm-up
    firsts, latencies = [], []
    for _ in range(args.stream_rounds):
        first, each = stream_once(run_url, stream_url, request, args.poll_ms / 1000)
        firsts.append(first)
        latencies += each
    return {"first_ms": statistics.median(firsts) * 1000, "chunk_p50_ms": statistics.median(latencies) * 1000,
            "chunk_max_ms": max(latencies) * 1000}


def runsync_rounds(sdk_dir: Path, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Both servers up at once; each round measures them A B B A (A alternates between rounds)."""
    sdk_port = free_port()
    our_port = free_port((sdk_port,))
    processes = [start_sdk(sdk_dir, sdk_port), start_ours(our_port)]
    try:
        urls = {"sdk --rp_serve_api": f"http://127.0.0.1:{sdk_port}/runsync",
                "rp_jupyter": f"http://127.0.0.1:{our_port}/v2/handler/runsync"}
        for url in urls.values():
            wait_ready(url, {"n": 0})
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        for n in range(args.rounds):
            first, second = sorted(urls, reverse=n % 2 == 1)
            for name in (first, second, second, first):
                runs[name].append(measure(urls[name], args.requests, args.clients))
        return runs
    finally:
        for process in processes:
            stop(process)


def serve_and_measure(start: Callable[[int], subprocess.Popen[bytes]], ready_path: str,
                      measure_at: Callable[[str], dict[str, float]],
                      ready_request: dict[str, Any] | None = None) -> dict[str, float]:
    port = free_port()
    process = start(port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + ready_path, ready_request or {"n": 0})
        return measure_at(base)
    finally:
        stop(process)


def measure_guard(calls: int = 5000, rounds: int = 5) -> None:
    """In process, no network: the cheapest route (``GET /health``) through the ASGI app with and
    without the :class:`AccessGuard` (Host, Origin and Fetch-Metadata checks), rounds alternating."""

    from rp_jupyter.runtime import Runtime
    from rp_jupyter.server import PublicApi

    runtime = Runtime()
    runtime.register(lambda job: job["input"], "echo")
    api = PublicApi(runtime)
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    scope = {"type": "http", "method": "GET", "path": "/v2/echo/health", "raw_path": b"/v2/echo/health",
             "query_string": b"", "headers": headers, "scheme": "http", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 1), "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def per_call(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    times: dict[str, list[float]] = {"guarded": [], "bare": []}
    try:
        for _ in range(rounds):
            times["bare"].append(runtime.run_coroutine(per_call(api.app.app)).result(600))
            times["guarded"].append(runtime.run_coroutine(per_call(api.app)).result(600))
    finally:
        runtime.run_coroutine(api.aclose()).result(10)
        runtime.shutdown(timeout=2.0)
    guarded, bare = statistics.median(times["guarded"]), statistics.median(times["bare"])
    print(f"access guard, in process: GET /health through the ASGI app, {calls} calls x {rounds} rounds")
    print(f"  without the guard {bare:7.1f} us/request   with it {guarded:7.1f} us/request   "
          f"ratio x{guarded / bare:.3f} (the guard's cost: {guarded - bare:.1f} us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="/runsync rounds, the servers taking turns")
    parser.add_argument("--chunks", type=int, default=20, help="chunks a streamed job yields")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="time between two chunks")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="the client's /stream poll interval")
    parser.add_argument("--stream-rounds", type=int, default=5)
    parser.add_argument("--guard-only", action="store_true", help="only the access guard's in-process cost")
    args = parser.parse_args()
    if args.guard_only:
        measure_guard()
        return
    empty = {"chunks": 0, "gap_ms": 0}
    stream = {}
    with tempfile.TemporaryDirectory() as workdir:
        sdk_dir = Path(workdir)
        rounds = runsync_rounds(sdk_dir, args)
        stream["sdk --rp_serve_api"] = serve_and_measure(
            lambda port: start_sdk(sdk_dir, port, TOKENS), "/run",
            lambda base: measure_stream(base + "/run", base + "/stream", args), empty)
        stream["rp_jupyter"] = serve_and_measure(
            start_ours, "/v2/tokens/run",
            lambda base: measure_stream(base + "/v2/tokens/run", base + "/v2/tokens/stream", args), empty)
    print(f"/runsync, trivial handler, {args.requests} requests from {args.clients} clients, "
          f"{args.rounds} rounds, CPUs: {os.cpu_count()}")
    keys = ("rps", "p50_ms", "p99_ms")
    for name, runs in rounds.items():
        median = {key: statistics.median(run[key] for run in runs) for key in keys}
        print(f"  {name:20} {median['rps']:8.0f} req/s   p50 {median['p50_ms']:6.2f} ms   p99 {median['p99_ms']:6.2f} ms"
              "   (medians)")

    def per_round(name: str, key: str) -> list[float]:  # a server's two runs of each round, averaged
        values = [run[key] for run in rounds[name]]
        return [(a + b) / 2 for a, b in zip(values[::2], values[1::2], strict=True)]

    ratios = {key: [ours / sdk for ours, sdk in zip(per_round("rp_jupyter", key),
                                                   per_round("sdk --rp_serve_api", key), strict=True)]
              for key in keys}
    print(f"  ratio rp_jupyter/sdk, median of rounds: req/s x{statistics.median(ratios['rps']):.2f}, "
          f"p50 x{statistics.median(ratios['p50_ms']):.2f}, p99 x{statistics.median(ratios['p99_ms']):.2f}"
          f"   (req/s per round: {' '.join(f'{r:.2f}' for r in ratios['rps'])})")
    print(f"/run + /stream, {args.chunks} chunks {args.gap_ms:g} ms apart, /stream polled every {args.poll_ms:g} ms, "
          f"{args.stream_rounds} jobs")
    for name, figures in stream.items():
        print(f"  {name:20} first chunk {figures['first_ms']:8.1f} ms   chunk latency p50 {figures['chunk_p50_ms']:8.1f} ms"
              f"   max {figures['chunk_max_ms']:8.1f} ms")
    ours, sdk = stream["rp_jupyter"], stream["sdk --rp_serve_api"]
    print(f"  ratio rp_jupyter/sdk: first chunk x{ours['first_ms'] / sdk['first_ms']:.3f}, "
          f"chunk latency p50 x{ours['chunk_p50_ms'] / sdk['chunk_p50_ms']:.3f}")
    measure_guard()


if __name__ == "__main__":
    main()
