// YARA over files this run already fetched: a team step whose tool runs on the responder, not on
// the target. The rules are kept in the evidence beside the detections they produced.
import { copyFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export default async function yaraScan({ $, files, records, emit, out, params, log }) {
  if (!existsSync(params.Rules) || !statSync(params.Rules).isFile()) throw new Error(`no YARA rules file at ${params.Rules}: pass --param yara-scan.Rules=FILE (a .yar source file)`);
  const version = await $`${params.Yara} --version`.nothrow();
  if (version.exitCode !== 0) throw new Error(`${params.Yara} does not run here (${version.stderr.trim() || `exit ${version.exitCode}`}): install Debian's yara package (apt-get install yara) or pass --param yara-scan.Yara=PATH`);
  log(`yara ${version.stdout.trim()}`);
  copyFileSync(params.Rules, join(out, 'rules.yar'));

  // Where each copy came from on the target: the file records of the step that fetched it.
  const targets = new Map();
  const scanned = [];
  for (const stepId of params.From) {
    for (const r of await records(stepId)) if (r.copy) targets.set(r.copy, r.path);
    for (const f of await files(stepId)) scanned.push(f);
  }
  if (!scanned.length) {
    log(`no files to scan: ${params.From.join(', ')} brought none back`);
    return;
  }
  const list = join(out, 'scanned.txt');
  writeFileSync(list, scanned.map((f) => f.path).join('\n') + '\n');
  // Exit 1 with output is a warning, not a failure; no match prints nothing.
  const result = await $`${params.Yara} --no-warnings --no-follow-symlinks --scan-list ${join(out, 'rules.yar')} ${list}`.nothrow();
  if (result.exitCode !== 0) throw new Error(`yara failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  const byPath = new Map(scanned.map((f) => [f.path, f]));
  let n = 0;
  for (const line of result.stdout.split('\n')) {
    const m = /^(\S+) (.+)$/.exec(line.trim());
    if (!m) continue;
    const file = byPath.get(m[2]);
    if (!file) continue;
    const copy = file.evidencePath.replace(/^steps\/[^/]+\//, '');
    emit({
      type: 'threat',
      source: 'yara',
      threatName: m[1],
      category: 'yara',
      resources: [targets.get(copy) ?? file.evidencePath],
      file: file.evidencePath,
      sha256: file.sha256,
    });
    n++;
  }
  log(`${scanned.length} files scanned, ${n} matches`);
}
