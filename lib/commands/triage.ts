// `magpie triage DIR...`: findings, timeline and report for each host folder, and a summary.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type Io } from './args.ts';
import { InputError } from '../errors.ts';
import { safeLine } from '../text.ts';
import { levelRank } from '../triage/engine.ts';
import { Intel, iocFileWarning, loadIocFile } from '../triage/intel.ts';
import { runTriage } from '../triage/output.ts';
import { loadRuleSet } from '../triage/rules.ts';
import { skipKind, type SigmaLoad } from '../sigma/load.ts';
import type { VtOptions } from '../triage/virustotal.ts';

/** Host run folders (those with a manifest.json) at or below each argument, three levels deep at most. */
export function findRunFolders(dir: string, depth = 3): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError('not a folder', { file: dir });
  if (existsSync(join(dir, 'manifest.json'))) return [dir];
  if (depth === 0) return [];
  return readdirSync(dir)
    .sort()
    .filter((n) => n !== 'triage')
    .flatMap((n) => (statSync(join(dir, n)).isDirectory() ? findRunFolders(join(dir, n), depth - 1) : []));
}

export async function cmdTriage(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    rules: { type: 'string', multiple: true, default: [] },
    'no-builtin-rules': { type: 'boolean', default: false },
    ioc: { type: 'string', multiple: true, default: [] },
    'strict-ioc': { type: 'boolean', default: false },
    vt: { type: 'boolean', default: false },
    offline: { type: 'boolean', default: false },
    'vt-rate': { type: 'string', default: '4' },
    'vt-cache': { type: 'string' },
  });
  if (positionals.length === 0) throw new InputError('triage takes one or more evidence folders (a host run, a host or a case folder)');
  const { rules, sigma } = loadRuleSet(values.rules as string[], !values['no-builtin-rules']);
  reportSigma(sigma, io);
  const intel = new Intel();
  // A bad line is skipped with one warning per file (--strict-ioc: the first one stops triage);
  // a file that gives nothing is said so, and still listed in triage.json.
  const iocFiles = values.ioc as string[];
  for (const f of iocFiles) {
    const warning = iocFileWarning(loadIocFile(intel, f, { strict: values['strict-ioc'] as boolean }));
    if (warning) io.err.write(`magpie: warning: ${safeLine(warning, 1000)}\n`);
  }
  let vt: VtOptions | undefined;
  if (values.vt || values.offline) {
    const perMinute = Number(values['vt-rate']);
    if (!Number.isFinite(perMinute) || perMinute <= 0) throw new InputError(`--vt-rate must be a positive number of requests a minute, not "${values['vt-rate']}"`);
    if (!values.offline && !process.env.VT_API_KEY) throw new InputError('--vt needs the VirusTotal API key in VT_API_KEY (or --offline to use only cached answers)');
    vt = {
      apiKey: process.env.VT_API_KEY,
      baseUrl: process.env.MAGPIE_VT_URL,
      cacheDir: values['vt-cache'] as string | undefined,
      perMinute,
      offline: values.offline as boolean,
      onProgress: (done, total, hash, cached) => io.err.write(`virustotal ${done}/${total} ${hash}${cached ? ' (cache)' : ''}\n`),
    };
  }
  const folders = positionals.flatMap((p) => findRunFolders(p));
  if (!folders.length) throw new InputError(`no evidence folder (with a manifest.json) under ${positionals.join(', ')}`);
  const summaries = [];
  for (const dir of folders) {
    const run = await runTriage(dir, { rules, intel: iocFiles.length ? intel : undefined, vt });
    const f = run.result.findings;
    const byLevel: Record<string, number> = {};
    for (const x of f) byLevel[x.rule.level] = (byLevel[x.rule.level] ?? 0) + 1;
    summaries.push({ dir, out: run.outDir, host: run.result.host, findings: f.length, byLevel, problems: run.result.problems.length });
    if (values.json) continue;
    io.out.write(`\n${safeLine(run.result.host, 80)} — ${f.length} findings (${['critical', 'high', 'medium', 'low', 'informational'].filter((l) => byLevel[l]).map((l) => `${byLevel[l]} ${l}`).join(', ') || 'none'})\n`);
    for (const x of f.filter((x) => levelRank(x.rule.level) >= 2).slice(0, 15)) {
      const what = x.record.name ?? x.record.entry ?? x.record.threatName ?? x.record.remoteAddress ?? x.record.query ?? (x.record.dst !== undefined ? `${x.record.dst}:${x.record.dstPort}` : '');
      io.out.write(`  ${x.rule.level.toUpperCase().padEnd(8)} ${safeLine(x.rule.title, 100)} — ${safeLine(String(what), 60)} (${safeLine(x.location.file)}:${x.location.line})\n`);
    }
    if (f.length > 15) io.out.write(`  … ${f.length - 15} more in the report\n`);
    if (run.result.problems.length) io.out.write(`  ${run.result.problems.length} records could not be read (listed in findings.json)\n`);
    io.out.write(`  report: ${safeLine(join(run.outDir, 'report.html'))}\n  findings: ${safeLine(join(run.outDir, 'findings.json'))}\n  timeline: ${safeLine(join(run.outDir, 'timeline.jsonl'))}\n`);
  }
  if (values.json) io.out.write(JSON.stringify({ hosts: summaries }) + '\n');
  return 0;
}

/** One line per Sigma rule that was skipped or failed, then the count by reason. */
function reportSigma(sigma: SigmaLoad, io: Io): void {
  const read = sigma.rules.length + sigma.skipped.length + sigma.failed.length;
  if (!read) return;
  for (const s of sigma.skipped) io.err.write(`magpie: sigma: skipped ${safeLine(s.rule, 200)} (${safeLine(s.file, 300)}): ${safeLine(s.reason, 500)}\n`);
  for (const f of sigma.failed) io.err.write(`magpie: sigma: failed ${safeLine(f.file, 300)}: ${safeLine(f.error, 500)}\n`);
  const by = new Map<string, number>();
  for (const s of sigma.skipped) by.set(skipKind(s.reason), (by.get(skipKind(s.reason)) ?? 0) + 1);
  const reasons = [...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(', ');
  // Loaded, but not run on a record kind that lacks a field they name (they still run on events).
  const partial = sigma.rules.filter((r) => r.sigma?.notMapped?.length).length;
  io.err.write(
    `magpie: sigma: ${read} rules read: ${sigma.rules.length} loaded, ${sigma.skipped.length} skipped${reasons ? ` (${reasons})` : ''}, ${sigma.failed.length} failed` +
      (partial ? `; ${partial} loaded rules are not run on some record kinds whose fields they name are not collected` : '') +
      '\n',
  );
}
