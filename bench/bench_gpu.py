"""Tokens from a small model on CUDA, streamed through the runtime vs generated directly (needs a GPU).

    .venv/bin/python bench/bench_gpu.py [--tokens 2000] [--rounds 3]

The model is built in code (an embedding, a GRU and a projection with seeded random weights): no
weights are downloaded. Greedy decoding, one token a step, synchronised each step as a streaming
LLM is; the handler yields each token's text. Prints tokens/s both ways and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from rp_jupyter.runtime import Runtime


def build_model(torch: Any, vocab: int = 4096, width: int = 512) -> Any:
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({
        "embed": torch.nn.Embedding(vocab, width),
        "rnn": torch.nn.GRU(width, width, num_layers=2, batch_first=True),
        "head": torch.nn.Linear(width, vocab),
    })
    return model.cuda().eval()


def generate(torch: Any, model: Any, steps: int) -> Any:
    token = torch.zeros((1, 1), dtype=torch.long, device="cuda")
    state = None
    with torch.inference_mode():
        for _ in range(steps):
            out, state = model["rnn"](model["embed"](token), state)
            token = model["head"](out[:, -1]).argmax(-1, keepdim=True)
            yield f"t{int(token.item())} "  # .item() synchronises, as a streaming server does


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = build_model(torch)
    list(generate(torch, model, 50))  # warm-up: kernels, allocator

    def handler(job: dict[str, Any]) -> Any:
        yield from generate(torch, model, job["input"]["tokens"])

    runtime = Runtime()
    runtime.register(handler, "gpu")
    through, direct = [], []
    try:
        for _ in range(args.rounds):
            start = time.perf_counter()
            text = "".join(generate(torch, model, args.tokens))
            direct.append(args.tokens / (time.perf_counter() - start))
            job = runtime.submit("gpu", {"input": {"tokens": args.tokens}}).wait(600)
            assert "".join(job.stream) == text, "the stream differs from the direct run"
            through.append(args.tokens / ((job._t_end or 0) - (job._t_start or 0)))
    finally:
        runtime.shutdown()
    d, t = statistics.median(direct), statistics.median(through)
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"direct: {d:8.0f} tokens/s, through the runtime: {t:8.0f} tokens/s, ratio {t / d:.3f}")


if __name__ == "__main__":
    main()
