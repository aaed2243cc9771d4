import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { IOutputJSON, WIDGET_VIEW, applyFixes, fixDeadOutputs, liveModelId } from '../src/saved';

function live(kind: string, id: string, extra: Record<string, unknown> = {}): IOutputJSON {
  return {
    output_type: 'display_data',
    data: { [WIDGET_VIEW]: { model_id: id, version_major: 2 }, 'text/plain': `${kind} text`, ...extra },
    metadata: { rp_jupyter: { live: kind } }
  };
}

const copy: IOutputJSON = {
  output_type: 'display_data',
  data: { 'text/html': '<div class="rpj-fallback">table</div>' },
  metadata: { rp_jupyter: { copy_of: 'jobs' } }
};
const plain: IOutputJSON = { output_type: 'stream', name: 'stdout', text: 'hi' };
const otherWidget: IOutputJSON = { output_type: 'display_data', data: { [WIDGET_VIEW]: { model_id: 'x' } }, metadata: {} };

test('only rp_jupyter live outputs are looked at', () => {
  assert.equal(liveModelId(live('job', 'a')), 'a');
  assert.equal(liveModelId(otherWidget), null); // someone else's widget: never touched
  assert.equal(liveModelId(copy), null);
  assert.equal(liveModelId(plain), null);
});

test('live models are left alone', () => {
  assert.deepEqual(fixDeadOutputs([live('jobs', 'a'), copy], new Set(['a'])), []);
});

test('a dead panel is removed when its static copy follows it', () => {
  assert.deepEqual(fixDeadOutputs([plain, live('jobs', 'a'), copy], new Set()), [{ index: 1, action: 'remove' }]);
});

test('a dead job view shows its own static parts', () => {
  const view = live('job', 'b', { 'text/html': '<div>summary</div>' });
  const [fix] = fixDeadOutputs([view, otherWidget], new Set(['x']));
  assert.equal(fix.action, 'replace');
  assert.equal(fix.index, 0);
  if (fix.action === 'replace') {
    assert.deepEqual(Object.keys(fix.output.data ?? {}).sort(), ['text/html', 'text/plain']);
    assert.deepEqual(fix.output.metadata, { rp_jupyter: { live: 'job' } });
  }
});

test('fixes come last first, so indexes stay valid while they are applied', () => {
  const fixes = fixDeadOutputs([live('jobs', 'a'), copy, live('form', 'b'), copy], new Set());
  assert.deepEqual(fixes.map(f => f.index), [2, 0]);
});

test('applied to a list (JupyterLab 4.2 cannot remove one output): dead panels go, their copies stay', () => {
  const view = live('job', 'c', { 'text/html': '<div>summary</div>' });
  const outputs = [plain, live('jobs', 'a'), copy, view, live('form', 'b'), copy];
  const fixed = applyFixes(outputs, fixDeadOutputs(outputs, new Set()));
  assert.deepEqual(fixed.map(o => o.output_type), ['stream', 'display_data', 'display_data', 'display_data']);
  assert.deepEqual([fixed[1], fixed[3]], [copy, copy]);
  assert.equal(liveModelId(fixed[2]), null); // the job view: its static parts, no widget
  assert.equal(outputs.length, 6); // the input is left as it was
});
