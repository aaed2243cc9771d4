"""Case (runpod 2.x): two hooks, one async, run in registration order before the first job."""
import asyncio

import runpod

ORDER = []


async def load_model():
    await asyncio.sleep(0.5)
    ORDER.append("load_model")


def compile_kernels():
    ORDER.append("compile_kernels")


runpod.serverless.register_prestart_hook(load_model)
runpod.serverless.register_prestart_hook(compile_kernels)


async def handler(job):
    return {"order": list(ORDER)}


runpod.serverless.start({"handler": handler, "prestart_timeout": 30})
