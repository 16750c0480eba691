// Golden tests: each fixture of a responder's existing tool output → the normalized records it
// must give (test/fixtures/import/expected/*.json; only scripts/update-golden.ts rewrites them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMPORTERS, importFiles } from '../lib/importers/import.ts';
import { RECORD_SCHEMAS } from '../lib/records/schemas.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, readJson, readJsonl, tempDir } from './helpers.ts';
import { IMPORT_CASES, IMPORT_DIR as DIR, importFixture, importGoldenFile } from './fixtures/golden.ts';

for (const [kind, file] of IMPORT_CASES) {
  test(`${kind}: ${file} gives the golden records, each valid for its kind`, () => {
    const result = importFixture(kind, file);
    const golden = importGoldenFile(file);
    assert.ok(existsSync(golden), `no golden file ${golden}: run scripts/update-golden.ts and review what it wrote`);
    assert.equal(JSON.parse(JSON.stringify(result)), readJson(golden));
    for (const r of result.records) {
      const v = RECORD_SCHEMAS[result.kind].safeParse(r);
      assert.ok(v.success, `${file}: ${JSON.stringify(r)}: ${!v.success && v.error.message}`);
    }
  });
}

test('UTF-16 with and without BOM, UTF-8 with and without BOM read alike', () => {
  const a = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-infected-utf16.csv')), 'a');
  const b = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-nobom-utf16.csv')), 'b');
  assert.equal(b.records, a.records.slice(0, b.records.length));
  const c = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-clean-utf8.csv')), 'c');
  const d = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-clean-utf8bom.csv')), 'd');
  assert.equal(c.records.map((r) => r.entry), d.records.map((r) => r.entry));
  assert.ok(c.warnings.some((w) => /without -s/.test(w)) && c.warnings.some((w) => /without -h/.test(w)));
});

test('location-header rows (empty Entry) are not records; signer verdicts become signed', () => {
  const r = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-infected-utf16.csv')), 'x').records;
  assert.ok(r.every((x) => x.entry));
  assert.is(r.find((x) => x.entry === 'SecurityHealth')!.signed, true);
  assert.is(r.find((x) => x.entry === 'svc')!.signed, false);
  assert.is(r.find((x) => x.entry === 'Updater')!.signed, null);
  assert.is(r.find((x) => x.entry === 'WindowsUpdater')!.time, '2025-11-26T04:00:12.000Z');
});

test('netstat: IPv6 zone ids, *:* UDP rows, -b owners and refusals', () => {
  const r = IMPORTERS.netstat.importer(readFileSync(join(DIR, 'netstat-anob.txt')), 'x').records;
  assert.equal(r.map((x) => x.processName), ['svchost.exe', null, 'winupdate.exe', 'mssecsvc.exe', 'svchost.exe', 'svchost.exe', 'svchost.exe']);
  const ano = IMPORTERS.netstat.importer(readFileSync(join(DIR, 'netstat-ano.txt')), 'x').records;
  assert.ok(ano.some((x) => x.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && x.remoteAddress === 'fe80::1%12' && x.state === 'CloseWait'));
  assert.ok(ano.some((x) => x.protocol === 'udp' && x.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && x.localPort === 1900 && x.remoteAddress === null));
});

test('bad input names the file and says what was expected', () => {
  const says = (re: RegExp) => (e: unknown) => re.test(String(e));
  assert.throws(() => IMPORTERS.autoruns.importer(Buffer.from('a,b\n1,2\n'), 'x.csv'), says(/x\.csv: not autorunsc CSV: expected the columns "Entry Location" and "Entry"/));
  assert.throws(() => IMPORTERS.netstat.importer(Buffer.from('hello\n'), 'n.txt'), says(/n\.txt: not netstat -ano output/));
  assert.throws(() => IMPORTERS.defender.importer(Buffer.from('{oops'), 'd.json'), says(/d\.json: not JSON/));
  const r = cli(['import', 'autoruns', join(DIR, 'netstat-ano.txt'), '--host', 'WS1', '--out', tempDir()]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /netstat-ano\.txt: not autorunsc CSV/);
});

test('magpie import makes an evidence folder of the usual shape, marked imported, source kept and hashed', async () => {
  const out = tempDir();
  const r = cli(['import', 'netstat', join(DIR, 'netstat-ano.txt'), join(DIR, 'netstat-anob.txt'), '--host', 'WS-FIN-042', '--case', 'IR-7', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.is(m.target.transport, 'import');
  assert.is(m.imported.kind, 'netstat');
  assert.equal(m.imported.files.map((f: any) => f.name), ['netstat-ano.txt', 'netstat-anob.txt']);
  assert.is(m.imported.files[0].sha256, m.files.find((f: any) => f.path === 'steps/01-import-netstat/files/netstat-ano.txt').sha256);
  assert.equal(m.steps.map((s: any) => [s.kind, s.status, s.records]), [['connection', 'ok', 25], ['connection', 'ok', 7]]);
  assert.is(readJsonl(join(dir, 'steps', '01-import-netstat', 'records.jsonl')).length, 25);
  assert.ok((await verifyEvidence(dir)).ok);
  void importFiles;
});

test.run();
