/**
 * Pure logic: the handler cell templates and what inserting one adds to a notebook.
 * Each template is a `%%rp_handler` cell holding what a RunPod handler.py would hold.
 */

export interface ITemplate {
  id: string;
  label: string;
  caption: string;
  source: string;
}

export const LOAD_EXT = '%load_ext rp_jupyter';

const STANDARD = `%%rp_handler
import runpod


def handler(job):
    job_input = job["input"]
    name = job_input.get("name", "world")
    return {"greeting": f"hello {name}"}


runpod.serverless.start({"handler": handler})
`;

const STREAMING = `%%rp_handler
import runpod


def handler(job):
    """A generator: every yield is a chunk of /stream; the final output aggregates them."""
    prompt = job["input"].get("prompt", "the quick brown fox")
    for word in prompt.split():
        yield word + " "


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
`;

const ASYNC = `%%rp_handler
import asyncio

import runpod


async def handler(job):
    """An async handler runs on the worker's loop: awaiting frees it for other jobs."""
    await asyncio.sleep(0.1)  # an HTTP call, a queue, a batched GPU call...
    return {"echo": job["input"]}


runpod.serverless.start({"handler": handler})
`;

const CONCURRENT = `%%rp_handler
import asyncio

import runpod


async def handler(job):
    await asyncio.sleep(0.5)  # stands in for I/O-bound work
    return {"echo": job["input"]}


def concurrency_modifier(current_concurrency):
    """How many jobs this worker takes at once (async handlers only overlap)."""
    return 4


runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency_modifier})
`;

const PROGRESS = `%%rp_handler
import time

import runpod


def handler(job):
    steps = int(job["input"].get("steps", 5))
    for step in range(1, steps + 1):
        time.sleep(0.2)  # one unit of work
        runpod.serverless.progress_update(job, f"{step}/{steps}")
    return {"steps": steps}


runpod.serverless.start({"handler": handler})
`;

const MODEL_OUTSIDE = `%%rp_handler
import runpod

# Load the model once, outside the handler: it stays hot in the kernel (and in the worker).
# e.g. model = AutoModelForCausalLM.from_pretrained(...).to("cuda")
def load_model():
    vocabulary = {"hello": "bonjour", "world": "monde"}
    return lambda text: " ".join(vocabulary.get(w, w) for w in text.split())


model = load_model()


def handler(job):
    return {"output": model(job["input"].get("text", "hello world"))}


runpod.serverless.start({"handler": handler})
`;

export const TEMPLATES: ITemplate[] = [
  { id: 'standard', label: 'Standard handler', caption: 'A sync handler returning a dict', source: STANDARD },
  { id: 'streaming', label: 'Streaming handler', caption: 'A generator; chunks on /stream', source: STREAMING },
  { id: 'async', label: 'Async handler', caption: 'An async def handler on the worker loop', source: ASYNC },
  {
    id: 'concurrent',
    label: 'Concurrent handler',
    caption: 'Async handler with a concurrency_modifier',
    source: CONCURRENT
  },
  {
    id: 'progress',
    label: 'Handler with progress updates',
    caption: 'runpod.serverless.progress_update while working',
    source: PROGRESS
  },
  {
    id: 'model',
    label: 'Handler with the model loaded outside',
    caption: 'Heavy set-up once, outside the handler',
    source: MODEL_OUTSIDE
  }
];

/** The cell that shows a job's live view (appended to the notebook by the sidebar's View button). */
export function jobViewSource(jobId: string): string {
  return `import rp_jupyter\n\nrp_jupyter.get_runtime().get(${JSON.stringify(jobId)})  # the job's live view`;
}

export function findTemplate(id: string | undefined): ITemplate | undefined {
  return TEMPLATES.find(t => t.id === (id ?? 'standard'));
}

/** Whether a cell loads the extension (`%load_ext` / `%reload_ext rp_jupyter`), which registers the magics. */
export function loadsExtension(source: string): boolean {
  // `import rp_jupyter` alone gives the Python API, not the %%rp_handler magic
  return /^\s*%(re)?load_ext\s+rp_jupyter\b/m.test(source);
}

/**
 * The cells to insert for template `id` into a notebook whose code cells are `sources`:
 * the template, preceded by `%load_ext rp_jupyter` when no cell loads it yet.
 */
export function cellsToInsert(id: string | undefined, sources: string[]): string[] {
  const template = findTemplate(id);
  if (!template) {
    const known = TEMPLATES.map(t => t.id).join(', ');
    throw new Error(`unknown handler template ${JSON.stringify(id)} (known: ${known})`);
  }
  const body = template.source.replace(/\n$/, '');
  return sources.some(loadsExtension) ? [body] : [LOAD_EXT, body];
}
