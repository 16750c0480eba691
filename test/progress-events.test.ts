// Progress of a large fetch as the reporters show it: one plain line, one JSON line without the
// whole planned step, and a file name from the host escaped before it reaches a terminal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { describeEvent, JsonReporter } from '../lib/progress.ts';
import type { RunEvent } from '../lib/runner.ts';

const step = { index: 7, id: 'memory-dump', params: { Pids: ['1'] }, scripts: {} } as never;
const event: RunEvent = { type: 'step-progress', host: 'web-01', step, file: 'files/core-\u001b[31mx\u001b[0m.1234', done: 52_428_800, total: 104_857_600 };

test('plain: host, step, file (escaped) and megabytes', () => {
  const line = describeEvent(event)!;
  assert.match(line, /^web-01: 7\/memory-dump fetching files\/core-.*x.*\.1234 52\.4 MB of 104\.9 MB$/);
  assert.not.ok(line.includes('\u001b'), 'no raw escape from the host');
});

test('JSON: the step by id and index, the bytes, not the planned step', () => {
  let out = '';
  new JsonReporter(new Writable({ write: (c, _e, cb) => ((out += c), cb()) })).onEvent(event);
  const j = JSON.parse(out);
  assert.equal({ type: j.type, host: j.host, step: j.step, index: j.index, file: j.file, done: j.done, total: j.total }, { type: 'step-progress', host: 'web-01', step: 'memory-dump', index: 7, file: event.file, done: 52_428_800, total: 104_857_600 });
  assert.not.ok('params' in j || 'scripts' in j);
});

test.run();
