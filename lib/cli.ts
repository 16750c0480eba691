// The `magpie` command: parses arguments, calls the library, maps outcomes to exit codes
// 0 (all ok), 1 (some step or host failed), 2 (bad usage or invalid input).
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadCatalog } from './catalog.ts';
import { collect } from './collect.ts';
import { OS_NAMES, type OsName } from './definitions.ts';
import { InputError, isInputError } from './errors.ts';
import { verifyEvidence } from './evidence/verify.ts';
import { buildPlan, parseParamArgs } from './plan.ts';
import { JsonReporter, PlainReporter, useColor, type Reporter } from './progress.ts';
import { composeScript } from './script.ts';
import { checkScripts } from './script-check.ts';
import { safeLine } from './text.ts';
import { TOOL_VERSION } from './version.ts';
import { PwshMissingError } from './pwsh.ts';

export const USAGE = `magpie ${TOOL_VERSION} — incident-response playbooks through PowerShell

Usage:
  magpie run PLAYBOOK [--target HOST]... [--targets FILE] [--transport local]
                      [--case ID] [--out DIR] [--concurrency N] [--param k=v]...
                      [--playbooks DIR]... [--tools DIR] [--operator NAME] [--dry-run] [--json]
  magpie list     [--playbooks DIR]... [--json]
  magpie show     PLAYBOOK [--os windows|linux] [--param k=v]... [--playbooks DIR]...
  magpie validate [--playbooks DIR]...
  magpie verify   DIR... [--json]
  magpie pack     DIR [--out FILE.zip] [--json]
  magpie triage   DIR... [--rules DIR]... [--ioc FILE]... [--vt] [--offline]
                  [--vt-rate N] [--vt-cache DIR] [--json]
  magpie import   KIND FILE... --host NAME [--case ID] [--out DIR]
                  (KIND: autoruns, netstat, tasklist, processes-csv, defender)

Exit codes: 0 all ok, 1 some step or host failed, 2 bad usage or invalid input.
Parameters: --param Name=value for a playbook parameter, --param step.Name=value for one step's.`;

const COMMON = {
  playbooks: { type: 'string', multiple: true, default: [] as string[] },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new InputError(`${(e as Error).message}\n\n${USAGE}`);
  }
}

export async function main(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await cmdRun(rest, io);
      case 'list':
        return cmdList(rest, io);
      case 'show':
        return cmdShow(rest, io);
      case 'validate':
        return await cmdValidate(rest, io);
      case 'verify':
        return await cmdVerify(rest, io);
      case 'pack':
        return await cmdPack(rest, io);
      case 'triage':
        return await (await import('./triage/command.ts')).cmdTriage(rest, io, parse);
      case 'import':
        return await (await import('./importers/command.ts')).cmdImport(rest, io, parse);
      case '--version':
      case 'version':
        io.out.write(`${TOOL_VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out.write(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new InputError(`unknown command "${safeLine(command, 40)}"\n\n${USAGE}`);
    }
  } catch (e) {
    if (isInputError(e)) {
      io.err.write(`magpie: ${e.toString().replace(/^InputErrors?: /, '')}\n`);
      return 2;
    }
    if (e instanceof PwshMissingError) {
      io.err.write(`magpie: ${e.message}\n`);
      return 2;
    }
    io.err.write(`magpie: ${safeLine((e as Error).stack ?? String(e), 4000)}\n`);
    return 1;
  }
}

function readTargets(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read the targets file: ${(e as Error).message}`, { file });
  }
  const targets: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    if (!/^[A-Za-z0-9._:\-\[\]%@]+$/.test(line)) throw new InputError(`"${safeLine(line, 80)}" is not a host name or address`, { file, line: i + 1 });
    targets.push(line);
  });
  return targets;
}

async function cmdRun(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    target: { type: 'string', multiple: true, default: [] },
    targets: { type: 'string' },
    transport: { type: 'string', default: 'local' },
    case: { type: 'string', default: 'adhoc' },
    out: { type: 'string', default: 'evidence' },
    concurrency: { type: 'string', default: '8' },
    param: { type: 'string', multiple: true, default: [] },
    operator: { type: 'string' },
    tools: { type: 'string', default: 'tools' },
    'dry-run': { type: 'boolean', default: false },
  });
  if (values.help) return io.out.write(USAGE + '\n'), 0;
  if (positionals.length !== 1) throw new InputError(`run takes one playbook name, got ${positionals.length}\n\n${USAGE}`);
  const transport = values.transport as string;
  if (!['local', 'ssh', 'winrm'].includes(transport)) throw new InputError(`--transport must be local, ssh or winrm, not "${safeLine(transport, 40)}"`);
  if (transport !== 'local') throw new InputError(`--transport ${transport} is not available in this version; use --transport local`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError(`--concurrency must be a whole number of 1 or more, not "${values.concurrency}"`);
  const targets = [...(values.target as string[]), ...(values.targets ? readTargets(values.targets as string) : [])];
  if (targets.length === 0) targets.push('localhost');
  if (transport === 'local' && targets.some((t) => t !== 'localhost')) throw new InputError('--transport local collects from this machine only; leave out --target or use --target localhost');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.case as string)) throw new InputError('--case must be 1-64 letters, digits, dots, dashes or underscores (it names a folder)');

  const catalog = loadCatalog(values.playbooks as string[]);
  const plan = buildPlan(catalog, positionals[0], parseParamArgs(values.param as string[]));

  if (values['dry-run']) {
    const lines = plan.steps.map((s) => `${String(s.index).padStart(2, '0')} ${s.id}  timeout ${s.timeoutSec}s  params ${JSON.stringify(s.params)}  os ${Object.keys(s.scripts).join(',')}`);
    io.out.write(`playbook ${plan.playbook.name} (sha256 ${plan.playbook.sha256})\ntargets: ${targets.join(', ')}\n${lines.join('\n')}\n(dry run: nothing was run; \`magpie show ${plan.playbook.name}\` prints the scripts)\n`);
    return 0;
  }

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      io.err.write('\nmagpie: interrupted — stopping the current step and sealing what was collected (Ctrl-C again to quit at once)\n');
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const reporter: Reporter = values.json
    ? new JsonReporter(io.out)
    : io.err.isTTY && useColor(io.err as NodeJS.WriteStream)
      ? new (await import('./progress-tree.ts')).TreeReporter(plan, targets)
      : new PlainReporter(io.err);
  try {
    const results = await collect({
      plan,
      targets,
      transport: transport as 'local',
      out: values.out as string,
      caseId: values.case as string,
      concurrency,
      operator: values.operator as string | undefined,
      toolsDir: values.tools as string,
      signal: controller.signal,
      onEvent: (e) => reporter.onEvent(e),
    });
    await reporter.done();
    const failed = results.filter((r) => r.state !== 'complete' || r.failedSteps > 0);
    if (values.json) {
      io.out.write(JSON.stringify({ type: 'summary', hosts: results }) + '\n');
    } else {
      for (const r of results) {
        io.out.write(`${safeLine(r.target, 80)}: ${r.state}${r.failedSteps ? `, ${r.failedSteps} step(s) failed` : ''}${r.error ? ` — ${safeLine(r.error)}` : ''}\n  evidence: ${r.dir ? safeLine(r.dir) : 'none'}\n`);
        if (r.dir) io.out.write(`  next: magpie triage ${safeLine(r.dir)}   (magpie verify / magpie pack for hand-over)\n`);
      }
    }
    return failed.length ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

function cmdList(args: string[], io: Io): number {
  const { values } = parse(args, {});
  const catalog = loadCatalog(values.playbooks as string[]);
  const books = [...catalog.playbooks.values()].sort((a, b) => a.def.name.localeCompare(b.def.name));
  const steps = [...catalog.steps.values()].sort((a, b) => a.def.id.localeCompare(b.def.id));
  if (values.json) {
    io.out.write(JSON.stringify({ playbooks: books.map((b) => ({ name: b.def.name, description: b.def.description, file: b.file, steps: b.def.steps.map((s) => s.id ?? s.step) })), steps: steps.map((s) => ({ id: s.def.id, kind: s.def.kind, os: s.def.os, description: s.def.description, file: s.file })) }) + '\n');
    return 0;
  }
  io.out.write('Playbooks:\n');
  for (const b of books) io.out.write(`  ${b.def.name.padEnd(16)} ${b.def.steps.map((s) => s.id ?? s.step).join(' → ')}\n  ${''.padEnd(16)} ${b.def.description.trim().split('\n')[0]}\n`);
  io.out.write('Steps:\n');
  for (const s of steps) io.out.write(`  ${s.def.id.padEnd(16)} ${s.def.kind.padEnd(11)} ${s.def.os.join(',').padEnd(14)} ${s.def.description.trim().split(/(?<=\.)\s/)[0]}\n`);
  return 0;
}

function cmdShow(args: string[], io: Io): number {
  const { values, positionals } = parse(args, { os: { type: 'string' }, param: { type: 'string', multiple: true, default: [] } });
  if (positionals.length !== 1) throw new InputError(`show takes one playbook name\n\n${USAGE}`);
  const os = values.os as string | undefined;
  if (os !== undefined && !OS_NAMES.includes(os as OsName)) throw new InputError(`--os must be one of ${OS_NAMES.join(', ')}`);
  const plan = buildPlan(loadCatalog(values.playbooks as string[]), positionals[0], parseParamArgs(values.param as string[]));
  const oses = os ? [os as OsName] : [...OS_NAMES];
  io.out.write(`# playbook ${plan.playbook.name} — ${plan.playbook.file} (sha256 ${plan.playbook.sha256})\n`);
  io.out.write(`# Each script below runs as one invocation; its -MagpieContext is base64 JSON of {params, stage, depth, target}.\n`);
  for (const step of plan.steps) {
    for (const o of oses) {
      const script = composeScript(step, o);
      io.out.write(`\n# ======== step ${step.index} ${step.id} on ${o} — timeout ${step.timeoutSec}s — params ${JSON.stringify(step.params)}\n`);
      io.out.write(script ?? `# (no ${o} script: the step is skipped on ${o})\n`);
    }
  }
  return 0;
}

async function cmdValidate(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, {});
  const catalog = loadCatalog(values.playbooks as string[]);
  const problems = await checkScripts([...catalog.steps.values()].flatMap((s) => Object.values(s.scripts).map((x) => x!.file)));
  for (const book of catalog.playbooks.values()) buildPlan(catalog, book.def.name);
  if (problems.length) {
    for (const p of problems) io.err.write(`magpie: ${p}\n`);
    return 2;
  }
  io.out.write(`ok: ${catalog.playbooks.size} playbooks, ${catalog.steps.size} steps, every script parses and keeps to Windows PowerShell 5.1\n`);
  return 0;
}

async function cmdPack(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' } });
  if (positionals.length !== 1) throw new InputError(`pack takes one evidence folder\n\n${USAGE}`);
  const { packEvidence } = await import('./evidence/pack.ts');
  const r = await packEvidence(positionals[0], values.out as string | undefined);
  if (values.json) io.out.write(JSON.stringify(r) + '\n');
  else io.out.write(`packed ${r.files} files into ${safeLine(r.zip)} (${r.size} bytes)\n  sha256 ${r.sha256} (also in ${safeLine(r.zip)}.sha256)\n`);
  return 0;
}

async function cmdVerify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (positionals.length === 0) throw new InputError(`verify takes one or more evidence folders\n\n${USAGE}`);
  let bad = 0;
  for (const dir of positionals) {
    const ora = !values.json && io.err.isTTY ? (await import('ora')).default : undefined;
    const spinner = ora ? ora({ text: `verifying ${dir}`, stream: io.err as NodeJS.WriteStream }).start() : undefined;
    const report = await verifyEvidence(dir, (done, total) => spinner && (spinner.text = `verifying ${dir} ${done}/${total}`));
    spinner?.stop();
    if (!report.ok) bad++;
    if (values.json) {
      io.out.write(JSON.stringify(report) + '\n');
      continue;
    }
    io.out.write(`${report.ok ? 'OK' : 'FAILED'} ${safeLine(dir)}: ${report.checked} files checked\n`);
    for (const f of report.changed) io.out.write(`  changed: ${safeLine(f)}\n`);
    for (const f of report.missing) io.out.write(`  missing: ${safeLine(f)}\n`);
    for (const f of report.added) io.out.write(`  added:   ${safeLine(f)}\n`);
    for (const p of report.problems) io.out.write(`  problem: ${safeLine(p)}\n`);
    for (const n of report.notes) io.out.write(`  note:    ${safeLine(n)}\n`);
  }
  return bad ? 1 : 0;
}
