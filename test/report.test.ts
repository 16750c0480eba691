// report.html in a real browser (Debian's headless Chromium through playwright-core): it renders,
// asks the network for nothing, and shows a hostile process name as text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { importFiles } from '../lib/importers/import.ts';
import { runTriage } from '../lib/triage/output.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { tempDir, writeTree } from './helpers.ts';

const CHROMIUM = process.env.MAGPIE_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>.exe';

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
    const page = await browser.newPage();
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
    assert.ok(await page.locator('.tree li').count() >= 2, 'the process tree is drawn');
    assert.ok(await page.locator('.tree .flag').count() >= 1, 'flagged processes are marked in the tree');
    await page.screenshot({ path: join(tempDir(), 'report.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});

test.run();
