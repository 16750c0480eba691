// Magpie under Deno 2 (the `deno` npm package provides the binary): list and a real triage run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { pwshOrFail, readJson, ROOT, tempDir } from './helpers.ts';

pwshOrFail();
const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

function deno(args: string[]) {
  if (!existsSync(DENO)) throw new Error('deno is missing: run `npm install` (the deno npm package is a dev dependency)');
  return spawnSync(DENO, ['run', '-A', '--no-lock', 'scripts/magpie.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, NO_COLOR: '1' } });
}

test('deno run -A scripts/magpie.ts list', () => {
  const r = deno(['list']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /triage +host-info → network → processes → autoruns → defender/);
});

test('deno run -A scripts/magpie.ts run triage writes verifiable evidence, marked as made under Deno', async () => {
  const out = tempDir();
  const r = deno(['run', 'triage', '--out', out]);
  assert.is(r.status, 0, r.stderr + r.stdout);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.match(m.tool.runtime, /^deno 2\./);
  assert.equal(m.steps.map((s: any) => s.status), ['ok', 'ok', 'ok', 'ok', 'skipped']);
  assert.ok(m.steps[2].records > 5);
  assert.ok((await verifyEvidence(dir)).ok);
});

test.run();
