"""Case (runpod 2.x): a prestart hook warms state the handler reads; jobs taken meanwhile are held."""
import time

import runpod

STATE = {"warm": False, "hook_runs": 0}


def warm_up():
    print("warming up", flush=True)
    time.sleep(1.5)
    STATE["hook_runs"] += 1
    STATE["warm"] = True


runpod.serverless.register_prestart_hook(warm_up)


def handler(job):
    return {"warm": STATE["warm"], "hook_runs": STATE["hook_runs"], "x": job["input"].get("x")}


runpod.serverless.start({"handler": handler})
