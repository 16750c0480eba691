// `flagged:LEVEL` selectors: a list parameter declared with `selector: flagged-processes` gets,
// just before its step, the PIDs of the processes this run's records flag at that level — here a
// planted miner (a deleted copy of sh in a hidden /dev/shm folder, with a pool on its command
// line, a copy of sh) collected for real by the processes step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bindSelectors, usesSelectors } from '../lib/selectors.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir } from './helpers.ts';

pwshOrFail();

const echoStep = (id: string) => ({
  id,
  parameters: [{ name: 'Pids', type: 'list', default: ['flagged:high'], selector: 'flagged-processes' }],
  run: "[pscustomobject]@{ pids = @($Params.Pids) -join ',' }",
});

test('flagged:high becomes the PIDs of the processes flagged at high, recorded in params.json, the custody log and the host output', async () => {
  const hidden = `/dev/shm/.magpie-selector-${process.pid}`;
  mkdirSync(hidden, { recursive: true });
  const exe = join(hidden, 'worker');
  copyFileSync('/bin/sh', exe);
  // A shell that stays (the `; :` keeps it from exec'ing sleep), with a pool on its command line.
  const child = spawn(exe, ['-c', 'sleep 307; :', 'stratum+tcp://pool.example:3333', '--donate-level'], { stdio: 'ignore' });
  try {
    rmSync(exe);
    const book = teamPlaybook('selector-test', [{ step: 'processes', params: { HashImages: false } }, echoStep('dump-flagged'), echoStep('plain')]);
    const out = tempDir();
    const r = cli(['run', 'selector-test', '--playbooks', book, '--param', 'plain.Pids=42,43', '--out', out]);
    assert.is(r.code, 0, r.stderr + r.stdout);
    const dir = /evidence: (\S+)/.exec(r.stdout)![1];
    const m = readJson(join(dir, 'manifest.json'));
    const [rec] = readJsonl(join(dir, m.steps[1].dir, 'records.jsonl'));
    assert.ok(rec.pids.split(',').includes(String(child.pid)), `the planted miner ${child.pid} is among ${rec.pids}`);
    assert.not.ok(rec.pids.split(',').includes(String(process.pid)), 'not everything');
    assert.ok(readJson(join(dir, m.steps[1].dir, 'params.json')).Pids.includes(String(child.pid)), 'params.json holds the PIDs the step was given');
    assert.match(readFileSync(join(dir, 'custody.jsonl'), 'utf8'), new RegExp(`"step":"dump-flagged".*"Pids":\\[[^\\]]*"${child.pid}"`));
    assert.match(readFileSync(join(dir, m.steps[1].dir, 'host-output.log'), 'utf8'), new RegExp(`Pids: flagged:high → .*${child.pid} \\(.*miner-commandline`));
    // Plain values pass through untouched.
    assert.equal(readJsonl(join(dir, m.steps[2].dir, 'records.jsonl')), [{ pids: '42,43' }]);
  } finally {
    spawn('pkill', ['-KILL', '-P', String(child.pid)]);
    child.kill('SIGKILL');
    rmSync(hidden, { recursive: true, force: true });
  }
});

test('a selector that chooses nothing skips its step saying why (no process records before it)', async () => {
  const book = teamPlaybook('selector-alone', [echoStep('dump-flagged')]);
  const r = cli(['run', 'selector-alone', '--playbooks', book, '--out', tempDir()]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const dir = /evidence: (\S+)/.exec(r.stdout)![1];
  const [step] = readJson(join(dir, 'manifest.json')).steps;
  assert.is(step.status, 'skipped');
  assert.match(step.reason, /nothing selected: Pids: flagged:high → nothing: no process records were collected before this step \(put the processes step first\)/);
});

test('a step without selectors is left as it is, without loading triage', async () => {
  const step = { params: { Pids: ['flagged:high'] }, selectors: undefined } as never;
  assert.not.ok(usesSelectors(step));
  const bound = await bindSelectors(step, '/nonexistent');
  assert.is(bound.step, step);
});

test.run();
