"""Case (runpod 2.x): the prestart phase runs past prestart_timeout: prestart_failed, the worker exits."""
import time

import runpod


def slow_download():
    print("downloading", flush=True)
    time.sleep(4)


runpod.serverless.register_prestart_hook(slow_download)


def handler(job):
    return {"never": "runs"}


runpod.serverless.start({"handler": handler, "prestart_timeout": 1})
