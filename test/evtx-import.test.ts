// `magpie import evtx`: real Windows event logs (SigmaHQ's regression samples, test/fixtures/evtx,
// see SOURCE.md) read through libyal's evtxexport into `event` records, checked field by field
// against the JSON SigmaHQ made of the same files with another converter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBlockSplitter, importEvtx, parseEvtxEvent, readEvtx } from '../lib/importers/evtx.ts';
import { IMPORTERS, importFiles } from '../lib/importers/import.ts';
import { EventRecord, RECORD_SCHEMAS } from '../lib/records/schemas.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, FIXTURES, readJson, readJsonl, tempDir } from './helpers.ts';
import { evtxexportOrFail } from './evtx-tools.ts';

const DIR = join(FIXTURES, 'evtx');
const SYSMON = 'af688c76-4ce4-4309-bfdd-e896f01acf27';
const SECURITY = '7595ba94-cf3b-4471-aa03-4f6baa9e5fad';
const WMI = 'd4f1a2b3-7c8e-4d5f-b6a9-1e0c2d3f4e5b';
const SAMPLES = [SYSMON, SECURITY, WMI];

const evtxexport = evtxexportOrFail();
process.env.MAGPIE_EVTXEXPORT ??= evtxexport;

const all = async (file: string) => {
  const out: EventRecord[] = [];
  for await (const r of readEvtx(file)) out.push(r);
  return out;
};
const fails = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    return String(e);
  }
  throw new Error('expected a failure');
};

/**
 * A value compared as text: GUID braces off, integers as strings, trailing spaces off (SigmaHQ's
 * converter trims them; the event has them: Sysmon's ParentCommandLine ends in 'cmd.exe" ', and the
 * record keeps that, as Windows shows it).
 */
const norm = (v: unknown) => {
  const s = (v === null || v === undefined ? '' : String(v)).trimEnd();
  return /^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$/.test(s) ? s.slice(1, -1) : s;
};

/** Leaf values of SigmaHQ's JSON UserData/EventData, by name, "#attributes" left out. */
function leaves(o: unknown, out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (k === '#attributes') continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) leaves(v, out);
    else out[k] = v;
  }
  return out;
}

for (const sample of SAMPLES) {
  test(`${sample}.evtx: the records equal SigmaHQ's JSON of the same file, each a valid event record`, async () => {
    const records = await all(join(DIR, `${sample}.evtx`));
    const json = readJson(join(DIR, `${sample}.json`));
    const events = (Array.isArray(json) ? json : [json]).map((j: any) => j.Event);
    assert.is(records.length, events.length);
    for (const [i, r] of records.entries()) {
      const v = RECORD_SCHEMAS.event.safeParse(r);
      assert.ok(v.success, `${JSON.stringify(r)}: ${!v.success && v.error.message}`);
      const sys = events[i].System;
      assert.is(r.eventId, Number(sys.EventID));
      assert.is(r.channel, sys.Channel);
      assert.is(r.provider, sys.Provider['#attributes'].Name);
      assert.is(r.computer, sys.Computer);
      assert.is(r.recordId, Number(sys.EventRecordID));
      // 100 ns ticks in the file; the record keeps milliseconds.
      assert.is(r.time, String(sys.TimeCreated['#attributes'].SystemTime).replace(/(\.\d{3})\d*Z$/, '$1Z'));
      assert.is(r.user ?? null, sys.Security?.['#attributes']?.UserID ?? null);
      const expected = leaves(events[i].EventData ?? events[i].UserData ?? {});
      assert.equal(Object.keys(r.data).sort(), Object.keys(expected).sort());
      for (const [k, want] of Object.entries(expected)) assert.is(norm(r.data[k]), norm(want), `${sample} ${k}`);
    }
  });
}

test('Sysmon process creation: one record as the rule engine gets it', async () => {
  const [r] = await all(join(DIR, `${SYSMON}.evtx`));
  assert.is(r.time, '2025-11-26T05:11:27.927Z');
  assert.is(r.level, 4);
  assert.is(r.user, 'S-1-5-18');
  assert.is(r.data.ProcessGuid, '{0197231E-8BFF-6926-1308-000000000D00}', 'GUIDs as evtxexport gives them');
  assert.is(r.data.CommandLine, 'GRB_NET.exe  -m:scan -i:f -d:list.txt');
  assert.is(r.data.LogonId, '0x3b5e64');
  assert.is(r.data.ParentCommandLine, '"C:\\WINDOWS\\system32\\cmd.exe" ', 'the trailing space is in the event');
});

test('Security 4701: entities decoded, CR LF kept, HexInt64 unpadded, no UserID', async () => {
  const [r] = await all(join(DIR, `${SECURITY}.evtx`));
  assert.is(r.eventId, 4701);
  assert.is(r.data.SubjectLogonId, '0x3144c', 'evtxexport writes 0x000000000003144c; Windows and Sigma rules say 0x3144c');
  assert.ok(r.data.TaskContent!.startsWith('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task '));
  assert.is(r.user, null);
});

test('WMI-Activity 5858: UserData leaves flattened by name', async () => {
  const [r] = await all(join(DIR, `${WMI}.evtx`));
  assert.is(r.data.ResultCode, '0x80041003');
  assert.is(r.data.ClientProcessId, '25920');
  assert.match(r.data.Operation!, /Win32_NTEventlogFile\.Name="C:\\\\WINDOWS\\\\System32\\\\Winevt\\\\Logs\\\\System\.evtx"::cleareventlog$/);
});

test('one event block: empty Data, unnamed Data, entities, numeric references, 7-digit time', () => {
  const r = parseEvtxEvent(
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Service Control Manager" Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}" EventSourceName="Service Control Manager"/>' +
      '<EventID Qualifiers="16384">7045</EventID><Level>4</Level><TimeCreated SystemTime="2024-01-02T03:04:05.0009999Z"/><EventRecordID>7</EventRecordID><Channel>System</Channel><Computer>WS-042</Computer><Security UserID="S-1-5-21-1-2-3-500"/></System>' +
      '<EventData><Data Name="ServiceName">a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;</Data><Data Name="StartType"/><Data>x</Data><Data>y</Data></EventData></Event>',
  )!;
  assert.equal(r, {
    channel: 'System', provider: 'Service Control Manager', eventId: 7045, time: '2024-01-02T03:04:05.000Z', computer: 'WS-042', recordId: 7, level: 4,
    user: 'S-1-5-21-1-2-3-500', processId: null, threadId: null, data: { ServiceName: 'a & b <c> "d" \'e\' AB', StartType: '', Data1: 'x', Data2: 'y' },
  });
  assert.is(parseEvtxEvent('<Event><System><Channel>X</Channel></System></Event>'), null, 'no EventID or time: passed over');
});

test('the splitter: banner and blank lines ignored, <Event> cut across chunks, <EventData> is not an event start', () => {
  const s = new EventBlockSplitter();
  const text = 'evtxexport 20181227\n\n<Event xmlns="x"><System><EventID>1</EventID></System><EventData/></Event>\n\n<Event><System/></Event>\n';
  const got: string[] = [];
  for (let i = 0; i < text.length; i += 3) got.push(...s.push(text.slice(i, i + 3)));
  assert.equal(got, ['<Event xmlns="x"><System><EventID>1</EventID></System><EventData/></Event>', '<Event><System/></Event>']);
  assert.is(s.rest().trim(), '');
  assert.match(s.other, /evtxexport 20181227/);
});

test('streaming: records come one at a time from a running evtxexport, and stopping early stops it', async () => {
  // The generator is pulled: the first record is handed over while evtxexport is still running,
  // and return() ends it (and evtxexport) without reading the rest.
  const seen: number[] = [];
  const it = readEvtx(join(DIR, `${SYSMON}.evtx`));
  const first = await it.next();
  assert.is(first.done, false);
  seen.push((first.value as EventRecord).eventId);
  const end = await it.return(0);
  assert.is(end.done, true);
  // The callback form awaits a slow sink per record, in order.
  const order: string[] = [];
  const r = await importEvtx(join(DIR, `${WMI}.evtx`), async (rec) => {
    order.push(`start ${rec.recordId}`);
    await new Promise((res) => setTimeout(res, 5));
    order.push(`end ${rec.recordId}`);
  });
  assert.equal(order, ['start 5314', 'end 5314']);
  assert.equal([r.kind, r.count], ['event', 1]);
  assert.equal(seen, [1]);
});

test('a truncated .evtx, a file that is not one, and a missing evtxexport are errors naming the file', async () => {
  const dir = tempDir();
  const cut = join(dir, 'cut.evtx');
  writeFileSync(cut, readFileSync(join(DIR, `${SYSMON}.evtx`)).subarray(0, 4096));
  assert.match(await fails(all(cut)), /cut\.evtx: not a readable \.evtx: evtxexport found no events/);
  const txt = join(dir, 'notes.evtx');
  writeFileSync(txt, 'hello, not an event log\n');
  assert.match(await fails(all(txt)), /notes\.evtx: not a readable \.evtx: evtxexport exited with code 1: .*unable to/s);
  assert.match(await fails(readEvtx(cut, { evtxexport: join(dir, 'no-such-evtxexport') }).next()), /cut\.evtx: .*not installed: apt-get install libevtx-utils/);
  // Through the import: nothing half-imported, no evidence folder left behind.
  const out = tempDir();
  assert.match(await fails(importFiles('evtx', [join(DIR, `${SYSMON}.evtx`), cut], { host: 'WS-042', caseId: 'IR-9', out })), /cut\.evtx: not a readable \.evtx/);
  assert.equal(readdirSync(out), []);
  const bad = cli(['import', 'evtx', txt, '--host', 'WS-042', '--out', out]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /notes\.evtx: not a readable \.evtx/);
  assert.throws(() => IMPORTERS.evtx.importer(Buffer.alloc(0), 'b.evtx'), (e: unknown) => /b\.evtx: evtx is read from the file itself/.test(String(e)));
});

test('magpie import evtx FILE…: an evidence folder of event records, the sources kept, that magpie verify accepts', async () => {
  const out = tempDir();
  const src = tempDir();
  for (const s of SAMPLES) copyFileSync(join(DIR, `${s}.evtx`), join(src, `${s}.evtx`));
  const r = cli(['import', 'evtx', ...SAMPLES.map((s) => join(src, `${s}.evtx`)), '--host', 'WS-042', '--case', 'IR-9', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 3 records/);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.is(m.imported.kind, 'evtx');
  assert.equal(m.imported.files.map((f: any) => [f.name, f.size]), SAMPLES.map((s) => [`${s}.evtx`, 69632]));
  assert.equal(m.steps.map((s: any) => [s.id, s.kind, s.records]), SAMPLES.map(() => ['import-evtx', 'event', 1]));
  const steps = readdirSync(join(dir, 'steps')).sort();
  assert.is(steps.length, 3);
  assert.ok(existsSync(join(dir, 'steps', steps[0], 'files', `${SYSMON}.evtx`)));
  assert.is(readJsonl(join(dir, 'steps', steps[2], 'records.jsonl'))[0].eventId, 5858);
  assert.ok((await verifyEvidence(dir)).ok);
  const v = cli(['verify', dir]);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

test.run();
