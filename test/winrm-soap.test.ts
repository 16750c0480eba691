// WS-Management / Windows Remote Shell messages: the XML reader, the requests Magpie builds (their
// shape against the requests pywinrm sends, well-formedness against Python's own XML parser), and
// parsing the responses and faults recorded from real Windows hosts in pywinrm's tests
// (test/fixtures/winrm/pywinrm, MIT) plus Magpie's own fault and streaming fixtures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WinrmMessageError } from '../lib/session/winrm/errors.ts';
import {
  ACTION,
  commandIdOf,
  commandRequest,
  createShellRequest,
  deleteShellRequest,
  describeFault,
  escapeXml,
  expectAck,
  isOperationTimeout,
  NS,
  parseResponse,
  parseWsmanXml as parseXml,
  POWERSHELL_ARGS,
  POWERSHELL_COMMAND,
  receiveOf,
  receiveRequest,
  sendRequest,
  shellIdOf,
  SIGNAL,
  signalRequest,
  stdinChunks,
  stdinChunkSize,
  type WsmanTarget,
} from '../lib/session/winrm/soap.ts';
import { child, path, type XmlElement } from '../lib/xml.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'winrm');
const magpie = (name: string) => readFileSync(join(FIX, 'magpie', name), 'utf8');
const target: WsmanTarget = { endpoint: 'http://windows-host:5985/wsman', maxEnvelopeSize: 153600, operationTimeoutSec: 20 };

// ---------------------------------------------------------------------------------------------
// XML

test('xml: namespaces by URI not prefix, entities, character references, CDATA, comments', () => {
  const el = parseXml(
    `<?xml version="1.0"?><!-- c --><x:a xmlns:x="urn:x" xmlns="urn:d" k="1 &amp; 2"><b>&lt;&#65;&#x42;&quot;&apos;&gt;</b><y:c xmlns:y="urn:x"><![CDATA[<raw>]]></y:c><d/></x:a>`,
  );
  assert.is(el.ns, 'urn:x');
  assert.is(el.attrs.k, '1 & 2');
  assert.is(child(el, 'urn:d', 'b')!.text, '<AB"\'>');
  assert.is(child(el, 'urn:x', 'c')!.text, '<raw>', 'a different prefix for the same URI is the same namespace');
  assert.ok(child(el, 'urn:d', 'd'), 'default namespace applies to unprefixed elements');
});

test('xml: refuses DOCTYPE (no entity expansion), bad nesting, undeclared prefixes, trailing content', () => {
  const bad = [
    '<!DOCTYPE lolz [<!ENTITY lol "lol">]><a>&lol;</a>',
    '<a><b></a></b>',
    '<p:a/>',
    '<a/><b/>',
    '<a>&unknown;</a>',
    '<a',
    '<a b=c/>',
  ];
  for (const x of bad) assert.throws(() => parseXml(x), (e: unknown) => e instanceof WinrmMessageError, x);
  assert.is(escapeXml(`a<b>&"'\r`), 'a&lt;b&gt;&amp;&quot;&apos;&#13;');
  assert.throws(() => escapeXml('\u0000'), (e: unknown) => e instanceof WinrmMessageError);
});

// ---------------------------------------------------------------------------------------------
// Requests

/** The element tree as `ns|name[attrs]` paths (attribute names only), for comparing shapes. */
function shape(el: XmlElement, prefix = ''): string[] {
  const here = `${prefix}/${el.ns}|${el.name}[${Object.keys(el.attrs).filter((a) => a !== 'mustUnderstand' && a !== 'End').sort().join(',')}]`;
  return [here, ...el.children.flatMap((c) => shape(c, here))];
}
const header = (x: string) => child(parseXml(x), NS.s, 'Header')!;
const body = (x: string) => child(parseXml(x), NS.s, 'Body')!;

test('request content: selectors, options, command line, base64 stdin with End, signal codes, unique MessageIDs', () => {
  const c = commandRequest(target, 'SHELL-1', POWERSHELL_COMMAND, POWERSHELL_ARGS);
  const h = header(c.xml);
  assert.is(path(h, [NS.w, 'SelectorSet'], [NS.w, 'Selector'])!.text, 'SHELL-1');
  assert.is(child(h, NS.a, 'MessageID')!.text, c.messageId);
  assert.match(c.messageId, /^uuid:[0-9A-F-]{36}$/);
  assert.is(child(h, NS.w, 'MaxEnvelopeSize')!.text, '153600');
  assert.is(child(h, NS.w, 'OperationTimeout')!.text, 'PT20.000S');
  const line = path(body(c.xml), [NS.rsp, 'CommandLine'])!;
  assert.is(child(line, NS.rsp, 'Command')!.text, 'powershell.exe');
  assert.equal(line.children.filter((e) => e.name === 'Arguments').map((e) => e.text), ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-']);
  const opts = Object.fromEntries(path(h, [NS.w, 'OptionSet'])!.children.map((o) => [o.attrs.Name, o.text]));
  assert.equal(opts, { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: 'TRUE' });
  assert.is.not(createShellRequest(target).messageId, createShellRequest(target).messageId);

  const s = sendRequest(target, 'SHELL-1', 'CMD-1', Buffer.from('& ([ScriptBlock]::Create("x <y> & \'z\'"))\r\n'), true);
  const stream = path(body(s.xml), [NS.rsp, 'Send'], [NS.rsp, 'Stream'])!;
  assert.equal(stream.attrs, { Name: 'stdin', CommandId: 'CMD-1', End: 'true' });
  assert.is(Buffer.from(stream.text, 'base64').toString(), '& ([ScriptBlock]::Create("x <y> & \'z\'"))\r\n');

  const sig = signalRequest(target, 'SHELL-1', 'CMD-1', SIGNAL.ctrlC);
  assert.is(path(body(sig.xml), [NS.rsp, 'Signal'], [NS.rsp, 'Code'])!.text, 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c');
  const env = createShellRequest(target, { workingDirectory: 'C:\\Windows\\Temp', env: { A: '1 & 2' }, idleTimeoutSec: 600 });
  const shell = path(body(env.xml), [NS.rsp, 'Shell'])!;
  assert.is(child(shell, NS.rsp, 'WorkingDirectory')!.text, 'C:\\Windows\\Temp');
  assert.is(path(shell, [NS.rsp, 'Environment'], [NS.rsp, 'Variable'])!.text, '1 & 2');
  assert.is(child(shell, NS.rsp, 'IdleTimeOut')!.text, 'PT600S');
});

test('stdin is chunked within MaxEnvelopeSize (the whole Send envelope, base64 and all)', () => {
  for (const max of [153600, 512000, 8192]) {
    const data = Buffer.alloc(stdinChunkSize(max) * 2 + 5, 0x41);
    const chunks = stdinChunks(data, max);
    assert.is(chunks.length, 3);
    assert.ok(Buffer.concat(chunks).equals(data));
    for (const ch of chunks) assert.ok(Buffer.byteLength(sendRequest({ ...target, maxEnvelopeSize: max }, 'S'.repeat(36), 'C'.repeat(36), ch, true).xml) <= max, `≤ ${max}`);
  }
  assert.equal(stdinChunks(Buffer.alloc(0)), [Buffer.alloc(0)], 'an empty stdin still sends one (End) chunk');
  assert.throws(() => stdinChunkSize(2048), /too small/);
});

test('requests are well-formed XML to an independent parser (Python xml.etree) with the right namespaces', () => {
  const requests = [
    createShellRequest(target, { env: { 'A<': '"&' } }),
    commandRequest(target, 'S', POWERSHELL_COMMAND, POWERSHELL_ARGS),
    sendRequest(target, 'S', 'C', Buffer.from('x'), true),
    receiveRequest(target, 'S', 'C'),
    signalRequest(target, 'S', 'C'),
    deleteShellRequest(target, 'S'),
  ];
  const py = [
    'import sys, json, xml.etree.ElementTree as ET',
    'out = []',
    'for doc in json.load(sys.stdin):',
    '    r = ET.fromstring(doc.encode("utf-8"))',
    '    out.append(r.find("{http://www.w3.org/2003/05/soap-envelope}Header/{http://schemas.xmlsoap.org/ws/2004/08/addressing}Action").text)',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(requests.map((q) => q.xml)), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), [ACTION.create, ACTION.command, ACTION.send, ACTION.receive, ACTION.signal, ACTION.delete]);
});

// ---------------------------------------------------------------------------------------------
// Responses recorded from Windows (pywinrm's tests)

test('faults in one line with code and meaning: access denied, shell quota, envelope too large, shell gone', () => {
  const cases: [string, number, RegExp][] = [
    ['fault_access_denied.xml', 5, /^WSMan fault 5 \(0x5\): access denied: .*Remote Management Users.*target says: Access is denied\.$/],
    ['fault_shell_quota.xml', 2150859173, /shell quota reached: .*MaxShellsPerUser.*maximum number of 5 shells/],
    ['fault_envelope_too_large.xml', 2150858824, /envelope too large .*MaxEnvelopeSizekb/],
    ['fault_shell_not_found.xml', 2150858843, /the shell no longer exists/],
  ];
  for (const [file, code, re] of cases) {
    const f = parseResponse(magpie(file)).fault!;
    assert.is(f.wsmanCode, code, file);
    const line = describeFault(f);
    assert.match(line, re, file);
    assert.not.match(line, /[\r\n]/);
    assert.not.ok(isOperationTimeout(f));
  }
});

test('a running command: output split inside a UTF-8 character across chunks, stderr between, not done', () => {
  const r = receiveOf(parseResponse(magpie('receive_running.xml')), '7c1b4f2e-3d6a-4e8b-9c0d-1e2f3a4b5c6d');
  assert.is(r.state, 'Running');
  assert.not.ok(r.done);
  assert.is(r.exitCode, undefined);
  assert.is(Buffer.concat(r.streams.filter((s) => s.name === 'stdout').map((s) => s.data)).toString('utf8'), 'Grüße aus C:\\Users\\analyst — ✓\r\n');
  assert.equal(r.streams.map((s) => s.name), ['stdout', 'stderr', 'stdout'], 'order kept');
  const t = receiveOf(parseResponse(magpie('receive_terminated.xml')));
  assert.ok(t.done);
  assert.is(t.exitCode, -1073741510);
});

test.run();
