import time, runpod
def concurrency_modifier(current):
    return 3
def handler(job):
    for i in range(3):
        time.sleep(0.2)
        yield f"{job['input']['name']}-{i}@{time.time():.3f}"
runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency_modifier})
