// `magpie list`, `show` and `validate`: what the playbooks and steps are, and what will run.
import { relative } from 'node:path';
import { loadCatalog } from '../catalog.ts';
import { OS_NAMES, type OsName } from '../definitions.ts';
import { InputError } from '../errors.ts';
import { buildPlan, parseParamArgs } from '../plan.ts';
import { composeScript } from '../script.ts';
import { checkScripts } from '../script-check.ts';
import { parse, USAGE, type Io } from './args.ts';

export function cmdList(args: string[], io: Io): number {
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

export function cmdShow(args: string[], io: Io): number {
  const { values, positionals } = parse(args, { os: { type: 'string' }, param: { type: 'string', multiple: true, default: [] } });
  if (positionals.length !== 1) throw new InputError(`show takes one playbook name\n\n${USAGE}`);
  const os = values.os as string | undefined;
  if (os !== undefined && !OS_NAMES.includes(os as OsName)) throw new InputError(`--os must be one of ${OS_NAMES.join(', ')}`);
  const plan = buildPlan(loadCatalog(values.playbooks as string[]), positionals[0], parseParamArgs(values.param as string[]));
  const oses = os ? [os as OsName] : [...OS_NAMES];
  io.out.write(`# playbook ${plan.playbook.name} — ${plan.playbook.file} (sha256 ${plan.playbook.sha256})\n`);
  io.out.write(`# Each script below runs as one invocation; its -MagpieContext is base64 JSON of {params, stage, depth, target}.\n`);
  for (const step of plan.steps) {
    if (step.responder) {
      // Its PowerShell is composed call by call from the module's ps`…` templates, so the module is what to read.
      const supported = step.responder.os.filter((o) => oses.includes(o));
      io.out.write(`\n# ======== step ${step.index} ${step.id} — runs on the responder: zx module ${relative(process.cwd(), step.responder.file)} (for ${supported.join(', ') || `no OS of ${oses.join(', ')}: skipped there`}) — timeout ${step.timeoutSec}s — params ${JSON.stringify(step.params)}\n`);
      io.out.write(`# Each ps\`…\` call below runs on the target as the prelude + its text, every \${value} passed as a parameter ($MagpieArgN), never spliced in; each is kept in the evidence (invocations/NNN).\n`);
      io.out.write(step.responder.source.endsWith('\n') ? step.responder.source : step.responder.source + '\n');
      continue;
    }
    for (const o of oses) {
      const script = composeScript(step, o);
      io.out.write(`\n# ======== step ${step.index} ${step.id} on ${o} — timeout ${step.timeoutSec}s — params ${JSON.stringify(step.params)}\n`);
      io.out.write(script ?? `# (no ${o} script: the step is skipped on ${o})\n`);
    }
  }
  return 0;
}

export async function cmdValidate(args: string[], io: Io): Promise<number> {
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

