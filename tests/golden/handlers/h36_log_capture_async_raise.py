"""Case (runpod 2.x, RUNPOD_LOG_CAPTURE=all): an async handler prints and raises; a long output is trimmed."""
import asyncio

import runpod


async def handler(job):
    print("start")
    await asyncio.sleep(0.01)
    print("y" * job["input"].get("spam", 0))
    raise KeyError("missing")


runpod.serverless.start({"handler": handler})
