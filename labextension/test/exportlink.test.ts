import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { browserPath } from '../src/exportlink';

test('a folder under the server root is opened by its path relative to the root', () => {
  assert.equal(browserPath('/home/ada/work/exported/tokens-worker', '/home/ada/work'), 'exported/tokens-worker');
  assert.equal(browserPath('/home/ada/work/my worker/', '/home/ada/work/'), 'my worker');
  assert.equal(browserPath('/home/ada/work', '/home/ada/work'), '');
  assert.equal(browserPath('C:\\Users\\ada\\nb\\w', 'C:\\Users\\ada'), 'nb/w');
});

test('a folder outside the root, or an unknown root, has no file-browser path', () => {
  assert.equal(browserPath('/tmp/tokens-worker', '/home/ada/work'), null);
  assert.equal(browserPath('/home/ada/workers/x', '/home/ada/work'), null); // a sibling with the same prefix
  assert.equal(browserPath('/home/ada/work/x', ''), null);
  assert.equal(browserPath('/home/ada/work/x', '~/work'), null);
  assert.equal(browserPath('/srv/w', '/'), 'srv/w'); // a server rooted at /
});
