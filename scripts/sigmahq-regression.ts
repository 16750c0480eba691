// SigmaHQ's whole regression suite (test/fixtures/sigmahq/regression_data: every .evtx sample
// with the rule its info.yml names) through `magpie import evtx` and triage with the vendored
// SigmaHQ rules. Prints each failure and the pass rate; exits 1 when any sample fails.
// `npm run test:sigmahq`; npm test runs a representative part (test/sigma-rules.test.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet } from '../lib/triage/rules.ts';
import { passed, runSample, sampleName, samples, SIGMAHQ } from '../test/sigmahq.ts';

const dirs = ['rules', 'rules-emerging-threats', 'rules-threat-hunting'].map((d) => join(SIGMAHQ, d)).filter((d) => existsSync(d));
const { rules, sigma } = loadRuleSet(dirs, false);
const out = mkdtempSync(join(tmpdir(), 'magpie-sigmahq-'));
const started = Date.now();
const all = samples();
let ok = 0;
let events = 0;
const more: string[] = [];
for (const s of all) {
  const r = await runSample(s, rules, out);
  events += r.events;
  if (passed(r)) {
    ok++;
    // SigmaHQ's runner warns, not fails, when a sample matches more often than its match_count.
    if (s.matchCount && r.fired > s.matchCount) more.push(`${sampleName(s)}: ${r.fired} findings, match_count ${s.matchCount}`);
  } else console.log(`FAIL ${sampleName(s)}: ${r.events} events, ${r.fired} findings of ${s.ruleId} (${s.title})${r.error ? `: ${r.error}` : ''}`);
}
rmSync(out, { recursive: true, force: true });
for (const m of more) console.log(`note ${m}`);
console.log(`rules: ${rules.length} loaded, ${sigma.skipped.length} skipped, ${sigma.failed.length} failed`);
console.log(`SigmaHQ regression: ${ok}/${all.length} samples passed (${((100 * ok) / all.length).toFixed(1)} %), ${events} events, ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(ok === all.length ? 0 : 1);
