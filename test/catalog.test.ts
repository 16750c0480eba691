// Bad playbooks and steps: exit 2 with file:line and what to fix; good ones load and plan.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { InputErrors } from '../lib/errors.ts';
import { buildPlan, parseParamArgs } from '../lib/plan.ts';
import { cli, writeTree } from './helpers.ts';

const STEP = (id: string, extra = '') => `id: ${id}\ndescription: a test step\nkind: text\nos: [linux]\ntimeout: 10\n${extra}`;

function catalogError(files: Record<string, string>): InputErrors {
  const dir = writeTree(files);
  try {
    loadCatalog([dir]);
  } catch (e) {
    if (e instanceof InputErrors) return e;
    throw e;
  }
  throw new Error('expected the catalog to be rejected');
}

test('the built-in catalog loads, and triage plans with typed defaults', () => {
  const catalog = loadCatalog();
  assert.ok(catalog.steps.has('host-info') && catalog.steps.has('processes') && catalog.steps.has('network'));
  const plan = buildPlan(catalog, 'triage');
  assert.equal(plan.steps.map((s) => s.id), ['host-info', 'network', 'processes', 'autoruns', 'defender']);
  assert.equal(plan.steps[2].params, { HashImages: true, CheckSignatures: true });
  assert.match(plan.playbook.sha256, /^[a-f0-9]{64}$/);
});

test('every built-in step declares a timeout, OS with scripts (or a responder module), record kind and pinned tool hashes', () => {
  const responderSteps: string[] = [];
  for (const step of loadCatalog().steps.values()) {
    assert.ok(step.def.timeout > 0, step.def.id);
    assert.ok(step.def.os.length > 0, step.def.id);
    if (step.responder) responderSteps.push(step.def.id);
    for (const os of step.def.os) assert.ok(step.scripts[os]?.body.trim() || step.responder?.source.includes('export default'), `${step.def.id} has a ${os} script or a responder module`);
    for (const tool of step.def.tools) assert.match(tool.sha256, /^[a-fA-F0-9]{64}$/);
  }
  assert.equal(responderSteps.sort(), ['fetch-files', 'suspicious-modules', 'yara-scan']);
});

test('a responder step: its module is loaded beside step.yaml, its .ps1 files are optional, and the plan carries it', () => {
  const dir = writeTree({
    'steps/team/step.yaml': 'id: team\ndescription: x\nkind: text\nos: [windows, linux]\ntimeout: 30\nresponder: responder.mjs\n',
    'steps/team/responder.mjs': 'export default async ({ emit }) => emit({ text: "hi" });\n',
    't.yaml': 'name: t\ndescription: t\nsteps:\n  - step: team\n',
  });
  const plan = buildPlan(loadCatalog([dir]), 't');
  assert.equal(plan.steps[0].responder?.os, ['windows', 'linux']);
  assert.match(plan.steps[0].responder!.source, /emit\(\{ text: "hi" \}\)/);
  assert.equal(plan.steps[0].scripts, {});
});

test('playbook parameters bind through {{ refs }} and --param overrides, with types', () => {
  const catalog = loadCatalog();
  const plan = buildPlan(catalog, 'triage', parseParamArgs(['HashImages=false', 'network.IncludeUdp=no']));
  assert.is(plan.steps[2].params.HashImages, false);
  assert.is(plan.steps[1].params.IncludeUdp, false);
  assert.equal(plan.playbook.params, { HashImages: false });
});

test('malformed YAML names the file and line', () => {
  const e = catalogError({ 'bad.yaml': 'name: bad\ndescription: x\nsteps:\n  - step: host-info\n   params: [\n' });
  assert.match(e.message, /bad\.yaml:\d+: invalid YAML/);
});

test('unknown step: file, line, field and the known steps', () => {
  const e = catalogError({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: host-info\n  - step: no-such-step\n' });
  assert.match(e.message, /book\.yaml:5: steps\.1\.step: unknown step "no-such-step"; known steps: accounts, autoruns, autorunsc, av-scan, defender, eventlogs, execution-cache, fetch-files, file-hashes, host-info, memory-dump, net-context, network, prefetch, processes/);
});

test('wrong parameter type names the line of the value', () => {
  const e = catalogError({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: processes\n    params:\n      HashImages: "yes please"\n' });
  assert.match(e.message, /book\.yaml:6: steps\.0\.params\.HashImages: expected true or false/);
});

test('unknown parameter and unknown key are named', () => {
  const e = catalogError({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: processes\n    parms: {}\n    params:\n      Hash: true\n' });
  // The unknown key is named at its own line, not at the list item that holds it.
  assert.match(e.message, /book\.yaml:5: steps\.0\.parms: unknown key "parms"/);
});

test('a required parameter without a value says how to pass it', () => {
  const dir = writeTree({
    'steps/needs/step.yaml': STEP('needs', 'parameters:\n  - name: Target\n    type: string\n    required: true\n'),
    'steps/needs/linux.ps1': '$Params.Target',
    'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: needs\n',
  });
  const catalog = loadCatalog([dir]);
  assert.throws(() => buildPlan(catalog, 'book'), /book\.yaml:4: required parameter "Target" of step "needs" has no value; pass --param needs\.Target=VALUE/);
  assert.is(buildPlan(catalog, 'book', parseParamArgs(['needs.Target=x'])).steps[0].params.Target, 'x');
});

test('inline run: steps declare typed parameters; params without a declaration are named at their line', async () => {
  const ok = writeTree({
    'book.yaml': [
      'name: book',
      'description: x',
      'steps:',
      '  - id: inline',
      '    parameters:',
      '      - { name: Count, type: int, default: 2 }',
      '      - { name: Names, type: list }',
      '    params:',
      '      Names: ["a,b", "c;d"]',
      "    run: '[pscustomobject]@{ count = $Params.Count; names = $Params.Names }'",
      '',
    ].join('\n'),
  });
  const plan = buildPlan(loadCatalog([ok]), 'book', parseParamArgs(['inline.Count=5']));
  assert.equal(plan.steps[0].params, { Count: 5, Names: ['a,b', 'c;d'] });
  const out = writeTree({});
  const r = cli(['run', 'book', '--playbooks', ok, '--out', out, '--param', 'inline.Count=7']);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const [rec] = readFileSync(join(dir, 'steps', '01-inline', 'records.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(rec, { count: 7, names: ['a,b', 'c;d'] }, 'inline parameters reach $Params');

  const e = catalogError({ 'book.yaml': "name: book\ndescription: x\nsteps:\n  - id: inline\n    params:\n      Path: /tmp\n    run: '$Params.Path'\n" });
  assert.match(e.message, /book\.yaml:6: steps\.0\.params\.Path: step "inline" has no parameter "Path"; declare it under `parameters:`/);
  const e2 = catalogError({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: network\n    parameters: []\n' });
  assert.match(e2.message, /book\.yaml:5: steps\.0\.parameters: `parameters:` belongs to inline `run:` steps/);
  const e3 = catalogError({ 'book.yaml': "name: book\ndescription: x\nsteps:\n  - id: inline\n    parameters:\n      - { name: N, type: int, default: many }\n    run: '1'\n" });
  assert.match(e3.message, /book\.yaml:6: steps\.0\.parameters\.0\.default: default expected an integer/);
});

test('duplicate step ids: in a playbook and across step folders', () => {
  const e1 = catalogError({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: network\n  - step: network\n' });
  assert.match(e1.message, /book\.yaml:5: steps\.1: duplicate step id "network"/);
  const e2 = catalogError({
    'steps/a/step.yaml': STEP('a'),
    'steps/a/linux.ps1': '1',
    'steps/b/step.yaml': STEP('a'),
    'steps/b/linux.ps1': '1',
  });
  assert.match(e2.message, /step id "a" must match its folder name "b"/);
});

test('a step with no script for any OS it declares is rejected', () => {
  const e = catalogError({ 'steps/empty/step.yaml': STEP('empty') });
  assert.match(e.message, /steps\/empty\/step\.yaml:4: os: declares os "linux" but linux\.ps1 is missing/);
  const e2 = catalogError({ 'steps/noos/step.yaml': 'id: noos\ndescription: x\nkind: text\nos: []\ntimeout: 10\n' });
  assert.match(e2.message, /step\.yaml:4: os: /);
});

test('a team folder overrides a built-in step of the same id', () => {
  const dir = writeTree({ 'steps/network/step.yaml': STEP('network').replace('a test step', 'team network'), 'steps/network/linux.ps1': "'team'" });
  const catalog = loadCatalog([dir]);
  assert.is(catalog.steps.get('network')!.def.description, 'team network');
  assert.is(catalog.steps.get('network')!.file, join(dir, 'steps', 'network', 'step.yaml'));
});

test('CLI: invalid input exits 2 with file:line; unknown playbook and bad --param too', () => {
  const dir = writeTree({ 'book.yaml': 'name: book\ndescription: x\nsteps:\n  - step: nope\n' });
  const r = cli(['validate', '--playbooks', dir]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /book\.yaml:4: steps\.0\.step: unknown step "nope"/);
  const r2 = cli(['run', 'no-such-playbook']);
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /unknown playbook "no-such-playbook"; known playbooks: .*triage/);
  const r3 = cli(['run', 'triage', '--param', 'HashImages=maybe', '--dry-run']);
  assert.is(r3.code, 2);
  assert.match(r3.stderr, /--param HashImages: expected true or false, got "maybe"/);
  const r4 = cli(['run', 'triage', '--param', 'Nope=1', '--dry-run']);
  assert.is(r4.code, 2);
  assert.match(r4.stderr, /--param Nope: playbook "triage" has no such parameter/);
  const r5 = cli(['frobnicate']);
  assert.is(r5.code, 2);
  assert.match(r5.stderr, /unknown command "frobnicate"/);
});

test.run();
