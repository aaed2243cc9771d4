"""An httpx client for RunPod's public endpoint API (deployed endpoints, or the kernel's own server).

It speaks plain JSON and knows nothing of jobs; ``rp_jupyter.Endpoint`` (the session layer) turns
its answers into the same ``Job`` objects local runs give.
"""

from ._endpoint import DEFAULT_BASE_URL, EndpointClient, endpoint_url

__all__ = ["DEFAULT_BASE_URL", "EndpointClient", "endpoint_url"]
