// Runs triage on one evidence folder and writes its outputs into triage/<stamp>/ inside it:
// findings.json, timeline.jsonl (Timesketch), report.html, triage.json (provenance) and their
// own SHA256SUMS. Collected files are never touched; each triage run gets a new folder.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { JsonlFile } from '../records/jsonl-file.ts';
import { basename, join } from 'node:path';
import { appendToCustody } from '../evidence/custody.ts';
import { custodyActor } from '../identity.ts';
import { sha256File } from '../evidence/hash.ts';
import { timestampName } from '../evidence/names.ts';
import { claimStampedDir } from '../evidence/claim-dir.ts';
import { formatSums } from '../evidence/sums.ts';
import { TOOL_VERSION } from '../version.ts';
import { sortFindings, triageFolder, type TriageResult } from './engine.ts';
import type { RecordRef } from '../records/reader.ts';
import { lookupHashes, type VtOptions } from './virustotal.ts';
import type { Intel } from './intel.ts';
import { renderReport } from './report.ts';
import type { CompiledRule } from './rules.ts';

export interface TriageRun {
  result: TriageResult;
  outDir: string;
  files: string[];
}

export interface TriageRunOptions {
  rules: CompiledRule[];
  intel?: Intel;
  vt?: VtOptions;
}

/** Files below `abs`, as `prefix/…` paths, sorted (the records read from captures). */
function filesUnder(abs: string, prefix: string): string[] {
  if (!existsSync(abs)) return [];
  // Walked by hand: Dirent.parentPath needs Node 20.12, and Magpie runs on every Node 20.
  const out: string[] = [];
  for (const e of readdirSync(abs, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...filesUnder(join(abs, e.name), `${prefix}/${e.name}`));
    else if (e.isFile()) out.push(`${prefix}/${e.name}`);
  }
  return out.sort();
}

export async function runTriage(evidenceDir: string, opts: TriageRunOptions): Promise<TriageRun> {
  const { rules, intel } = opts;
  const outDir = claimStampedDir(join(evidenceDir, 'triage'), timestampName(new Date()));
  const generated = new Date().toISOString();
  const timeline = new JsonlFile(join(outDir, 'timeline.jsonl'));
  const hashes = new Map<string, RecordRef>();
  const traffic = { abs: join(outDir, 'traffic'), rel: `triage/${basename(outDir)}/traffic` };
  const result = await triageFolder(evidenceDir, {
    rules,
    intel,
    derivedDir: traffic,
    onHash: opts.vt ? (h, ref) => void (hashes.has(h) || hashes.set(h, ref)) : undefined,
    onTimeline: (e) => {
      // Timesketch's JSONL import: message, datetime, timestamp_desc, plus any fields.
      timeline.write({ ...e, data_type: `magpie:${e.kind}` });
    },
  });
  timeline.close();
  let vtSummary: Record<string, unknown> | undefined;
  if (opts.vt) {
    const verdicts = await lookupHashes([...hashes.keys()], opts.vt);
    vtSummary = { looked: hashes.size, answered: verdicts.size, offline: Boolean(opts.vt.offline) };
    for (const [hash, v] of verdicts) {
      if (!v.found || v.malicious + v.suspicious === 0) continue;
      const ref = hashes.get(hash)!;
      result.findings.push({
        id: '',
        host: result.host,
        rule: {
          id: 'virustotal-detection',
          title: `VirusTotal: ${v.malicious} engines call it malicious${v.label ? ` (${v.label})` : ''}`,
          level: v.malicious >= 5 ? 'critical' : v.malicious >= 1 ? 'high' : 'medium',
          tags: ['virustotal'],
          description: `VirusTotal (answer of ${v.date}) reports ${v.malicious} malicious and ${v.suspicious} suspicious verdicts for ${hash}${v.name ? `, known as ${v.name}` : ''}. Collect the file, stop its process after memory is captured, and search other hosts for the hash.`,
          source: 'virustotal',
        },
        kind: ref.kind,
        record: ref.record,
        location: { file: ref.file, line: ref.line },
      });
    }
    sortFindings(result.findings);
  }

  const tool = `magpie ${TOOL_VERSION}`;
  const write = (name: string, text: string) => writeFileSync(join(outDir, name), text, { flag: 'wx' });
  write(
    'findings.json',
    JSON.stringify({ schema: 'magpie.findings/1', host: result.host, case: result.manifest.case, generated, tool, counts: result.counts, problems: result.problems, findings: result.findings }, null, 2) + '\n',
  );
  write('report.html', renderReport(result, { generated, tool, evidenceDir }));
  write(
    'triage.json',
    JSON.stringify(
      {
        generated,
        tool,
        evidenceSums: existsSync(join(evidenceDir, 'SHA256SUMS')) ? (await sha256File(join(evidenceDir, 'SHA256SUMS'))).sha256 : null,
        rules: rules.map((r) => ({ id: r.def.id, level: r.def.level, file: r.file, sha256: r.sha256 })),
        intel: intel?.files ?? [],
        virustotal: vtSummary ?? null,
      },
      null,
      2,
    ) + '\n',
  );
  const files = ['findings.json', 'timeline.jsonl', 'report.html', 'triage.json', ...filesUnder(traffic.abs, 'traffic')];
  const sums = [];
  for (const path of files) sums.push({ path, sha256: (await sha256File(join(outDir, ...path.split('/')))).sha256 });
  write('SHA256SUMS', formatSums(sums));
  // The run is recorded in the folder's custody log: verify accepts only triage folders found there.
  const custody = join(evidenceDir, 'custody.jsonl');
  if (existsSync(custody)) {
    const all = [...sums, { path: 'SHA256SUMS', sha256: (await sha256File(join(outDir, 'SHA256SUMS'))).sha256 }];
    await appendToCustody(custody, custodyActor(), 'triage-written', { dir: `triage/${basename(outDir)}`, tool, rules: rules.length, intel: intel?.files ?? [], files: all });
  }
  return { result, outDir, files };
}
