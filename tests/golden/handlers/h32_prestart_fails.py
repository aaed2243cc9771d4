"""Case (runpod 2.x): a prestart hook raises: held jobs get the prestart_failed payload, the worker exits."""
import time

import runpod


def load_weights():
    print("loading weights from /models/missing.bin", flush=True)
    time.sleep(0.5)
    raise FileNotFoundError("no weights at /models/missing.bin")


runpod.serverless.register_prestart_hook(load_weights)


def handler(job):
    return {"never": "runs"}


runpod.serverless.start({"handler": handler})
