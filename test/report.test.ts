// report.html in a real browser (Debian's headless Chromium through playwright-core): it renders,
// asks the network for nothing, and shows a hostile process name as text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { importFiles } from '../lib/importers/import.ts';
import { runTriage } from '../lib/triage/output.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { ACT_FIRST, renderReport } from '../lib/triage/report.ts';
import { prioritise, subjectOf } from '../lib/triage/prioritise.ts';
import type { Finding, TriageResult } from '../lib/triage/engine.ts';
import type { Manifest } from '../lib/evidence/manifest.ts';
import type { Level } from '../lib/triage/rule-def.ts';
import { tempDir, writeTree } from './helpers.ts';

const CHROMIUM = process.env.MAGPIE_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>.exe';
const LONG_PATH = `C:\\Users\\jdoe\\AppData\\Local\\${'VeryLongFolderNameWithoutAnySpaces'.repeat(8)}\\payload.exe`;

let n = 0;
/** A finding as the engine makes it (source rule unless given). */
function finding(rule: string, level: Level, kind: Finding['kind'], record: Record<string, unknown>, extra: Partial<Finding> = {}, source: Finding['rule']['source'] = 'rule'): Finding {
  n++;
  return { id: `F${String(n).padStart(4, '0')}`, host: 'WS-1', rule: { id: rule, title: `Rule ${rule}`, level, tags: [], description: `what ${rule} means`, source }, kind, record, location: { file: `steps/01/records.jsonl`, line: n }, ...extra };
}
const proc = (name: string, path: string, pid = 100) => ({ pid, ppid: 4, name, path, commandLine: path, sha256: null });

function result(findings: Finding[]): TriageResult {
  const manifest = {
    case: 'c1', target: { name: 'ws-1', hostname: 'WS-1', os: 'windows', user: 'admin', admin: true, transport: 'local' }, playbook: { name: 'triage', sha256: 'a'.repeat(64) },
    started: '2026-01-01T00:00:00Z', ended: '2026-01-01T00:01:00Z', state: 'complete', clockSkewMs: 0, operator: 'op', workstation: { hostname: 'lab' },
    steps: [{ index: 1, id: LONG_PATH, status: 'ok', partial: false, records: 3, durationMs: 5, reason: LONG_PATH }],
  } as unknown as Manifest;
  return { host: 'WS-1', manifest, findings, problems: [], counts: {}, processes: [], suppressed: [] };
}
const render = (fs: Finding[]) => renderReport(result(fs), { generated: '2026-01-01T00:00:00Z', tool: 'magpie test', evidenceDir: LONG_PATH });

test('a finding is named by the thing: process name and path, autostart entry, remote address, threat', () => {
  assert.equal(subjectOf(finding('r', 'high', 'process', proc('scvhost.exe', 'C:\\Users\\Public\\scvhost.exe'))).name, 'scvhost.exe');
  assert.ok(subjectOf(finding('r', 'high', 'process', proc('scvhost.exe', 'C:\\Users\\Public\\scvhost.exe'))).detail.includes('C:\\Users\\Public\\scvhost.exe'));
  assert.equal(subjectOf(finding('r', 'high', 'autorun', { entry: 'WindowsUpdater', location: 'HKCU\\Run', imagePath: 'C:\\x\\u.exe' })).name, 'WindowsUpdater');
  assert.equal(subjectOf(finding('r', 'high', 'connection', { remoteAddress: '203.0.113.9', remotePort: 4444, processName: 'nc.exe', protocol: 'TCP' })).name, '203.0.113.9:4444');
  assert.equal(subjectOf(finding('r', 'high', 'detection', { type: 'threat', threatName: 'Trojan:Win32/X', resources: ['C:\\a.exe'] })).name, 'Trojan:Win32/X');
  const html = render([finding('magpie-lookalike', 'high', 'process', proc('scvhost.exe', 'C:\\Users\\Public\\scvhost.exe'))]);
  assert.match(html, /<h3><span class="lvl high">high<\/span> <span class="thing">scvhost\.exe<\/span>/, 'the heading names the process, not only the rule');
  assert.ok(html.includes('Rule magpie-lookalike'), 'the rule is still said');
});

test('order: level first, then corroboration — a corroborated high before a lone high, an IOC hit counts', () => {
  const lone = finding('lone', 'high', 'process', proc('aaa.exe', 'C:\\Users\\a\\aaa.exe'));
  const twiceRec = proc('zzz.exe', 'C:\\Users\\a\\zzz.exe', 200);
  const twice = finding('unsigned', 'high', 'process', twiceRec);
  // Another rule on the same image, through an autostart that names it.
  const corroborating = finding('autorun', 'medium', 'autorun', { entry: 'zzz', location: 'HKCU\\Run', imagePath: 'C:\\USERS\\a\\ZZZ.exe' });
  const iocd = finding('ioc-target', 'high', 'process', proc('mmm.exe', 'C:\\Users\\a\\mmm.exe', 300));
  const ioc = finding('ioc-hash', 'medium', 'process', iocd.record, { ioc: { ioc: { type: 'hash', value: 'x', source: 'f' }, field: 'sha256', value: 'x' } }, 'ioc');
  const critical = finding('crit', 'critical', 'process', proc('c.exe', 'C:\\c.exe', 400));
  const groups = prioritise([lone, twice, corroborating, iocd, ioc, critical]);
  const order = groups.map((g) => g.first.rule.id);
  assert.is(order[0], 'crit', 'level first');
  assert.ok(order.indexOf('unsigned') < order.indexOf('lone'), `a corroborated high before a lone high: ${order}`);
  assert.ok(order.indexOf('ioc-target') < order.indexOf('lone'), `an IOC hit on the same image counts: ${order}`);
  assert.ok(order.indexOf('ioc-target') < order.indexOf('unsigned'), `an IOC hit counts more than one other rule: ${order}`);
  assert.ok(order.indexOf('lone') < order.indexOf('autorun'), 'corroboration never lifts a medium above a high');
  assert.is(groups.find((g) => g.first === lone)!.corroboration, 0);
  assert.ok(groups.find((g) => g.first === iocd)!.ioc);
  // The rendered report keeps that order.
  const html = render([lone, twice, corroborating, iocd, ioc, critical]);
  const at = (name: string) => html.indexOf(`<span class="thing">${name}</span>`);
  assert.ok(at('c.exe') < at('mmm.exe') && at('mmm.exe') < at('zzz.exe') && at('zzz.exe') < at('aaa.exe'), 'rendered in priority order');
  assert.ok(html.includes('IOC hit'));
});

test('identical findings (same rule, same thing) are one item with a count and every location', () => {
  const path = 'C:\\Users\\a\\AppData\\Roaming\\svchost.exe';
  const same = [1, 2, 3].map((i) => finding('unsigned-user-writable', 'high', 'process', proc('svchost.exe', path, 1000 + i)));
  const other = finding('unsigned-user-writable', 'high', 'process', proc('other.exe', 'C:\\Users\\a\\other.exe', 2000));
  const groups = prioritise([...same, other]);
  assert.is(groups.length, 2);
  const g = groups.find((x) => x.subject.name === 'svchost.exe')!;
  assert.is(g.findings.length, 3);
  const html = render([...same, other]);
  assert.is(html.match(/<span class="thing">svchost\.exe<\/span>/g)?.length, 1, 'one item for the three');
  assert.ok(html.includes('<span class="count" title="identical findings">×3</span>'));
  for (const f of same) {
    assert.ok(html.includes(`<code>steps/01/records.jsonl:${f.location.line}</code> (pid ${f.record.pid})`), `location of ${f.id}`);
    assert.ok(html.includes(`id="${f.id}"`), `anchor for ${f.id} (the process tree links to it)`);
  }
  assert.match(html, /Findings \(4, in 2 items\)/);
});

test('"act on these first" is at the top, bounded, one line per thing: level, thing, why, where', () => {
  const many = Array.from({ length: 9 }, (_, i) => finding('unsigned', 'high', 'process', proc(`bad${i}.exe`, `C:\\Users\\a\\bad${i}.exe`, 10 + i)));
  const crit = finding('worm', 'critical', 'process', proc('worm.exe', 'C:\\Windows\\worm.exe', 5));
  const sameImage = finding('autostart', 'high', 'autorun', { entry: 'wormsvc', location: 'Services', imagePath: 'C:\\Windows\\worm.exe' });
  const low = finding('stale', 'low', 'autorun', { entry: 'old', location: 'Run', imagePath: 'C:\\Program Files\\x.exe' });
  const html = render([...many, crit, sameImage, low]);
  const act = /<section id="act">([\s\S]*?)<\/section>/.exec(html)?.[1];
  assert.ok(act, 'the list is there');
  assert.ok(html.indexOf('id="act"') < html.indexOf('id="summary"'), 'above the summary');
  const items = act!.match(/<li>/g)!.length;
  assert.is(items, ACT_FIRST, 'bounded');
  assert.ok(ACT_FIRST <= 7);
  const first = /<li>([\s\S]*?)<\/li>/.exec(act!)![1];
  assert.match(first, /lvl critical/);
  assert.match(first, />worm\.exe</);
  assert.match(first, /Rule worm<\/span><span class="more">\+ 1 more rule</, 'the autostart of the same image joins it, as a reason');
  assert.match(first, /steps\/01\/records\.jsonl:\d+/, 'where');
  assert.not.ok(act!.includes('>wormsvc<'), 'the same image is not listed twice');
  assert.not.ok(act!.includes('lvl low'));
  assert.is(render([low]).includes('id="act"'), false, 'no list when nothing is medium or above');
});

test('at laptop width (1366 px) nothing scrolls sideways, even with long paths; no request, no script', async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const fs = [
      finding('unsigned', 'high', 'process', proc('payload.exe', LONG_PATH, 1)),
      finding('unsigned', 'high', 'process', proc('payload.exe', LONG_PATH, 2)),
      finding('autostart', 'medium', 'autorun', { entry: `${'x'.repeat(400)}`, location: LONG_PATH, imagePath: LONG_PATH, launchString: `${LONG_PATH} ${'-arg'.repeat(100)}` }),
      finding('hostile', 'high', 'process', proc(HOSTILE, `C:\\Users\\${HOSTILE}`, 3)),
    ];
    const file = join(tempDir(), 'report.html');
    writeFileSync(file, render(fs));
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.scrollingElement!.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `no horizontal scroll: ${scrollWidth} > ${innerWidth}`);
    assert.equal(requests.filter((u) => !u.startsWith('file:')), []);
    assert.equal(dialogs, []);
    assert.is(await page.locator('img').count(), 0);
    assert.is(await page.locator('script').count(), 0);
    assert.ok((await page.locator('#findings .thing').allInnerTexts()).includes(HOSTILE), 'a hostile name is a heading as text');
    // The act-first lines stay one line each.
    const heights = await page.locator('#act li').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
    assert.ok(heights.length >= 2 && heights.every((h) => h < 30), `one line each: ${heights}`);
    const cspMeta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    assert.match(cspMeta ?? '', /default-src 'none'/);
  } finally {
    await browser.close();
  }
});

test('the report renders offline and shows host text as text, never as markup', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: run \`npm run setup -- --test\` (apt-get install chromium) or set MAGPIE_CHROMIUM`);
  // A host whose process list carries markup, a script URL and a terminal escape in its names.
  const src = writeTree({
    'tasklist.csv':
      '"Image Name","PID","Session Name","Session#","Mem Usage","Status","User Name","CPU Time","Window Title"\n' +
      `"${HOSTILE}","666","Console","1","1,000 K","Running","CORP\\<b>bob</b>","0:00:01","<script>fetch('http://198.51.100.1/x')</script>"\n` +
      '"scvhost.exe","667","Console","1","1,000 K","Running","CORP\\bob","0:00:01","N/A"\n',
  });
  const { dir } = await importFiles('tasklist', [join(src, 'tasklist.csv')], { host: '<svg onload=alert(2)>', caseId: 'report', out: tempDir() });
  const run = await runTriage(dir, { rules: loadRules() });
  const file = join(run.outDir, 'report.html');
  const html = readFileSync(file, 'utf8');
  assert.not.ok(html.includes('<img src=x'), 'no raw markup from the host');
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;.exe'));

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.waitForTimeout(300);
    assert.equal(requests.filter((u) => !u.startsWith('file:')), [], 'no network request');
    assert.equal(dialogs, [], 'no script ran');
    assert.is(await page.locator('img').count(), 0);
    assert.is(await page.locator('script').count(), 0);
    assert.is(await page.locator('svg').count(), 0);
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(HOSTILE), 'the hostile name is shown as text');
    assert.ok(text.includes('Magpie triage — <svg onload=alert(2)>'));
    assert.match(text, /Findings \(\d+\)/);
    assert.ok(await page.locator('#summary .lvl.high').count());
    assert.ok((await page.locator('#findings .thing').allInnerTexts()).includes('scvhost.exe'), 'the look-alike is named in its heading');
    assert.ok(await page.locator('#act li').count() >= 1, 'the act-first list is drawn');
    assert.ok(await page.evaluate(() => document.scrollingElement!.scrollWidth <= window.innerWidth), 'no horizontal scroll at 1366 px');
    assert.ok(await page.locator('.tree li').count() >= 2, 'the process tree is drawn');
    assert.ok(await page.locator('.tree .flag').count() >= 1, 'flagged processes are marked in the tree');
    await page.screenshot({ path: join(tempDir(), 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test.run();
