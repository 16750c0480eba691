// Magpie under Deno 2 (the `deno` npm package provides the binary): list and a real triage run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { pwshOrFail, readJson, readJsonl, ROOT, tempDir, writeTree } from './helpers.ts';

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

test('under Deno, responder steps run: yara-fetched end to end, and a team module in TypeScript driving ps', async () => {
  const planted = writeTree({ 'drop/a.txt': 'xx MAGPIE-DENO-MARKER xx\n' });
  const rules = join(tempDir(), 'r.yar');
  writeFileSync(rules, 'rule deno_marker { strings: $a = "MAGPIE-DENO-MARKER" condition: $a }\n');
  const r = deno(['run', 'yara-fetched', '--out', tempDir(), '--param', `Paths=${join(planted, 'drop')}`, '--param', `Rules=${rules}`]);
  assert.is(r.status, 0, r.stderr + r.stdout);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(readJsonl(join(dir, m.steps[1].dir, 'records.jsonl')).map((d) => d.threatName), ['deno_marker']);

  const book = writeTree({
    't.yaml': 'name: t\ndescription: t\nsteps:\n  - step: team\n',
    'steps/team/step.yaml': 'id: team\ndescription: x\nkind: text\nos: [linux]\ntimeout: 60\nresponder: responder.ts\n',
    'steps/team/responder.ts': "export default async function ({ ps, emit, $ }: { ps: any; emit: (r: object) => void; $: any }): Promise<void> {\n  const [a] = await ps`[pscustomobject]@{ n = 20 }`;\n  const [b] = await ps`[pscustomobject]@{ n = ${a.n} + 1 }`;\n  const echo = await $`echo ${\"it's ‘quoted’\"}`;\n  emit({ text: `${b.n} ${echo.stdout.trim()}` });\n}\n",
  });
  const t = deno(['run', 't', '--playbooks', book, '--out', tempDir()]);
  assert.is(t.status, 0, t.stderr + t.stdout);
  const tdir = /evidence: (.+)/.exec(t.stdout)![1].trim();
  assert.equal(readJsonl(join(tdir, 'steps', '01-team', 'records.jsonl')), [{ text: "21 it's ‘quoted’" }]);
  assert.match(readFileSync(join(tdir, 'steps', '01-team', 'responder.ts'), 'utf8'), /Promise<void>/);
  assert.ok((await verifyEvidence(tdir)).ok);
});

test.run();
