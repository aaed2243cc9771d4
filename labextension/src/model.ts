/**
 * Pure logic: the kernel's snapshot (sent over the `rp_jupyter` comm) → what the sidebar and the
 * status bar show. No JupyterLab imports here, so `node --test` covers it (test/model.test.ts).
 */

/** RunPod's job states, in lifecycle order. */
export const STATES = [
  'IN_QUEUE',
  'IN_PROGRESS',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMED_OUT'
] as const;
export type JobState = (typeof STATES)[number];

/** The chip of each state: RunPod's name, a human label, the colour rp_jupyter's job views use. */
export const STATE_STYLES: Record<string, { label: string; colour: string }> = {
  IN_QUEUE: { label: 'In queue', colour: '#8a8f98' },
  IN_PROGRESS: { label: 'In progress', colour: '#2f6fde' },
  COMPLETED: { label: 'Completed', colour: '#1f9d55' },
  FAILED: { label: 'Failed', colour: '#d64545' },
  CANCELLED: { label: 'Cancelled', colour: '#6b7280' },
  TIMED_OUT: { label: 'Timed out', colour: '#d97706' }
};

export interface IHandlerInfo {
  name: string;
  kind: string;
  aggregate: boolean;
  concurrency: number | string;
  refresh_worker: boolean;
  timeout: number | null;
  jobs: number;
  request: string;
}

export interface IJobInfo {
  id: string;
  handler: string;
  status: string;
  submitted_at: number;
  delay_ms: number | null;
  execution_ms: number | null;
  elapsed_s: number;
  progress: string | null;
  chunks: number;
}

/** One concurrency-lab run (`%rp_bench`): its jobs are not listed one by one. */
export interface ILabRun {
  run: number;
  handler: string;
  jobs: number;
  levels: number[];
  counts: Record<string, number>;
  status: string;
}

export interface ISnapshot {
  type: 'snapshot';
  handlers: IHandlerInfo[];
  jobs: IJobInfo[];
  lab_runs: ILabRun[];
  counts: Record<string, number>;
  gpu: string | null;
  features: { export: boolean; serve: boolean; tests?: boolean };
  server: string | null;
  /** Handler calls the runtime stopped waiting for that still run, one line each (older kernels: absent). */
  abandoned?: string[];
}

/** Where the active notebook's kernel stands, as far as the extension knows. */
export type Connection = 'no-kernel' | 'not-loaded' | 'connected';

export function isTerminal(status: string): boolean {
  return status !== 'IN_QUEUE' && status !== 'IN_PROGRESS';
}

export function stateStyle(status: string): { label: string; colour: string } {
  return STATE_STYLES[status] ?? { label: status, colour: '#8a8f98' };
}

/** "12 ms", "3.4 s", "2 min 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms)) {
    return '–';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const seconds = ms / 1000;
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** sync / async / generator / async generator, with the aggregate flag where it matters. */
export function kindLabel(handler: IHandlerInfo): string {
  if (handler.kind.includes('generator')) {
    return `${handler.kind}${handler.aggregate ? ', aggregate' : ''}`;
  }
  return handler.kind;
}

export function concurrencyLabel(handler: IHandlerInfo): string {
  const c = handler.concurrency;
  return typeof c === 'number' ? `concurrency ${c}` : `concurrency: ${c}()`;
}

export interface IJobRow {
  id: string;
  shortId: string;
  handler: string;
  status: string;
  label: string;
  colour: string;
  live: boolean;
  keepable: boolean; // ended with a result: can be kept as a test
  times: string;
  progress: string | null;
}

/**
 * A job's row: running jobs' elapsed time advances from when the snapshot arrived
 * (`receivedAt`, ms since the epoch, browser clock) so the kernel's clock never matters.
 */
export function jobRow(job: IJobInfo, now: number, receivedAt: number): IJobRow {
  const style = stateStyle(job.status);
  const live = !isTerminal(job.status);
  let times: string;
  if (live) {
    const elapsed = job.elapsed_s * 1000 + Math.max(0, now - receivedAt);
    times = `${job.status === 'IN_QUEUE' ? 'waiting' : 'running'} ${formatDuration(elapsed)}`;
  } else {
    times = `delay ${formatDuration(job.delay_ms)} · exec ${formatDuration(job.execution_ms)}`;
  }
  return {
    id: job.id,
    shortId: job.id.length > 14 ? `${job.id.slice(0, 8)}…` : job.id,
    handler: job.handler,
    status: job.status,
    label: style.label,
    colour: style.colour,
    live,
    keepable: job.status === 'COMPLETED' || job.status === 'FAILED',
    times,
    progress: live && job.chunks > 0 ? `${job.chunks} chunks` : job.progress
  };
}

/** Newest first, as a sidebar reads. */
export function jobRows(snapshot: ISnapshot, now: number, receivedAt: number): IJobRow[] {
  return snapshot.jobs
    .slice()
    .reverse()
    .map(job => jobRow(job, now, receivedAt));
}

export interface ILabRow {
  run: number;
  status: string;
  colour: string;
  label: string;
  live: boolean;
}

/** A lab run's line, newest first: `%rp_bench fetch · 64 jobs at 1, 2, 4, 8 · 12 running`. */
export function labRows(snapshot: ISnapshot): ILabRow[] {
  return snapshot.lab_runs
    .slice()
    .reverse()
    .map(run => {
      const live = !isTerminal(run.status);
      const running = (run.counts.IN_PROGRESS ?? 0) + (run.counts.IN_QUEUE ?? 0);
      const failed = (run.counts.FAILED ?? 0) + (run.counts.TIMED_OUT ?? 0);
      let label = `%rp_bench ${run.handler} · ${run.jobs} job${run.jobs === 1 ? '' : 's'} at ${run.levels.join(', ')}`;
      if (running) {
        label += ` · ${running} running`;
      }
      if (failed) {
        label += ` · ${failed} failed`;
      }
      return { run: run.run, status: run.status, colour: stateStyle(run.status).colour, label, live };
    });
}

/** The status bar's text: "RunPod: idle · CPU", "RunPod: 2 running, 1 queued · NVIDIA H100". */
export function statusText(connection: Connection, snapshot: ISnapshot | null): string {
  if (connection === 'no-kernel') {
    return 'RunPod: no kernel';
  }
  if (connection === 'not-loaded' || snapshot === null) {
    return 'RunPod: not loaded';
  }
  const running = snapshot.counts.IN_PROGRESS ?? 0;
  const queued = snapshot.counts.IN_QUEUE ?? 0;
  const parts: string[] = [];
  if (running) {
    parts.push(`${running} running`);
  }
  if (queued) {
    parts.push(`${queued} queued`);
  }
  const state = parts.length ? parts.join(', ') : 'idle';
  return `RunPod: ${state} · ${snapshot.gpu ?? 'CPU'}`;
}

/** Why an action is disabled (the button's tooltip), or null when it is enabled. */
export function exportDisabledReason(snapshot: ISnapshot | null): string | null {
  if (!snapshot) {
    return 'Load rp_jupyter in this kernel first (%load_ext rp_jupyter)';
  }
  return snapshot.features.export ? null : 'This kernel has no %rp_export (update rp_jupyter)';
}

export function serveDisabledReason(snapshot: ISnapshot | null): string | null {
  if (!snapshot) {
    return 'Load rp_jupyter in this kernel first (%load_ext rp_jupyter)';
  }
  return snapshot.features.serve ? null : 'This kernel has no %rp_serve (update rp_jupyter)';
}

export function keepDisabledReason(snapshot: ISnapshot | null): string | null {
  if (!snapshot) {
    return 'Load rp_jupyter in this kernel first (%load_ext rp_jupyter)';
  }
  return snapshot.features.tests ? null : 'This kernel has no %rp_tests (update rp_jupyter)';
}

/** The export dialog's default directory: `<exportDirectory>/<handler>-worker`. */
export function exportPath(exportDirectory: string, handler: string): string {
  const base = exportDirectory.replace(/\/+$/, '');
  return base ? `${base}/${handler}-worker` : `${handler}-worker`;
}

/** Parse a comm message's data; null for anything that is not a snapshot. */
export function asSnapshot(data: unknown): ISnapshot | null {
  if (!data || typeof data !== 'object') {
    return null;
  }
  const d = data as Partial<ISnapshot>;
  if (d.type !== 'snapshot' || !Array.isArray(d.handlers) || !Array.isArray(d.jobs)) {
    return null;
  }
  return {
    type: 'snapshot',
    handlers: d.handlers,
    jobs: d.jobs,
    lab_runs: Array.isArray(d.lab_runs) ? d.lab_runs : [],
    counts: d.counts ?? {},
    gpu: d.gpu ?? null,
    features: d.features ?? { export: false, serve: false },
    server: d.server ?? null,
    abandoned: Array.isArray(d.abandoned) ? d.abandoned.filter(line => typeof line === 'string') : []
  };
}
