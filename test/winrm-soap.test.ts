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
  expectAck,
  isOperationTimeout,
  NS,
  parseResponse,
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
import { child, escapeXml, parseXml, path, type XmlElement } from '../lib/session/winrm/xml.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'winrm');
const pywinrm = (name: string) => readFileSync(join(FIX, 'pywinrm', name), 'utf8').replace(/%s/g, '1');
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

test('requests have the shape of pywinrm\'s: Create, Command, Send, Receive, Signal, Delete', () => {
  const pairs: [string, string][] = [
    [createShellRequest(target).xml, pywinrm('open_shell_request.xml')],
    [commandRequest(target, 'S', 'ipconfig', ['/all']).xml, pywinrm('run_cmd_with_args_request.xml')],
    [sendRequest(target, 'S', 'C', Buffer.from('echo "hello world" && exit\r\n')).xml, pywinrm('run_cmd_send_input.xml')],
    [signalRequest(target, 'S', 'C').xml, pywinrm('cleanup_cmd_request.xml')],
    [deleteShellRequest(target, 'S').xml, pywinrm('close_shell_request.xml')],
  ];
  for (const [ours, theirs] of pairs) {
    assert.equal(shape(body(ours)), shape(body(theirs)));
    const h = (x: string) => new Set(shape(header(x)));
    assert.equal(h(ours), h(theirs), 'the same header elements');
    const action = (x: string) => child(header(x), NS.a, 'Action')!.text;
    assert.is(action(ours), action(theirs));
  }
  // Receive: pywinrm asks without the keep-alive option; Magpie adds it (as Windows' own client does).
  const recv = receiveRequest(target, 'S', 'C').xml;
  assert.equal(shape(body(recv)), shape(body(pywinrm('get_cmd_ps_output_request.xml'))));
  const opt = path(header(recv), [NS.w, 'OptionSet'], [NS.w, 'Option'])!;
  assert.is(opt.attrs.Name, 'WSMAN_CMDSHELL_OPTION_KEEPALIVE');
});

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

test('recorded: Create → ShellId, Command → CommandId, Send/Signal/Delete acknowledgements', () => {
  assert.is(shellIdOf(parseResponse(pywinrm('open_shell_response.xml'))), '11111111-1111-1111-1111-111111111113');
  assert.is(commandIdOf(parseResponse(readFileSync(join(FIX, 'pywinrm', 'run_cmd_ps_response_1.xml'), 'utf8'))), '11111111-1111-1111-1111-111111111114');
  assert.is(commandIdOf(parseResponse(readFileSync(join(FIX, 'pywinrm', 'run_cmd_ps_response_2.xml'), 'utf8'))), '11111111-1111-1111-1111-111111111124');
  assert.is(commandIdOf(parseResponse(pywinrm('run_cmd_req_input_response.xml'))), '11111111-1111-1111-1111-111111111111');
  expectAck(parseResponse(pywinrm('run_cmd_send_input_response.xml')), ACTION.send);
  expectAck(parseResponse(pywinrm('cleanup_cmd_response.xml')), ACTION.signal);
  expectAck(parseResponse(pywinrm('stdin_cmd_cleanup_response.xml')), ACTION.signal);
  expectAck(parseResponse(pywinrm('close_shell_response.xml')), ACTION.delete);
  const r = parseResponse(pywinrm('open_shell_response.xml'));
  assert.is(r.relatesTo, 'uuid:11111111-1111-1111-1111-111111111111');
  assert.throws(() => commandIdOf(r), (e: unknown) => e instanceof WinrmMessageError && /expected/.test(e.message), 'an unexpected action is refused');
});

test('recorded: Receive of ipconfig /all (stdout, Done, exit 0)', () => {
  const r = receiveOf(parseResponse(pywinrm('get_cmd_output_response.xml')), '11111111-1111-1111-1111-111111111114');
  const stdout = Buffer.concat(r.streams.filter((s) => s.name === 'stdout').map((s) => s.data)).toString('utf8');
  assert.match(stdout, /^\r\nWindows IP Configuration\r\n/);
  assert.match(stdout, /Host Name . . . . . . . . . . . . : WINDOWS-HOST/);
  assert.ok(r.streams.filter((s) => s.end).map((s) => s.name).sort().join() === 'stderr,stdout');
  assert.ok(r.done);
  assert.is(r.state, 'Done');
  assert.is(r.exitCode, 0);
});

test('recorded: Receive of a PowerShell Write-Error (CLIXML on stderr, exit 1), attributes in any order', () => {
  const r = receiveOf(parseResponse(pywinrm('get_ps_output_response.xml')));
  const stderr = Buffer.concat(r.streams.filter((s) => s.name === 'stderr').map((s) => s.data)).toString('utf8');
  assert.match(stderr, /^#< CLIXML\r\n<Objs Version="1.1.0.1"/);
  assert.match(stderr, /Write-Error "Error"/);
  assert.is(r.exitCode, 1);
  assert.ok(r.done);
});

test('recorded: Receive after stdin (cmd echo hello world)', () => {
  const r = receiveOf(parseResponse(pywinrm('run_cmd_send_input_get_output_response.xml')), '11111111-1111-1111-1111-111111111111');
  const stdout = Buffer.concat(r.streams.map((s) => s.data)).toString('utf8');
  assert.match(stdout, /hello world/);
  assert.ok(r.done);
  assert.is(r.exitCode, 0);
  assert.is(receiveOf(parseResponse(pywinrm('run_cmd_send_input_get_output_response.xml')), 'OTHER').streams.length, 0, 'streams of another command are not ours');
});

test('recorded faults: MustUnderstand, no reason, TimedOut (normal), SchemaValidationError, MSFT_WmiError', () => {
  const mu = parseResponse(pywinrm('fault_wsman_fault_must_understand.xml')).fault!;
  assert.equal({ code: mu.code, subcode: mu.subcode, wsmanCode: mu.wsmanCode, reason: mu.reason }, { code: 's:MustUnderstand', subcode: undefined, wsmanCode: undefined, reason: 'Test reason.' });
  assert.is(describeFault(mu), 'SOAP fault s:MustUnderstand: target says: Test reason.');

  const none = parseResponse(pywinrm('fault_wsman_fault_no_reason.xml')).fault!;
  assert.is(none.code, 's:Unknown');
  assert.match(describeFault(none), /no error message in fault/);

  const to = parseResponse(pywinrm('fault_wsman_fault_known_fault.xml')).fault!;
  assert.ok(isOperationTimeout(to));
  assert.is(to.wsmanCode, 2150858793);
  assert.is(to.machine, 'server2022.domain.test');

  const sv = parseResponse(pywinrm('fault_wsman_fault_with_wsmanfault.xml')).fault!;
  assert.equal({ code: sv.code, subcode: sv.subcode, wsmanCode: sv.wsmanCode, message: sv.message }, { code: 's:Sender', subcode: 'w:SchemaValidationError', wsmanCode: 2150858817, message: 'Detail message.' });
  assert.not.ok(isOperationTimeout(sv));
  assert.is(describeFault(sv), 'WSMan fault 2150858817 (0x80338041): the target rejected the request as invalid (schema validation); target says: Detail message.');

  const wmi = parseResponse(pywinrm('fault_wsman_fault_wmi_error_detail.xml')).fault!;
  assert.is(wmi.wsmanCode, 2150859174);
  assert.is(wmi.message, 'WMI Message.');
  assert.match(describeFault(wmi), /operation quota reached/);
  assert.throws(() => shellIdOf(parseResponse(pywinrm('fault_wsman_fault_with_wsmanfault.xml'))), (e: unknown) => e instanceof WinrmMessageError && /2150858817/.test(e.message));
});

// ---------------------------------------------------------------------------------------------
// Magpie's fixtures

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

test('not WinRM: HTML error pages, SOAP 1.1, and non-base64 streams are WinrmMessageError', () => {
  assert.throws(() => parseResponse('<html><body>502 Bad Gateway</body></html>'), (e: unknown) => e instanceof WinrmMessageError);
  assert.throws(() => parseResponse('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'), (e: unknown) => e instanceof WinrmMessageError);
  const bad = pywinrm('get_cmd_output_response.xml').replace('DQpXaW5kb3dzIElQIENvbmZpZ3VyYXRpb24NCg0K', 'not base64!');
  assert.throws(() => receiveOf(parseResponse(bad)), (e: unknown) => e instanceof WinrmMessageError);
});

test.run();
