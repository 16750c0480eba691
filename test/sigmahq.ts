// SigmaHQ's regression suite (test/fixtures/sigmahq, vendored with its licence): each sample .evtx
// imported with `magpie import evtx`, triaged with the vendored SigmaHQ rules, must give a
// finding of the rule its info.yml names. Shared by the test (a representative part) and
// scripts/sigmahq-regression.ts (all of it).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { importFiles } from '../lib/importers/import.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import type { CompiledRule } from '../lib/triage/rules.ts';
import { FIXTURES } from './helpers.ts';

export const SIGMAHQ = join(FIXTURES, 'sigmahq');

export interface Sample {
  info: string;
  ruleId: string;
  title: string;
  evtx: string[];
  matchCount?: number;
}

export function samples(): Sample[] {
  const out: Sample[] = [];
  const dir = join(SIGMAHQ, 'regression_data');
  for (const f of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    if (!f.endsWith('info.yml')) continue;
    const info = parse(readFileSync(join(dir, f), 'utf8'));
    const tests = (info.regression_tests_info ?? []).filter((t: any) => t.type === 'evtx');
    // Samples of other types (a Cisco log) are not Windows event logs.
    if (!tests.length) continue;
    out.push({
      info: join(dir, f),
      ruleId: info.rule_metadata[0].id,
      title: info.rule_metadata[0].title,
      evtx: tests.map((t: any) => join(SIGMAHQ, t.path)),
      ...(tests[0]?.match_count ? { matchCount: tests[0].match_count } : {}),
    });
  }
  return out;
}

export interface SampleResult {
  sample: Sample;
  events: number;
  fired: number;
  error?: string;
}

/** One sample through the whole path: import evtx → evidence folder → triage with `rules`. */
export async function runSample(s: Sample, rules: CompiledRule[], out: string): Promise<SampleResult> {
  try {
    const imported = await importFiles('evtx', s.evtx, { host: 'sigmahq', caseId: 'regression', out });
    const r = await triageFolder(imported.dir, { rules });
    return { sample: s, events: imported.records, fired: r.findings.filter((f) => f.rule.id === s.ruleId).length };
  } catch (e) {
    return { sample: s, events: 0, fired: 0, error: (e as Error).message };
  }
}

/** As SigmaHQ's runner judges it: fewer matches than match_count (default 1) fail; more only warn there. */
export const passed = (r: SampleResult) => !r.error && r.fired >= (r.sample.matchCount ?? 1);

export const sampleName = (s: Sample) => relative(join(SIGMAHQ, 'regression_data'), s.info).replace(/\/info\.yml$/, '');
