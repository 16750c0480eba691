// List parameters on their way into a real pwsh step: every item travels base64, so separators
// of the transport itself (`,` between items, `;` between parameters, `=` and `:`), quotes and
// PowerShell syntax arrive in $Params as the same strings, in order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect } from '../lib/collect.ts';
import { buildPlan } from '../lib/plan.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir } from './helpers.ts';

pwshOrFail();

const ITEMS = ['a,b', 'c;d', 'p.Other=s:x', "it's", '"double"', '‘curly’', '$(whoami)', '`n', 'ü € 😀', '-', ' padded ', 'line\nbreak', 'last'];

// A team step that echoes its list as one record.
const SHOW = {
  'steps/show/step.yaml': 'id: show\ndescription: echo a list parameter\nkind: text\nos: [linux]\ntimeout: 30\nparameters:\n  - { name: Items, type: list, default: [] }\n  - { name: After, type: string, default: after }\n',
  'steps/show/linux.ps1': '[pscustomobject]@{ items = @($Params.Items); count = @($Params.Items).Count; after = $Params.After }\n',
};

function shown(dir: string) {
  const [rec] = readJsonl(join(dir, 'steps', '01-show', 'records.jsonl'));
  return rec;
}

test('a list given on the command line (JSON) arrives item for item, and the next parameter is intact', () => {
  const book = teamPlaybook('lists', [{ step: 'show' }], SHOW);
  const r = cli(['run', 'lists', '--playbooks', book, '--out', tempDir(), '--param', `show.Items=${JSON.stringify(ITEMS)}`]);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const rec = shown(dir);
  assert.equal(rec.items, ITEMS);
  assert.is(rec.count, ITEMS.length);
  assert.is(rec.after, 'after', 'a `;` inside an item does not cut into the parameter after it');
  assert.equal(readJson(join(dir, 'steps', '01-show', 'params.json')).Items, ITEMS);
});

test('a list from the playbook arrives the same way; comma-separated text on the command line splits on commas', async () => {
  const book = teamPlaybook('lists', [{ step: 'show', params: { Items: ITEMS } }], SHOW);
  const [result] = await collect({ plan: buildPlan(loadCatalog([book]), 'lists'), targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'lists', concurrency: 1 });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  assert.equal(shown(result.dir!).items, ITEMS);

  const r = cli(['run', 'lists', '--playbooks', book, '--out', tempDir(), '--param', 'show.Items=x;y, z=1']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(shown(/evidence: (.+)/.exec(r.stdout)![1].trim()).items, ['x;y', 'z=1']);
});

test('empty items keep their place, and an empty list arrives empty', () => {
  for (const items of [['a', '', 'b'], [''], []]) {
    const book = teamPlaybook('lists', [{ step: 'show', params: { Items: items } }], SHOW);
    const r = cli(['run', 'lists', '--playbooks', book, '--out', tempDir()]);
    assert.is(r.code, 0, r.stderr);
    const rec = shown(/evidence: (.+)/.exec(r.stdout)![1].trim());
    assert.is(rec.count, items.length, JSON.stringify(items));
    assert.equal(rec.items, items);
  }
});

test.run();
