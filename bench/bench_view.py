"""Streaming with a live job view vs without, in a real kernel, measured in the same run.

    .venv/bin/python bench/bench_view.py [--chunks 100000] [--rounds 5]

A sync generator handler yields N short chunks as fast as it can. Each round runs the job once with
no view (``rp_jupyter.run`` + ``wait``) and once displayed as a live ``JobView``, alternating; the
figure is the median over rounds of each round's ratio of the handler's wall time (first chunk to
result) with the view over without — the two runs of a round are adjacent in time, so the machine's
drift cancels — plus the comm messages the view sent per second of run time. Also printed: the
medians of each kind, and iterating the generator directly in the kernel (the floor).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import Kernel  # the same real-kernel driver the tests use
from jupyter_client.manager import start_new_kernel

HANDLER = '''%%rp_handler
def handler(job):
    for i in range(job["input"]["n"]):
        yield "tok "
'''


def measure(kernel: Kernel, n: int, view: bool) -> tuple[float, int]:
    code = f'job = rp_jupyter.run("handler", {{"input": {{"n": {n}}}}})\n' + ("job\n" if view else "")
    shown = kernel.send(code)
    waited = kernel.send("job.wait(120)\nimport time; time.sleep(0.2)")
    messages = kernel.iopub(shown) + kernel.iopub(waited)
    seen = kernel.execute("", seconds="job._t_end - job._t_start", chunks="len(job.stream)")
    assert int(seen["chunks"]) == n
    comms = collections.Counter(m["msg_type"] for m in messages)["comm_msg"]
    return float(seen["seconds"]), comms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    manager, client = start_new_kernel(kernel_name="python3")
    kernel = Kernel(manager, client)
    try:
        kernel.execute("%load_ext rp_jupyter\nimport rp_jupyter, time")
        kernel.execute(HANDLER)
        direct = kernel.execute(
            f"t = time.perf_counter(); list(handler({{'id': 'x', 'input': {{'n': {args.chunks}}}}})); "
            "d = time.perf_counter() - t",
            d="d",
        )
        plain, viewed, counts = [], [], []
        measure(kernel, args.chunks, view=True)  # warm-up: widget classes, the front-end comm
        for _ in range(args.rounds):
            plain.append(measure(kernel, args.chunks, view=False)[0])
            seconds, comms = measure(kernel, args.chunks, view=True)
            viewed.append(seconds)
            counts.append(comms)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    p, v = statistics.median(plain), statistics.median(viewed)
    print(f"chunks: {args.chunks}, rounds: {args.rounds}")
    print(f"direct iteration in the kernel : {float(direct['d']) * 1000:8.1f} ms")
    print(f"runtime, no view (median)      : {p * 1000:8.1f} ms")
    print(f"runtime, live view (median)    : {v * 1000:8.1f} ms")
    paired = statistics.median(with_view / without for with_view, without in zip(viewed, plain, strict=True))
    print(f"view / no view (median of rounds): {paired:6.3f}  (target <= 1.05; ratio of the medians {v / p:.3f})")
    count = statistics.median(counts)
    print(f"comm messages per job (median) : {count:8.0f}  = {count / v:.0f}/s of run time; the view flushes "
          "at <= 20 Hz, plus its opening and final messages")


if __name__ == "__main__":
    main()
