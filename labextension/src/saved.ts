/**
 * Pure logic for reopened notebooks: which of rp_jupyter's live widget outputs are dead (their model is
 * not in the kernel: a new kernel, or none), and what to show instead. No JupyterLab imports here, so
 * `node --test` covers it (test/saved.test.ts).
 *
 * The kernel marks every live output it leaves with `{"rp_jupyter": {"live": KIND}}` in the output's
 * metadata; a live panel (`%rp_jobs`, `%rp_ui`) is followed by its static copy
 * (`{"rp_jupyter": {"copy_of": KIND}}`), which the kernel keeps current. A dead live output is
 * removed when its copy follows it, else shown as its own static parts (a job view's summary).
 */
export const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';

/** The parts of an nbformat output this module reads. */
export interface IOutputJSON {
  output_type: string;
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export type Fix = { index: number; action: 'remove' } | { index: number; action: 'replace'; output: IOutputJSON };

function mark(output: IOutputJSON | undefined): Record<string, unknown> | null {
  const meta = output?.metadata?.rp_jupyter;
  return meta && typeof meta === 'object' ? (meta as Record<string, unknown>) : null;
}

/** The model id of an rp_jupyter live widget output, or null for any other output. */
export function liveModelId(output: IOutputJSON): string | null {
  const view = output.data?.[WIDGET_VIEW] as { model_id?: unknown } | undefined;
  if (!mark(output)?.live || !view || typeof view.model_id !== 'string') {
    return null;
  }
  return view.model_id;
}

/**
 * What to change in one cell's outputs, given the widget models alive in the kernel: fixes in
 * descending index order (apply them in that order and indexes stay valid).
 */
export function fixDeadOutputs(outputs: IOutputJSON[], alive: Set<string>): Fix[] {
  const fixes: Fix[] = [];
  outputs.forEach((output, index) => {
    const id = liveModelId(output);
    if (id === null || alive.has(id)) {
      return;
    }
    if (mark(outputs[index + 1])?.copy_of) {
      fixes.push({ index, action: 'remove' });
      return;
    }
    const data = { ...(output.data ?? {}) };
    delete data[WIDGET_VIEW];
    fixes.push({ index, action: 'replace', output: { ...output, data } });
  });
  return fixes.reverse();
}

/** The outputs with the fixes applied (for an output area model that cannot remove one output). */
export function applyFixes(outputs: IOutputJSON[], fixes: Fix[]): IOutputJSON[] {
  const fixed = [...outputs];
  for (const fix of fixes) {
    fixed.splice(fix.index, 1, ...(fix.action === 'remove' ? [] : [fix.output]));
  }
  return fixed;
}
