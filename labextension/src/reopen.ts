/**
 * Reopened notebooks read cleanly: an rp_jupyter live widget whose model is not in the kernel (the
 * notebook was saved while it was live, and reopened with a new kernel or none) would show "Error
 * displaying widget: model not found". When a notebook opens, or its kernel changes, the outputs whose
 * model is dead are replaced by their static parts (see saved.ts). The notebook's dirty flag is kept as
 * it was: nothing the user wrote changed.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { IOutputJSON, applyFixes, fixDeadOutputs, liveModelId } from './saved';

interface IOutputs {
  length: number;
  get(index: number): { toJSON(): unknown };
  set(index: number, output: unknown): void;
  /** JupyterLab 4.3 and later; 4.2's output area model has no remove. */
  remove?(index: number): void;
  clear(wait?: boolean): void;
  add(output: unknown): number;
}

/** Widget models alive in the kernel (ipywidgets' comms), or an empty set without a kernel. */
async function aliveModels(panel: NotebookPanel): Promise<Set<string> | null> {
  const kernel = panel.sessionContext.session?.kernel;
  if (!kernel) {
    return new Set();
  }
  try {
    const reply = await kernel.requestCommInfo({ target_name: 'jupyter.widget' });
    return reply.content.status === 'ok' ? new Set(Object.keys(reply.content.comms)) : null;
  } catch {
    return null; // the kernel is restarting: the next kernel change looks again
  }
}

function cellOutputs(panel: NotebookPanel): { outputs: IOutputs; json: IOutputJSON[] }[] {
  const notebook = panel.content.model;
  const found = [];
  for (let c = 0; notebook && c < notebook.cells.length; c++) {
    const outputs = (notebook.cells.get(c) as unknown as { outputs?: IOutputs }).outputs;
    if (outputs && outputs.length) {
      const json: IOutputJSON[] = [];
      for (let i = 0; i < outputs.length; i++) {
        json.push(outputs.get(i).toJSON() as IOutputJSON);
      }
      found.push({ outputs, json });
    }
  }
  return found;
}

export async function sweep(panel: NotebookPanel): Promise<number> {
  await panel.context.ready;
  // Only outputs there before asking the kernel: a widget made meanwhile (Run All) is not a dead one.
  const before = new Set<string>();
  for (const { json } of cellOutputs(panel)) {
    json.map(liveModelId).forEach(id => id && before.add(id));
  }
  if (!before.size) {
    return 0;
  }
  const alive = await aliveModels(panel);
  if (alive === null || panel.isDisposed) {
    return 0;
  }
  const wasDirty = panel.context.model.dirty;
  let fixed = 0;
  for (const { outputs, json } of cellOutputs(panel)) {
    const dead = json.map(output => {
      const id = liveModelId(output);
      return id !== null && before.has(id) && !alive.has(id);
    });
    const stillAlive = new Set([...alive, ...json.map(liveModelId).filter((id, i): id is string => id !== null && !dead[i])]);
    const fixes = fixDeadOutputs(json, stillAlive);
    if (fixes.some(fix => fix.action === 'remove') && typeof outputs.remove !== 'function') {
      // JupyterLab 4.2: no remove; the cell's outputs are written again, fixed (descending indexes)
      outputs.clear();
      applyFixes(json, fixes).forEach(output => outputs.add(output));
      fixed += fixes.length;
      continue;
    }
    for (const fix of fixes) {
      if (fix.action === 'remove') {
        outputs.remove!(fix.index);
      } else {
        outputs.set(fix.index, fix.output);
      }
      fixed++;
    }
  }
  if (fixed && !wasDirty) {
    panel.context.model.dirty = false;
  }
  return fixed;
}

/** Sweep every notebook when it opens and whenever its kernel changes. */
export function watchReopened(tracker: INotebookTracker): void {
  const watch = (panel: NotebookPanel) => {
    const go = () => void sweep(panel).catch(reason => console.warn('rp-jupyter: reopen sweep failed', reason));
    void panel.sessionContext.ready.then(go);
    panel.sessionContext.kernelChanged.connect(go);
  };
  tracker.forEach(watch);
  tracker.widgetAdded.connect((_, panel) => watch(panel));
}
