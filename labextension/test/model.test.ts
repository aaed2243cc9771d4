import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import {
  ILabRun,
  ISnapshot,
  asSnapshot,
  concurrencyLabel,
  exportDisabledReason,
  exportPath,
  formatDuration,
  jobRow,
  jobRows,
  keepDisabledReason,
  kindLabel,
  labRows,
  serveDisabledReason,
  stateStyle,
  statusText
} from '../src/model';

function snapshot(extra: Partial<ISnapshot> = {}): ISnapshot {
  return {
    type: 'snapshot',
    handlers: [],
    jobs: [],
    lab_runs: [],
    counts: { IN_QUEUE: 0, IN_PROGRESS: 0, COMPLETED: 0 },
    gpu: 'CPU',
    features: { export: true, serve: true },
    server: null,
    ...extra
  };
}

const job = {
  id: 'a1b2c3d4-0000-1111-2222-333344445555-local',
  handler: 'echo',
  status: 'COMPLETED',
  submitted_at: 0,
  delay_ms: 3,
  execution_ms: 1500,
  elapsed_s: 1.5,
  progress: null,
  chunks: 0
};

test('state chips use RunPod names with the job views colours', () => {
  assert.deepEqual(stateStyle('COMPLETED'), { label: 'Completed', colour: '#1f9d55' });
  assert.equal(stateStyle('FAILED').colour, '#d64545');
  assert.equal(stateStyle('SOMETHING').label, 'SOMETHING');
});

test('durations', () => {
  assert.equal(formatDuration(null), '–');
  assert.equal(formatDuration(12.4), '12 ms');
  assert.equal(formatDuration(3400), '3.4 s');
  assert.equal(formatDuration(125000), '2 min 5 s');
});

test('status bar: idle, running and queued, GPU name', () => {
  assert.equal(statusText('no-kernel', null), 'RunPod: no kernel');
  assert.equal(statusText('not-loaded', null), 'RunPod: not loaded');
  assert.equal(statusText('connected', snapshot()), 'RunPod: idle · CPU');
  const busy = snapshot({ counts: { IN_PROGRESS: 2, IN_QUEUE: 1 }, gpu: 'NVIDIA H100 80GB HBM3' });
  assert.equal(statusText('connected', busy), 'RunPod: 2 running, 1 queued · NVIDIA H100 80GB HBM3');
  assert.equal(statusText('connected', snapshot({ counts: { IN_QUEUE: 3 } })), 'RunPod: 3 queued · CPU');
});

test('a finished job shows RunPod delay and execution times', () => {
  const row = jobRow(job, 10_000, 0);
  assert.equal(row.live, false);
  assert.equal(row.times, 'delay 3 ms · exec 1.5 s');
  assert.equal(row.shortId, 'a1b2c3d4…');
  assert.equal(row.label, 'Completed');
});

test('a running job elapsed time advances on the browser clock', () => {
  const running = { ...job, status: 'IN_PROGRESS', execution_ms: null, elapsed_s: 1, chunks: 7 };
  assert.equal(jobRow(running, 1000, 1000).times, 'running 1.0 s');
  assert.equal(jobRow(running, 3000, 1000).times, 'running 3.0 s');
  assert.equal(jobRow(running, 3000, 1000).progress, '7 chunks');
  const queued = { ...running, status: 'IN_QUEUE', chunks: 0, progress: null };
  assert.match(jobRow(queued, 0, 0).times, /^waiting/);
});

test('rows are newest first', () => {
  const rows = jobRows(snapshot({ jobs: [{ ...job, id: 'old' }, { ...job, id: 'new' }] }), 0, 0);
  assert.deepEqual(rows.map(r => r.id), ['new', 'old']);
});

test('handler labels', () => {
  const h = {
    name: 'h', kind: 'generator', aggregate: true, concurrency: 1, refresh_worker: false,
    timeout: 600, jobs: 0, request: '{}'
  };
  assert.equal(kindLabel(h), 'generator, aggregate');
  assert.equal(kindLabel({ ...h, kind: 'sync' }), 'sync');
  assert.equal(concurrencyLabel(h), 'concurrency 1');
  assert.equal(concurrencyLabel({ ...h, concurrency: 'adjust' }), 'concurrency: adjust()');
});

test('export and serve are disabled with a reason when the kernel lacks the magic', () => {
  assert.equal(exportDisabledReason(snapshot()), null);
  assert.match(exportDisabledReason(snapshot({ features: { export: false, serve: true } }))!, /%rp_export/);
  assert.match(serveDisabledReason(snapshot({ features: { export: true, serve: false } }))!, /%rp_serve/);
  assert.match(exportDisabledReason(null)!, /load_ext/);
});

test('export path', () => {
  assert.equal(exportPath('workers/', 'echo'), 'workers/echo-worker');
  assert.equal(exportPath('', 'echo'), 'echo-worker');
});

test('asSnapshot accepts snapshots only, filling defaults', () => {
  assert.equal(asSnapshot({ type: 'reply' }), null);
  assert.equal(asSnapshot(null), null);
  const s = asSnapshot({ type: 'snapshot', handlers: [], jobs: [] })!;
  assert.equal(s.gpu, null);
  assert.deepEqual(s.features, { export: false, serve: false });
  assert.deepEqual(s.abandoned, []); // an older kernel sends none
  const t = asSnapshot({ type: 'snapshot', handlers: [], jobs: [], abandoned: ['abandoned call of handler', 3] })!;
  assert.deepEqual(t.abandoned, ['abandoned call of handler']); // kept: the sidebar lists them
});

test('a lab run is one line: its handler, jobs, levels, and what is still running or failed', () => {
  const runs: ILabRun[] = [
    { run: 1, handler: 'fetch', jobs: 64, levels: [1, 2, 4, 8], counts: { COMPLETED: 64 }, status: 'COMPLETED' },
    { run: 2, handler: 'fetch', jobs: 9, levels: [1, 2], counts: { COMPLETED: 5, IN_PROGRESS: 2, FAILED: 2 },
      status: 'IN_PROGRESS' }
  ];
  const rows = labRows(snapshot({ lab_runs: runs }));
  assert.deepEqual(rows.map(r => r.run), [2, 1]); // newest first
  assert.equal(rows[1].label, '%rp_bench fetch · 64 jobs at 1, 2, 4, 8');
  assert.equal(rows[0].label, '%rp_bench fetch · 9 jobs at 1, 2 · 2 running · 2 failed');
  assert.equal(rows[0].live, true);
  assert.equal(asSnapshot({ type: 'snapshot', handlers: [], jobs: [] })?.lab_runs.length, 0); // an older kernel
});

test('a job that ended with a result can be kept as a test, when the kernel has %rp_tests', () => {
  const now = Date.now();
  assert.equal(jobRow(job, now, now).keepable, true);
  assert.equal(jobRow({ ...job, status: 'FAILED' }, now, now).keepable, true);
  for (const status of ['IN_QUEUE', 'IN_PROGRESS', 'CANCELLED', 'TIMED_OUT']) {
    assert.equal(jobRow({ ...job, status }, now, now).keepable, false, status);
  }
  assert.equal(keepDisabledReason(snapshot({ features: { export: true, serve: true, tests: true } })), null);
  assert.match(keepDisabledReason(snapshot())!, /%rp_tests/); // an older kernel: no tests feature
  assert.match(keepDisabledReason(null)!, /load_ext/);
});
