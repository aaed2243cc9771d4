"""Case (runpod 2.x, RUNPOD_LOG_CAPTURE=all): a generator prints, yields, then raises."""
import runpod


def handler(job):
    for i in range(2):
        print(f"token {i}")
        yield f"t{i}"
    print("x" * job["input"].get("spam", 0), end="")
    raise ValueError("stream broke")


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
