// Real Windows traffic: the responses pywinrm's own tests replay (recorded from a Windows host:
// Create, Command, Receive with `ipconfig /all` output and exit code, Signal, Delete) and the
// requests they expect, read from Debian's python3-winrm package where it ships them
// (winrm/tests/conftest.py) rather than copied into this repository. Magpie's parser must read
// every response, and Magpie's requests must have the same shape as the ones Windows accepted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { ACTION, commandIdOf, commandRequest, createShellRequest, deleteShellRequest, expectAck, parseResponse, parseWsmanXml, receiveOf, receiveRequest, shellIdOf, SIGNAL, signalRequest, type WsmanTarget } from '../lib/session/winrm/soap.ts';
import { child, path, type XmlElement } from '../lib/xml.ts';
import { pywinrmOrFail } from './winrm-server.ts';

const CONFTEST = '/usr/lib/python3/dist-packages/winrm/tests/conftest.py';

function recorded(): Record<string, string> {
  pywinrmOrFail();
  if (!existsSync(CONFTEST)) throw new Error(`${CONFTEST} is missing: Debian's python3-winrm ships pywinrm's tests there (apt-get install --reinstall python3-winrm)`);
  const out: Record<string, string> = {};
  for (const m of readFileSync(CONFTEST, 'utf8').matchAll(/^(\w+) = """\\\n([\s\S]*?)"""/gm)) out[m[1]] = m[2];
  for (const name of ['open_shell_response', 'run_cmd_response', 'get_cmd_output_response', 'cleanup_cmd_response', 'close_shell_response', 'open_shell_request', 'run_cmd_with_args_request', 'get_cmd_output_request', 'cleanup_cmd_request', 'close_shell_request']) {
    if (!out[name]) throw new Error(`${CONFTEST} has no ${name}: the package's layout changed`);
  }
  return out;
}

const R = recorded();
const SHELL = '11111111-1111-1111-1111-111111111113';
const COMMAND = '11111111-1111-1111-1111-111111111114';
const target: WsmanTarget = { endpoint: 'http://windows-host:5985/wsman', maxEnvelopeSize: 153600, operationTimeoutSec: 20 };

test('responses recorded from Windows: shell and command ids, streamed output and exit code, acknowledgements', () => {
  assert.is(shellIdOf(parseResponse(R.open_shell_response)), SHELL);
  assert.is(commandIdOf(parseResponse(R.run_cmd_response)), COMMAND);
  const out = receiveOf(parseResponse(R.get_cmd_output_response), COMMAND);
  assert.ok(out.done);
  assert.is(out.exitCode, 0);
  const stdout = Buffer.concat(out.streams.filter((s) => s.name === 'stdout').map((s) => s.data)).toString('utf8');
  assert.match(stdout, /Windows IP Configuration/);
  assert.match(stdout, /Host Name \. \. \. \. \. \. \. \. \. \. \. \. : WINDOWS-HOST/);
  assert.ok(out.streams.some((s) => s.name === 'stderr' && s.end), 'stderr ends');
  expectAck(parseResponse(R.cleanup_cmd_response), ACTION.signal);
  expectAck(parseResponse(R.close_shell_response), ACTION.delete);
  // A response for another command's streams is not mistaken for ours.
  assert.equal(receiveOf(parseResponse(R.get_cmd_output_response), '22222222-2222-2222-2222-222222222222').streams, []);
});

/** What a WinRM service looks at: addressing, the resource, the action, selectors, options and the body, without message ids. */
function shape(xml: string, options = false): unknown {
  const env = parseWsmanXml(xml);
  const header = env.children.find((c) => c.name === 'Header')!;
  const body = env.children.find((c) => c.name === 'Body')!;
  const text = (name: string) => header.children.find((c) => c.name === name)?.text.trim();
  const selectors = header.children.find((c) => c.name === 'SelectorSet')?.children.map((s) => [s.attrs.Name, s.text.trim()]);
  const tree = (e: XmlElement): unknown => ({
    el: `${e.ns} ${e.name}`,
    attrs: Object.fromEntries(Object.entries(e.attrs).filter(([k]) => !k.startsWith('xmlns'))),
    ...(e.children.length ? { children: e.children.map(tree) } : { text: e.text.trim() }),
  });
  return {
    to: text('To'),
    action: text('Action'),
    resource: text('ResourceURI'),
    maxEnvelope: text('MaxEnvelopeSize'),
    // xs:duration: PT20S and PT20.000S are the same 20 seconds.
    timeout: Number(/^PT([\d.]+)S$/.exec(text('OperationTimeout') ?? '')?.[1]),
    selectors,
    ...(options ? { options: header.children.find((c) => c.name === 'OptionSet')?.children.map((o) => [o.attrs.Name, o.text.trim()]) } : {}),
    body: body.children.map(tree),
  };
}

test("Magpie's requests have the shape of the ones pywinrm sends Windows: Command, Receive, Signal, Delete", () => {
  assert.equal(shape(commandRequest(target, SHELL, 'ipconfig', ['/all'], { skipCmdShell: false }).xml), shape(R.run_cmd_with_args_request));
  assert.equal(shape(receiveRequest(target, SHELL, COMMAND).xml), shape(R.get_cmd_output_request));
  assert.equal(shape(signalRequest(target, SHELL, COMMAND, SIGNAL.terminate).xml), shape(R.cleanup_cmd_request));
  assert.equal(shape(deleteShellRequest(target, SHELL).xml), shape(R.close_shell_request));
});

test('Create: the same action, resource and streams; Magpie asks for UTF-8 (65001) where pywinrm asks for code page 437', () => {
  const ours = createShellRequest(target).xml;
  const theirs = R.open_shell_request;
  const { body: ourBody, ...ourHeader } = shape(ours) as Record<string, unknown>;
  const { body: theirBody, ...theirHeader } = shape(theirs) as Record<string, unknown>;
  assert.equal(ourHeader, theirHeader);
  const streams = (xml: string) => {
    const shell = child(parseWsmanXml(xml).children.find((c) => c.name === 'Body')!, 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell', 'Shell')!;
    return shell.children.filter((c) => c.name.endsWith('Streams')).map((c) => [c.name, c.text.trim()]);
  };
  assert.equal(streams(ours), streams(theirs));
  assert.ok(ourBody && theirBody);
  const codepage = (xml: string) => path(parseWsmanXml(xml), ['http://www.w3.org/2003/05/soap-envelope', 'Header'], ['http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd', 'OptionSet'])?.children.find((o) => o.attrs.Name === 'WINRS_CODEPAGE')?.text;
  assert.is(codepage(theirs), '437');
  assert.is(codepage(ours), '65001');
});

test.run();
