"""Fixture notebooks for the golden tests: raw cells as typed in Jupyter, and a fixed environment."""

from __future__ import annotations

from rp_jupyter.exporter import Environment, HandlerConfig

CPU_ENV = Environment(
    python="3.11",
    rp_jupyter="0.1.0",
    modules={
        "yaml": ("PyYAML",), "dateutil": ("python-dateutil",), "runpod": ("runpod",),
        "IPython": ("ipython",), "numpy": ("numpy",), "torch": ("torch",),
    },
    versions={
        "pyyaml": ("PyYAML", "6.0.2"), "python-dateutil": ("python-dateutil", "2.9.0.post0"),
        "runpod": ("runpod", "1.12.0"), "ipython": ("ipython", "9.4.0"), "numpy": ("numpy", "2.1.3"),
        "accelerate": ("accelerate", "1.10.0"), "torch": ("torch", "2.8.0+cpu"),
    },
)
GPU_ENV = Environment(
    python="3.11", rp_jupyter="0.1.0", modules=CPU_ENV.modules,
    versions={**CPU_ENV.versions, "torch": ("torch", "2.8.0+cu128")}, cuda="12.8",
)

# A notebook session: setup, an unrelated cell, model loading, a first handler, its edit, runs.
TOKENS_CELLS = [
    "%load_ext rp_jupyter",
    "!pip install pyyaml python-dateutil --quiet\n%pip install accelerate",
    "import json\nimport yaml\nfrom dateutil import parser as dates\nimport matplotlib_is_not_needed_here as plt_unused",
    "CONFIG = yaml.safe_load('scale: 2')\nunused = 42\ndisplay(CONFIG)",
    (
        "# Load the model once: it stays hot.\n"
        "class Model:\n    def __init__(self, scale):\n        self.scale = scale\n        self.ready = False\n\n"
        "    def eval(self):\n        self.ready = True\n\n\n"
        "model = Model(CONFIG['scale'])\nmodel.eval()\nprint(model)"
    ),
    '%%rp_handler tokens\nimport runpod\n\n\ndef generate(job):\n    yield "old"\n\n\n'
    'runpod.serverless.start({"handler": generate})',
    (
        "%%rp_handler tokens --aggregate\nimport runpod\n\n\ndef words(text):\n    return text.split()\n\n\n"
        "def generate(job):\n    when = dates.parse(job['input']['when']).year\n"
        "    for word in words(job['input']['prompt']):\n"
        "        yield {'word': word * model.scale, 'year': when, 'meta': json.dumps(CONFIG)}\n\n\n"
        'runpod.serverless.start({"handler": generate, "return_aggregate_stream": True})'
    ),
    '%rp_run tokens {"input": {"prompt": "a b", "when": "2024-01-01"}} --sync',
    "unused = 43\nprint(unused)",
]
TOKENS = HandlerConfig(
    "tokens", "generate", None, "generator", return_aggregate_stream=True, execution_timeout=600.0,
)

GPU_CELLS = [
    "import torch\nimport numpy as np",
    "DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\nweights = np.ones(3)",
    (
        "%%rp_handler embed --concurrency 4\nimport runpod\n\n\n"
        "async def handler(job):\n    return {'sum': float(weights.sum()), 'device': DEVICE}\n\n\n"
        'runpod.serverless.start({"handler": handler, "refresh_worker": True})'
    ),
]
GPU = HandlerConfig("embed", "handler", None, "async", refresh_worker=True, fixed_concurrency=4)

REQUEST = {"input": {"prompt": "hello world", "when": "2024-05-01"}, "webhook": "http://127.0.0.1:9/hook"}
