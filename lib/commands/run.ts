// `magpie run`: a playbook on the targets, with progress, Ctrl-C handling and a summary.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadCatalog } from '../catalog.ts';
import { collect } from '../collect.ts';
import { InputError } from '../errors.ts';
import { buildPlan, parseParamArgs } from '../plan.ts';
import { JsonReporter, PlainReporter, useColor, type Reporter } from '../progress.ts';
import { safeLine } from '../text.ts';
import { parse, USAGE, type Io } from './args.ts';

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

/** Fails before anything runs when --out (or the folder it would be made in) cannot be written. */
function checkWritable(out: string): void {
  let dir = resolve(out);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`the evidence folder cannot be written here: ${dir} is not writable${code === 'EROFS' ? ' (a read-only file system)' : ''}; choose another --out`, { file: out });
  }
}

export async function cmdRun(args: string[], io: Io): Promise<number> {
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

  checkWritable(values.out as string);
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
      ? new (await import('../progress-tree.ts')).TreeReporter(plan, targets)
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
    // 130 (128 + SIGINT) as shells and npx report an interrupted command.
    if (controller.signal.aborted) return 130;
    return failed.length ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

