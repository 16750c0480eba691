// Responder steps (zx modules) over the local transport, against real pwsh: several dependent
// PowerShell calls, hostile values as data, each call in the evidence and the custody log,
// timeouts and Ctrl-C inside a long call, a throw mid-step, fetch/push, earlier steps' records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect, type HostResult } from '../lib/collect.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { buildPlan, parseParamArgs } from '../lib/plan.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, waitFor, writeTree } from './helpers.ts';

pwshOrFail();

const HOSTILE = `a'‘’‚‛"“”„$(whoami)\`whoami\`;exit 1;\nb\r\n\${env:PATH}@(1)|&<>%{}#<#`;

/** A team step folder holding a responder module. */
function responderStep(id: string, source: string, o: { kind?: string; timeout?: number; params?: string; file?: string } = {}): Record<string, string> {
  const file = o.file ?? 'responder.mjs';
  return {
    [`steps/${id}/step.yaml`]: `id: ${id}\ndescription: a responder step\nkind: ${o.kind ?? 'text'}\nos: [linux, windows]\ntimeout: ${o.timeout ?? 60}\nresponder: ${file}\n${o.params ?? ''}`,
    [`steps/${id}/${file}`]: source,
  };
}

async function runBook(steps: unknown[], extra: Record<string, string>, o: { params?: string[]; signal?: AbortSignal; out?: string } = {}): Promise<{ result: HostResult; manifest: any; dir: string }> {
  const book = teamPlaybook('t', steps, extra);
  const plan = buildPlan(loadCatalog([book]), 't', parseParamArgs(o.params ?? []));
  const [result] = await collect({ plan, targets: ['localhost'], transport: 'local', out: o.out ?? tempDir(), caseId: 'test', concurrency: 1, signal: o.signal });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  return { result, manifest: readJson(join(result.dir!, 'manifest.json')), dir: result.dir! };
}

const custody = (dir: string) => readJsonl(join(dir, 'custody.jsonl'));

const CHAIN = `
export default async function ({ ps, emit, log }) {
  // Each call depends on what the one before returned.
  const [me] = await ps\`[pscustomobject]@{ pid = $PID; parent = (Get-Process -Id $PID).Parent.Id }\`;
  const [proc] = await ps\`Get-Process -Id \${me.pid} | Select-Object @{ n = 'pid'; e = { $_.Id } }, @{ n = 'name'; e = { $_.ProcessName } }\`;
  const [parent] = await ps\`Get-Process -Id \${me.parent} | Select-Object @{ n = 'pid'; e = { $_.Id } }, @{ n = 'name'; e = { $_.ProcessName } }\`;
  log('checked ' + proc.pid + ' and its parent ' + parent.pid);
  emit({ pid: proc.pid, ppid: parent.pid, name: proc.name, parentName: parent.name });
}
`;

test('a responder step makes several dependent ps calls; each is in the evidence (script, params, output, timing) and the custody log', async () => {
  const { manifest, dir } = await runBook([{ step: 'chain' }], responderStep('chain', CHAIN, { kind: 'process' }));
  const [s] = manifest.steps;
  assert.is(s.status, 'ok', s.reason);
  assert.is(s.records, 1);
  assert.is(s.responder, 'responder.mjs');
  assert.is(s.invocations, 3);
  const [rec] = readJsonl(join(dir, s.dir, 'records.jsonl'));
  assert.is(rec.ppid, readJsonl(join(dir, s.dir, 'invocations', '001', 'records.jsonl'))[0].parent);
  assert.ok(rec.pid > 0 && typeof rec.name === 'string');
  // The module is kept as what ran, and its hash is the step's script hash.
  const source = readFileSync(join(dir, s.dir, 'responder.mjs'), 'utf8');
  assert.is(source, CHAIN);
  assert.is(s.scriptSha256, createHash('sha256').update(CHAIN).digest('hex'));
  for (const n of ['001', '002', '003']) {
    const inv = join(dir, s.dir, 'invocations', n);
    for (const f of ['script.ps1', 'params.json', 'records.jsonl', 'stdout.log', 'stderr.log', 'invocation.json']) assert.ok(existsSync(join(inv, f)), `${n}/${f}`);
    const info = readJson(join(inv, 'invocation.json'));
    assert.is(info.invocation, Number(n));
    assert.is(info.outcome, 'completed');
    assert.ok(info.durationMs >= 0 && info.started <= info.ended);
    assert.match(readFileSync(join(inv, 'script.ps1'), 'utf8'), /# ---- Magpie prelude v1/);
  }
  assert.equal(readJson(join(dir, s.dir, 'invocations', '002', 'params.json')), { a0: rec.pid });
  assert.match(readFileSync(join(dir, s.dir, 'invocations', '002', 'script.ps1'), 'utf8'), /Get-Process -Id \$\{MagpieArg0\}/);
  const entries = custody(dir);
  const started = entries.filter((e) => e.action === 'invocation-started');
  const ended = entries.filter((e) => e.action === 'invocation-ended');
  assert.equal(started.map((e) => e.invocation), [1, 2, 3]);
  assert.equal(ended.map((e) => e.outcome), ['completed', 'completed', 'completed']);
  for (const e of started) {
    const script = readFileSync(join(dir, s.dir, 'invocations', String(e.invocation).padStart(3, '0'), 'script.ps1'), 'utf8');
    assert.is(e.scriptSha256, createHash('sha256').update(script).digest('hex'));
  }
  assert.equal(started[2].params, { a0: rec.ppid });
  assert.ok(ended[0].files.some((f: any) => f.path === 'records.jsonl'));
  assert.match(readFileSync(join(dir, s.dir, 'stdout.log'), 'utf8'), /checked \d+ and its parent \d+/);
  const report = await verifyEvidence(dir);
  assert.ok(report.ok, JSON.stringify(report.problems));
});

test('the core injection strings interpolated into ps arrive as the same literal values, in every position and type', async () => {
  const { manifest, dir } = await runBook(
    [{ step: 'inject', params: { Value: HOSTILE } }],
    responderStep(
      'inject',
      `
export default async function ({ ps, emit, params }) {
  const h = params.Value;
  const [r] = await ps\`[pscustomobject]@{ bare = \${h}; inString = "<\${h}>"; list = @(\${[h, '', 'x']}); count = @(\${[h]}).Count; n = \${42} + 1; f = \${1.5} * 2; t = -not \${true}; obj = \${{ k: h, n: [1, 2] }}; ints = \${[1, 2, 3]}; none = $null -eq \${null} }\`;
  emit({ line: JSON.stringify(r) });
}
`,
      { params: 'parameters:\n  - { name: Value, type: string, required: true }\n' },
    ),
  );
  const [s] = manifest.steps;
  assert.is(s.status, 'ok', s.reason);
  const r = JSON.parse(readJsonl(join(dir, s.dir, 'records.jsonl'))[0].line);
  assert.is(r.bare, HOSTILE);
  assert.is(r.inString, `<${HOSTILE}>`);
  assert.equal(r.list, [HOSTILE, '', 'x']);
  assert.is(r.count, 1);
  assert.is(r.n, 43);
  assert.is(r.f, 3);
  assert.is(r.t, false);
  assert.equal(r.obj, { k: HOSTILE, n: [1, 2] });
  assert.equal(r.ints, [1, 2, 3]);
  assert.is(r.none, true);
  const script = readFileSync(join(dir, s.dir, 'invocations', '001', 'script.ps1'), 'utf8');
  assert.not.ok(script.includes('whoami'), 'no value is in the source');
  assert.is(readJson(join(dir, s.dir, 'invocations', '001', 'params.json')).a0, HOSTILE);
});

test('a timeout inside a long ps call stops it (with its children) and keeps what was emitted; the next step runs', async () => {
  const t0 = Date.now();
  const { manifest, dir } = await runBook(
    [{ step: 'slow' }, { id: 'next', run: '[pscustomobject]@{ ran = $true }' }],
    responderStep(
      'slow',
      `
export default async function ({ ps, emit }) {
  emit({ text: 'before' });
  await ps\`[pscustomobject]@{ started = 1 }; & /bin/sleep 302\`;
  emit({ text: 'never' });
}
`,
      { timeout: 4 },
    ),
  );
  const [slow, next] = manifest.steps;
  assert.is(slow.status, 'timeout');
  assert.is(slow.partial, true);
  assert.match(slow.reason, /stopped after its 4s timeout/);
  assert.ok(slow.durationMs < 9000, `stopped after ${slow.durationMs} ms`);
  assert.equal(readJsonl(join(dir, slow.dir, 'records.jsonl')), [{ text: 'before' }]);
  assert.equal(readJsonl(join(dir, slow.dir, 'invocations', '001', 'records.jsonl')), [{ started: 1 }]);
  assert.is(readJson(join(dir, slow.dir, 'invocations', '001', 'invocation.json')).outcome, 'timeout');
  assert.is(next.status, 'ok');
  assert.ok(Date.now() - t0 < 30000);
  const survivors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sleep\u0000302');
    } catch {
      return false;
    }
  });
  assert.equal(survivors, [], 'the native child of the call was stopped too');
  assert.ok((await verifyEvidence(dir)).ok);
});

test('Ctrl-C inside a long ps call stops it; the step is failed as interrupted, what it emitted is kept, the folder is sealed as interrupted', async () => {
  const out = tempDir();
  const ac = new AbortController();
  const run = runBook(
    [{ step: 'slow' }, { id: 'next', run: '1' }],
    responderStep(
      'slow',
      `
export default async function ({ ps, emit, signal }) {
  emit({ text: 'before' });
  try {
    await ps\`& /bin/sleep 303\`;
  } finally {
    emit({ text: 'signal ' + signal.aborted + ' ' + signal.reason });
  }
}
`,
      { timeout: 300 },
    ),
    { signal: ac.signal, out },
  );
  await waitFor(() => findFile(out, 'invocations/001/script.ps1'), 60_000, 'the long call to start');
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  ac.abort();
  const { manifest, dir } = await run;
  assert.ok(Date.now() - t0 < 8000, `stopped after ${Date.now() - t0} ms`);
  const [slow, next] = manifest.steps;
  assert.is(slow.status, 'failed');
  assert.match(slow.reason, /interrupted by the operator/);
  assert.equal(readJsonl(join(dir, slow.dir, 'records.jsonl')), [{ text: 'before' }, { text: 'signal true aborted' }]);
  assert.is(readJson(join(dir, slow.dir, 'invocations', '001', 'invocation.json')).outcome, 'aborted');
  assert.is(next.status, 'skipped');
  assert.is(manifest.state, 'interrupted');
});

/** The first path under `root` ending in `suffix` ('/'-separated). */
function findFile(root: string, suffix: string): string | undefined {
  const walk = (dir: string): string | undefined => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (p.endsWith(suffix)) return p;
      if (statSync(p).isDirectory()) {
        const f = walk(p);
        if (f) return f;
      }
    }
    return undefined;
  };
  try {
    return walk(root);
  } catch {
    return undefined;
  }
}

test('an exception mid-step fails it with its message and stack; records emitted until then are kept; a ps call that throws on the target says so', async () => {
  const { manifest, dir } = await runBook(
    [{ step: 'thrower' }, { step: 'psthrow' }, { id: 'after', run: '[pscustomobject]@{ n = 2 }' }],
    {
      ...responderStep(
        'thrower',
        `
export default async function ({ ps, emit }) {
  const [r] = await ps\`[pscustomobject]@{ n = 1 }\`;
  emit({ text: 'n=' + r.n });
  helperThatFails();
}
function helperThatFails() { throw new Error('boom: disk on fire'); }
`,
      ),
      ...responderStep('psthrow', `export default async ({ ps, emit }) => { emit({ text: 'one' }); await ps\`throw 'target says no'\`; emit({ text: 'two' }); };\n`),
    },
  );
  const [thrower, psthrow, after] = manifest.steps;
  assert.is(thrower.status, 'failed');
  assert.is(thrower.reason, 'responder.mjs: boom: disk on fire');
  assert.is(thrower.records, 1);
  const stderr = readFileSync(join(dir, thrower.dir, 'stderr.log'), 'utf8');
  assert.match(stderr, /\[terminating\] boom: disk on fire/);
  assert.match(stderr, /at helperThatFails \(.*responder\.mjs:7/);
  assert.is(psthrow.status, 'failed');
  assert.match(psthrow.reason, /call 1 \(invocations\/001\) failed on the target: target says no/);
  assert.is(psthrow.records, 1);
  assert.is(after.status, 'ok');
  assert.ok((await verifyEvidence(dir)).ok);
});

test('push: two files of one name from different folders both arrive as sent; a name that needs cleaning is taken', async () => {
  const here = writeTree({ 'a/rules.yar': 'rule a {}\n', 'b/rules.yar': 'rule b {}\n', 'my rules ‘1’.yar': 'rule c {}\n' });
  const { manifest, dir } = await runBook([{ step: 'pusher' }], {
    ...responderStep(
      'pusher',
      `
export default async function ({ ps, push, emit }) {
  const paths = [];
  for (const f of ${JSON.stringify(['a/rules.yar', 'b/rules.yar', 'my rules ‘1’.yar'].map((f) => join(here, f)))}) paths.push(await push(f));
  for (const p of paths) {
    const [r] = await ps\`[pscustomobject]@{ text = [IO.File]::ReadAllText(\${p}) }\`;
    emit({ text: r.text });
  }
}
`,
    ),
  });
  assert.is(manifest.steps[0].status, 'ok', manifest.steps[0].reason);
  assert.equal(readJsonl(join(dir, manifest.steps[0].dir, 'records.jsonl')).map((r: any) => r.text), ['rule a {}\n', 'rule b {}\n', 'rule c {}\n']);
});

test('emit checks each record against the step kind; records(), files(), fetch and push work within a run; a .ts module loads', async () => {
  const planted = writeTree({ 'secret dir/notes ‘x’.txt': 'planted on the target\n', 'payload.bin': 'pushed from the responder\n' });
  const { manifest, dir } = await runBook(
    [{ step: 'collector', params: { Paths: [join(planted, 'secret dir', 'notes ‘x’.txt')] } }, { step: 'reader' }],
    {
      ...responderStep(
        'collector',
        `
import { readFileSync } from 'node:fs';
interface FileRec { path: string; size: number; sha256?: string }
export default async function ({ ps, emit, fetch, push, params, out }: any): Promise<void> {
  const local: string[] = await fetch(params.Paths);
  for (const [i, file] of local.entries()) {
    const rec: FileRec = { path: params.Paths[i], size: readFileSync(file).length };
    emit(rec);
  }
  let refused = '';
  try { emit({ size: 'big' }); } catch (e: any) { refused = e.message; }
  const remote: string = await push(${JSON.stringify(join(planted, 'payload.bin'))});
  const [back] = await ps\`[pscustomobject]@{ text = [IO.File]::ReadAllText(\${remote}) }\`;
  emit({ path: remote, size: back.text.length, note: refused });
  (await import('node:fs')).writeFileSync(out + '/made-here.txt', 'written on the responder');
}
`,
        { kind: 'file', file: 'responder.ts', params: 'parameters:\n  - { name: Paths, type: list, required: true }\n' },
      ),
      ...responderStep(
        'reader',
        `
export default async function ({ records, files, emit }) {
  const got = await records('collector');
  const f = await files('collector');
  emit({ text: JSON.stringify({ n: got.length, files: f.map((x) => x.evidencePath.replace(/^.*?\\/(invocations|files)/, '$1')).sort() }) });
  try { await records('nope'); } catch (e) { emit({ text: e.message }); }
}
`,
      ),
    },
  );
  const [collector, reader] = manifest.steps;
  assert.is(collector.status, 'ok', collector.reason);
  const recs = readJsonl(join(dir, collector.dir, 'records.jsonl'));
  assert.is(recs.length, 2);
  assert.is(recs[0].size, 'planted on the target\n'.length);
  assert.match(recs[1].note, /responder step collector \(responder\.ts\): emit: not a valid file record: path:/);
  assert.is(recs[1].size, 'pushed from the responder\n'.length);
  assert.not.ok(existsSync(recs[1].path), 'the pushed file is removed when the step ends');
  const fetched = manifest.files.find((f: any) => /invocations\/001\/files\//.test(f.path));
  assert.ok(fetched, 'the fetched file is evidence');
  assert.is(readFileSync(join(dir, fetched.path), 'utf8'), 'planted on the target\n');
  assert.is(fetched.targetSha256, fetched.sha256);
  assert.ok(manifest.files.some((f: any) => f.path === `${collector.dir}/files/made-here.txt`), 'out/ is hashed into the evidence');
  const pushed = custody(dir).find((e) => e.action === 'invocation-started' && Object.keys(e.tools).length);
  assert.equal(pushed.tools, { 'payload.bin': createHash('sha256').update('pushed from the responder\n').digest('hex') });
  assert.is(reader.status, 'ok', reader.reason);
  const [summary, missing] = readJsonl(join(dir, reader.dir, 'records.jsonl')).map((r) => r.text);
  assert.equal(JSON.parse(summary), { n: 2, files: ['files/made-here.txt', `invocations/001/files/${fetched.path.split('/').at(-1)}`] });
  assert.match(missing, /no step "nope" ran before this one in this run; earlier steps: collector/);
  assert.ok((await verifyEvidence(dir)).ok);
});

test('magpie show prints a responder module and says it runs on the responder; a missing module is a clear error', () => {
  const book = teamPlaybook('t', [{ step: 'chain' }], responderStep('chain', CHAIN, { kind: 'process' }));
  const r = cli(['show', 't', '--playbooks', book, '--os', 'windows']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /runs on the responder/);
  assert.ok(r.stdout.includes(CHAIN.trim()));
  const broken = teamPlaybook('t', [{ step: 'chain' }], { 'steps/chain/step.yaml': 'id: chain\ndescription: x\nkind: text\nos: [linux]\ntimeout: 5\nresponder: gone.mjs\n' });
  const v = cli(['validate', '--playbooks', broken]);
  assert.is(v.code, 2);
  assert.match(v.stderr, /step\.yaml.*names the responder module gone\.mjs, which is not beside it/);
});

test.run();
