// Shared test plumbing: temp folders, the real CLI as a child process, and a clear failure
// when PowerShell is missing (tests never skip).
import type { RuleEntry, RuleIndex } from '../lib/triage/rule-index.ts';
import type { RecordKind } from '../lib/definitions.ts';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPwsh, INSTALL_HINT } from '../lib/pwsh.ts';
import { loadCatalog } from '../lib/catalog.ts';
import { collect } from '../lib/collect.ts';
import { buildPlan, parseParamArgs, type Plan } from '../lib/plan.ts';
import { composeScript, invocationLine, parseSummary, RECORD_DEPTH, type StepSummary } from '../lib/script.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export function pwshOrFail(): string {
  const p = findPwsh();
  if (!p) throw new Error(`These tests need real PowerShell. ${INSTALL_HINT}`);
  return p;
}

export function tempDir(prefix = 'magpie-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes files given as { 'relative/path': content } under a new temp folder. */
export function writeTree(files: Record<string, string>, root = tempDir()): string {
  for (const [rel, content] of Object.entries(files)) {
    const file = join(root, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return root;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (node bin/magpie.js) synchronously. */
export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'magpie.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI without waiting, for signals and concurrent checks. */
export function cliSpawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'magpie.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** The one host folder of a case folder (`runs/` holds run summaries, not hosts). */
export function hostOf(caseDir: string): string {
  const hosts = readdirSync(caseDir).filter((n) => n !== 'runs');
  if (hosts.length !== 1) throw new Error(`expected one host folder in ${caseDir}, found: ${hosts.join(', ')}`);
  return hosts[0];
}

export function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8'));
}

export function readJsonl<T = any>(file: string): T[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

export async function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A team playbook folder holding one playbook made of inline steps. */
export function teamPlaybook(name: string, steps: unknown[], extra: Record<string, string> = {}): string {
  const yaml = JSON.stringify({ name, description: `test playbook ${name}`, steps }, null, 2);
  return writeTree({ [`${name}.yaml`]: yaml, ...extra });
}

/** Runs the triage playbook's Windows scripts against one recorded host; returns its evidence folder. */
export async function collectRecordedWindowsHost(name: string, out = tempDir()): Promise<string> {
  const startup = join(tempDir(), 'startup.ps1');
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(startup, `$global:MagpieFixtureDir = ${q(join(FIXTURES, 'windows', name))}\n. ${q(join(FIXTURES, 'windows', 'fakes.ps1'))}\n`);
  const plan = buildPlan(loadCatalog(), 'triage');
  const [r] = await collect({ plan, targets: ['localhost'], transport: 'local', out, caseId: 'win', concurrency: 1, local: { startupScript: startup, osOverride: 'windows' } });
  if (!r.dir || r.state !== 'complete') throw new Error(`recorded host ${name} was not collected: ${r.error}`);
  return r.dir;
}


export interface WindowsStepRun {
  summary: StepSummary;
  records: any[];
  stderrLog: string;
  stage: string;
}

/**
 * Runs one catalog step's windows.ps1 (prelude + step, composed as for a host) under real pwsh,
 * the Windows-only commands answered by `fakes` (dot-sourced in order, after `$global:` values
 * from `globals` are set, `MagpieFixtureDir` first), and checks every record against `schema`.
 */
export function runWindowsStep(
  stepId: string,
  o: { fixtureDir: string; fakes: string[]; params?: Record<string, string>; globals?: Record<string, string>; schema: { safeParse(v: unknown): { success: boolean } }; admin?: boolean },
): WindowsStepRun {
  const pwsh = pwshOrFail();
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const book = teamPlaybook('t', [{ step: stepId }]);
  const plan = buildPlan(loadCatalog([book]), 't', new Map(Object.entries(o.params ?? {}).map(([k, v]) => [`${stepId}.${k}`, v])));
  const step = plan.steps[0];
  const script = composeScript(step, 'windows');
  if (!script) throw new Error(`${stepId} has no Windows script`);
  const dir = tempDir(`magpie-${stepId}-`);
  const stage = join(dir, 'stage');
  mkdirSync(stage);
  const runner = [
    `$global:MagpieFixtureDir = ${q(o.fixtureDir)}`,
    ...Object.entries(o.globals ?? {}).map(([k, v]) => `$global:${k} = ${q(v)}`),
    ...o.fakes.map((f) => `. ${q(f)}`),
    invocationLine(script, { params: step.params, stage, depth: RECORD_DEPTH, target: { user: 'CORP\\responder', admin: o.admin ?? true } }),
  ].join('\n');
  writeFileSync(join(dir, 'run.ps1'), runner);
  const r = spawnSync(pwsh, ['-NoProfile', '-NonInteractive', '-File', join(dir, 'run.ps1')], { encoding: 'utf8', timeout: 180_000 });
  const { summary, rest } = parseSummary(r.stdout ?? '');
  if (!summary) throw new Error(`no summary from ${stepId} (exit ${r.status}):\n${rest}\n${r.stderr}`);
  const file = (n: string) => (existsSync(join(stage, n)) ? readFileSync(join(stage, n), 'utf8') : '');
  const records = file('records.jsonl') ? readJsonl(join(stage, 'records.jsonl')) : [];
  for (const rec of records) if (!o.schema.safeParse(rec).success) throw new Error(`${stepId}: a record does not fit its kind: ${JSON.stringify(rec)}`);
  return { summary, records, stderrLog: file('stderr.log'), stage };
}

/** A plan of `steps` from the catalog, with the tools of `stepId` pinned to `pin` (a stand-in's own hash) unless `pin` is null. */
export function planWithPin(steps: unknown[], params: string[], stepId: string, pin: string | null): Plan {
  const book = join(tempDir('magpie-book-'), 't.yaml');
  writeFileSync(book, JSON.stringify({ name: 't', description: stepId, steps }));
  const built = buildPlan(loadCatalog([join(book, '..')]), 't', parseParamArgs(params));
  for (const s of built.steps) if (pin && s.stepId === stepId) s.tools = s.tools.map((t) => ({ ...t, sha256: pin }));
  return built;
}

/** What the rules an index offers find in `records` of `kind`: `label(rule, record)` per match. */
export function ruleHits(index: RuleIndex, kind: RecordKind, records: Record<string, unknown>[], label: (e: RuleEntry, r: Record<string, unknown>) => string): string[] {
  const out: string[] = [];
  for (const r of records) index.forEach(kind, r, (e) => {
    if (e.match(r)) out.push(label(e, r));
  });
  return out;
}
