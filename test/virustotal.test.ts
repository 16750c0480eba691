// VirusTotal v3 look-ups against a local server that answers like the API: one request per
// distinct hash, spaced to the quota, cached with its date, --offline reads only the cache.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runTriage } from '../lib/triage/output.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { Pacer } from '../lib/triage/virustotal.ts';
import { cli, collectRecordedWindowsHost, pwshOrFail, readJson, tempDir } from './helpers.ts';

pwshOrFail();
const WANNACRY = '24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c';
let server: Server;
let base = '';
const requests: { path: string; at: number; key: string | undefined }[] = [];
let host = '';

test.before(async () => {
  server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', at: Date.now(), key: req.headers['x-apikey'] as string | undefined });
    const m = /^\/api\/v3\/files\/([a-f0-9]+)$/.exec(req.url ?? '');
    if (req.headers['x-apikey'] !== 'test-key') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"WrongCredentialsError"}}');
    } else if (m && m[1] === WANNACRY) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ data: { id: WANNACRY, type: 'file', attributes: { meaningful_name: 'mssecsvc.exe', last_analysis_stats: { malicious: 66, suspicious: 0, undetected: 6, harmless: 0 }, popular_threat_classification: { suggested_threat_label: 'ransomware.wannacry/wanna' } } } }),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NotFoundError"}}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v3`;
  host = await collectRecordedWindowsHost('infected');
});

test.after(() => {
  server.close();
});

test('every distinct hash is asked once, spaced to the quota, cached; a malicious one becomes a finding', async () => {
  const cacheDir = tempDir();
  const t0 = Date.now();
  const run = await runTriage(host, { rules: loadRules(), vt: { apiKey: 'test-key', baseUrl: base, cacheDir, perMinute: 600 } });
  const asked = requests.map((r) => r.path);
  assert.is(new Set(asked).size, asked.length, 'no hash asked twice');
  assert.ok(asked.length >= 10, `${asked.length} look-ups`);
  assert.ok(requests.every((r) => r.key === 'test-key'));
  const gaps = requests.slice(1).map((r, i) => r.at - requests[i].at);
  // Arrival times jitter by the connection set-up; the schedule itself is 100 ms apart.
  assert.ok(gaps.every((g) => g >= 60), `spaced at 600/min: ${gaps.join(',')}`);
  assert.ok(requests.at(-1)!.at - requests[0].at >= (asked.length - 1) * 95, 'on average 100 ms apart');
  assert.ok(Date.now() - t0 >= (asked.length - 1) * 95);
  const f = run.result.findings.find((x) => x.rule.id === 'virustotal-detection');
  assert.ok(f);
  assert.is(f!.rule.level, 'critical');
  assert.is(f!.record.name, 'mssecsvc.exe');
  assert.match(f!.rule.title, /66 engines .*ransomware\.wannacry/);
  assert.is(readdirSync(cacheDir).length, asked.length);
  assert.match(readJson(join(cacheDir, `${WANNACRY}.json`)).date, /^\d{4}-\d\d-\d\dT/);
  assert.is(readJson(join(run.outDir, 'triage.json')).virustotal.looked, asked.length);

  const before = requests.length;
  const again = await runTriage(host, { rules: [], vt: { apiKey: 'test-key', baseUrl: base, cacheDir, perMinute: 600 } });
  assert.is(requests.length, before, 'the second run answers from the cache');
  assert.ok(again.result.findings.some((x) => x.rule.id === 'virustotal-detection'));
});

test('--offline never asks the network and uses what the cache has', async () => {
  const before = requests.length;
  const empty = tempDir();
  const run = await runTriage(host, { rules: [], vt: { baseUrl: base, cacheDir: empty, offline: true } });
  assert.is(requests.length, before);
  assert.equal(run.result.findings, []);
  const r = cli(['triage', host, '--offline', '--vt-cache', empty, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(requests.length, before);
});

test('--vt without a key, or a bad rate, is a usage error', () => {
  const r = cli(['triage', host, '--vt'], { env: { VT_API_KEY: '' } });
  assert.is(r.code, 2);
  assert.match(r.stderr, /VT_API_KEY/);
  const r2 = cli(['triage', host, '--vt', '--vt-rate', 'fast'], { env: { VT_API_KEY: 'k' } });
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /--vt-rate must be a positive number/);
});

test('the pacer keeps 4 a minute 15 s apart', async () => {
  const p = new Pacer(4);
  const t0 = Date.now();
  await p.wait();
  assert.ok(Date.now() - t0 < 50, 'the first call goes at once');
  // The next one is scheduled 15 s later; check the schedule without waiting for it.
  assert.is(Math.round(((p as unknown as { next: number }).next - t0) / 1000), 15);
  assert.ok(existsSync(host));
});

test.run();
