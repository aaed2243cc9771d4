import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { LOAD_EXT, TEMPLATES, cellsToInsert, findTemplate, jobViewSource, loadsExtension } from '../src/templates';

test('six templates, each a %%rp_handler cell that starts the handler', () => {
  assert.deepEqual(
    TEMPLATES.map(t => t.id),
    ['standard', 'streaming', 'async', 'concurrent', 'progress', 'model']
  );
  for (const t of TEMPLATES) {
    assert.ok(t.source.startsWith('%%rp_handler\n'), t.id);
    assert.match(t.source, /runpod\.serverless\.start\(\{"handler": handler/, t.id);
  }
});

test('templates show the feature they are named after', () => {
  assert.match(findTemplate('streaming')!.source, /yield/);
  assert.match(findTemplate('streaming')!.source, /"return_aggregate_stream": True/);
  assert.match(findTemplate('async')!.source, /async def handler/);
  assert.match(findTemplate('concurrent')!.source, /"concurrency_modifier": concurrency_modifier/);
  assert.match(findTemplate('progress')!.source, /progress_update\(job/);
  const model = findTemplate('model')!.source;
  assert.ok(model.indexOf('model = load_model()') < model.indexOf('def handler'));
});

test('a job view cell asks the runtime for that job', () => {
  assert.equal(
    jobViewSource('abc-"1"'),
    'import rp_jupyter\n\nrp_jupyter.get_runtime().get("abc-\\"1\\"")  # the job\'s live view'
  );
});

test('the default template is the standard one', () => {
  assert.equal(findTemplate(undefined)!.id, 'standard');
  assert.equal(findTemplate('nope'), undefined);
});

test('%load_ext is added only when no cell loads the extension', () => {
  const [first, second] = cellsToInsert('standard', ['import numpy']);
  assert.equal(first, LOAD_EXT);
  assert.ok(second.startsWith('%%rp_handler'));
  assert.equal(cellsToInsert('standard', ['x = 1\n%load_ext rp_jupyter']).length, 1);
  assert.equal(cellsToInsert('async', ['%reload_ext rp_jupyter']).length, 1);
  assert.equal(cellsToInsert('async', ['import rp_jupyter']).length, 2);  // the API, not the magics
  assert.equal(cellsToInsert('async', []).length, 2);
});

test('loadsExtension does not match other extensions or comments', () => {
  assert.equal(loadsExtension('%load_ext autoreload'), false);
  assert.equal(loadsExtension('# %load_ext rp_jupyter'), false);
  assert.equal(loadsExtension('%load_ext rp_jupyterx'), false);
  assert.equal(loadsExtension('  %load_ext rp_jupyter  '), true);
});

test('an unknown template is an error naming the known ones', () => {
  assert.throws(() => cellsToInsert('bogus', []), /known: standard, streaming/);
});

test('the inserted handler cell has no trailing newline', () => {
  const cells = cellsToInsert('standard', [LOAD_EXT]);
  assert.ok(!cells[0].endsWith('\n'));
});
