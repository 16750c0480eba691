// VirusTotal v3 look-ups against a local server that answers like the API: one request per
// distinct hash, spaced to the quota, cached with its date, --offline reads only the cache.
// The pacing is checked on a fake clock (exact, no waiting); one loose check uses real time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTriage } from '../lib/triage/output.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { Pacer, realClock, type Clock } from '../lib/triage/virustotal.ts';
import { cli, collectRecordedWindowsHost, pwshOrFail, readJson, tempDir } from './helpers.ts';

pwshOrFail();
const WANNACRY = '24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c';
let server: Server;
let base = '';
// `at` is read from whichever clock the test under way paces with.
let clock: Clock = realClock;
const requests: { path: string; at: number; key: string | undefined }[] = [];
let host = '';

/** Time that only moves when someone sleeps: every wait is recorded, none takes real time. */
function fakeClock(start = 1_000_000) {
  let t = start;
  const sleeps: number[] = [];
  const c: Clock & { sleeps: number[] } = {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
  return c;
}

test.before(async () => {
  server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', at: clock.now(), key: req.headers['x-apikey'] as string | undefined });
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

test('every distinct hash is asked once, exactly 100 ms apart at 600/min, cached; a malicious one becomes a finding', async () => {
  const cacheDir = tempDir();
  const fake = (clock = fakeClock());
  requests.length = 0;
  try {
    const run = await runTriage(host, { rules: loadRules(), vt: { apiKey: 'test-key', baseUrl: base, cacheDir, perMinute: 600, clock: fake } });
    const asked = requests.map((r) => r.path);
    assert.is(new Set(asked).size, asked.length, 'no hash asked twice');
    assert.ok(asked.length >= 10, `${asked.length} look-ups`);
    assert.ok(requests.every((r) => r.key === 'test-key'));
    // On the fake clock a request arrives at the instant the pacer let it go: the schedule itself.
    assert.equal(
      requests.map((r) => r.at - requests[0].at),
      asked.map((_, i) => i * 100),
      'one request every 100 ms, the first at once',
    );
    assert.equal(fake.sleeps, asked.slice(1).map(() => 100));
    const f = run.result.findings.find((x) => x.rule.id === 'virustotal-detection');
    assert.ok(f);
    assert.is(f!.rule.level, 'critical');
    assert.is(f!.record.name, 'mssecsvc.exe');
    assert.match(f!.rule.title, /66 engines .*ransomware\.wannacry/);
    assert.is(readdirSync(cacheDir).length, asked.length);
    assert.match(readJson(join(cacheDir, `${WANNACRY}.json`)).date, /^\d{4}-\d\d-\d\dT/);
    assert.is(readJson(join(run.outDir, 'triage.json')).virustotal.looked, asked.length);

    const before = requests.length;
    const again = await runTriage(host, { rules: [], vt: { apiKey: 'test-key', baseUrl: base, cacheDir, perMinute: 600, clock: fake } });
    assert.is(requests.length, before, 'the second run answers from the cache');
    assert.ok(again.result.findings.some((x) => x.rule.id === 'virustotal-detection'));
  } finally {
    clock = realClock;
  }
});

test('--offline never asks the network and uses what the cache has', async () => {
  // A cache as an earlier online run leaves it: one file per hash, with the answer's date.
  const cache = tempDir();
  const verdict = { hash: WANNACRY, date: '2026-01-02T03:04:05.000Z', found: true, malicious: 66, suspicious: 0, harmless: 0, undetected: 6, name: 'mssecsvc.exe', label: 'ransomware.wannacry/wanna' };
  writeFileSync(join(cache, `${WANNACRY}.json`), JSON.stringify(verdict) + '\n');
  const before = requests.length;
  const run = await runTriage(host, { rules: [], vt: { baseUrl: base, cacheDir: cache, offline: true } });
  assert.is(requests.length, before, 'nothing asked');
  const [f] = run.result.findings;
  assert.is(run.result.findings.length, 1, 'the cached verdict, and nothing for the hashes the cache lacks');
  assert.is(f.rule.id, 'virustotal-detection');
  assert.is(f.record.sha256, WANNACRY);
  assert.match(f.rule.description, /answer of 2026-01-02T03:04:05\.000Z/);
  assert.is(readJson(join(run.outDir, 'triage.json')).virustotal.offline, true);

  // The CLI the same way, pointed at the server so that any request would be seen.
  const r = cli(['triage', host, '--offline', '--vt-cache', cache, '--json'], { env: { MAGPIE_VT_URL: base, VT_API_KEY: 'test-key' } });
  assert.is(r.code, 0, r.stderr);
  assert.is(requests.length, before, 'the CLI asked nothing either');
  const out = JSON.parse(r.stdout).hosts[0].out;
  assert.ok(readJson(join(out, 'findings.json')).findings.some((x: any) => x.rule.id === 'virustotal-detection' && x.record.sha256 === WANNACRY));

  const empty = tempDir();
  const none = await runTriage(host, { rules: [], vt: { baseUrl: base, cacheDir: empty, offline: true } });
  assert.is(requests.length, before);
  assert.equal(none.result.findings, [], 'an empty cache gives no verdict');
});

test('--vt without a key, or a bad rate, is a usage error', () => {
  const r = cli(['triage', host, '--vt'], { env: { VT_API_KEY: '' } });
  assert.is(r.code, 2);
  assert.match(r.stderr, /VT_API_KEY/);
  const r2 = cli(['triage', host, '--vt', '--vt-rate', 'fast'], { env: { VT_API_KEY: 'k' } });
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /--vt-rate must be a positive number/);
});

test('the pacer keeps 4 a minute 15 s apart, and never bursts to catch up after a pause', async () => {
  const c = fakeClock(0);
  const p = new Pacer(4, c);
  const starts: number[] = [];
  const go = async () => {
    await p.wait();
    starts.push(c.now());
  };
  await go();
  await go();
  await go();
  await c.sleep(60_000);
  await go();
  await go();
  assert.equal(starts, [0, 15_000, 30_000, 90_000, 105_000], 'the first at once, then every 15 s; after a pause one at once, then 15 s again');
});

test('the pacer waits in real time too (loose: it only has to take at least the schedule)', async () => {
  const p = new Pacer(600);
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) await p.wait();
  const took = Date.now() - t0;
  // Three starts at 600/min span 200 ms; timers may fire a few ms early, never much earlier.
  assert.ok(took >= 180, `three starts took ${took} ms`);
});

test.run();
