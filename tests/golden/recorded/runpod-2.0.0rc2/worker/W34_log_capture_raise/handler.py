"""Case (runpod 2.x, RUNPOD_LOG_CAPTURE=all): a handler prints, logs to stderr, then raises."""
import sys

import runpod


def handler(job):
    print(f"step 1 for {job['input']['name']}")
    print("to stderr", file=sys.stderr)
    if job["input"].get("raise"):
        print("about to fail", flush=True)
        raise RuntimeError("out of memory")
    print("fine")
    return {"ok": True}


runpod.serverless.start({"handler": handler})
