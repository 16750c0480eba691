// WS-Management (MS-WSMV) with the Windows Remote Shell: the SOAP envelopes Magpie sends (Create
// shell, Command, Send stdin, Receive, Signal, Delete shell) and reading what Windows answers
// (ShellId, CommandId, output streams, CommandState/ExitCode, and SOAP faults with the WSMan code
// and what it means). Host-agnostic: the HTTP layer sends these and names the host in errors.
import { randomUUID } from 'node:crypto';
import { WinrmMessageError } from './errors.ts';
import { child, childrenNamed, descendants, parseXml, path, XmlError, type XmlElement } from '../../xml.ts';

/** Parses one WS-Man message; malformed XML is a WinrmMessageError, as every other decoding failure here. */
export function parseWsmanXml(xml: string): XmlElement {
  try {
    return parseXml(xml);
  } catch (e) {
    throw e instanceof XmlError ? new WinrmMessageError(`XML: ${e.message}`) : e;
  }
}

/** Escapes text or an attribute value for inclusion in a request. */
export function escapeXml(s: string): string {
  // Characters XML 1.0 cannot carry at all are refused rather than silently dropped.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s)) throw new WinrmMessageError('XML cannot carry control characters; base64 the data');
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\r/g, '&#13;');
}

export const NS = {
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  x: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  f: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;

export const RESOURCE_CMD = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';

export const ACTION = {
  create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create',
  delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  command: `${NS.rsp}/Command`,
  send: `${NS.rsp}/Send`,
  receive: `${NS.rsp}/Receive`,
  signal: `${NS.rsp}/Signal`,
} as const;

export const SIGNAL = {
  terminate: `${NS.rsp}/signal/terminate`,
  ctrlC: `${NS.rsp}/signal/ctrl_c`,
  ctrlBreak: `${NS.rsp}/signal/ctrl_break`,
} as const;

export const COMMAND_STATE = {
  done: `${NS.rsp}/CommandState/Done`,
  running: `${NS.rsp}/CommandState/Running`,
  pending: `${NS.rsp}/CommandState/Pending`,
} as const;

/** Windows' default MaxEnvelopeSizekb is 500 (512000 bytes); Magpie asks for that unless told otherwise. */
export const DEFAULT_MAX_ENVELOPE_SIZE = 512000;

/** What every request's header carries. */
export interface WsmanTarget {
  /** e.g. http://host:5985/wsman */
  endpoint: string;
  maxEnvelopeSize?: number;
  /** w:OperationTimeout in seconds: how long a Receive long-polls before the normal w:TimedOut fault. */
  operationTimeoutSec?: number;
  locale?: string;
}

export interface WsmanRequest {
  xml: string;
  /** `uuid:…`, which the response's RelatesTo echoes. */
  messageId: string;
  action: string;
}

function envelope(
  t: WsmanTarget,
  action: string,
  parts: { shellId?: string; options?: Record<string, string>; body?: string; messageId?: string },
): WsmanRequest {
  const messageId = parts.messageId ?? `uuid:${randomUUID().toUpperCase()}`;
  const locale = escapeXml(t.locale ?? 'en-US');
  const selector = parts.shellId ? `<w:SelectorSet><w:Selector Name="ShellId">${escapeXml(parts.shellId)}</w:Selector></w:SelectorSet>` : '';
  const options = parts.options
    ? `<w:OptionSet>${Object.entries(parts.options)
        .map(([k, v]) => `<w:Option Name="${escapeXml(k)}">${escapeXml(v)}</w:Option>`)
        .join('')}</w:OptionSet>`
    : '';
  const xml =
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.s}" xmlns:a="${NS.a}" xmlns:w="${NS.w}" xmlns:p="${NS.p}" xmlns:rsp="${NS.rsp}">` +
    `<s:Header>` +
    `<a:To>${escapeXml(t.endpoint)}</a:To>` +
    `<a:ReplyTo><a:Address s:mustUnderstand="true">${ANONYMOUS}</a:Address></a:ReplyTo>` +
    `<w:MaxEnvelopeSize s:mustUnderstand="true">${t.maxEnvelopeSize ?? DEFAULT_MAX_ENVELOPE_SIZE}</w:MaxEnvelopeSize>` +
    `<a:MessageID>${messageId}</a:MessageID>` +
    `<w:Locale s:mustUnderstand="false" xml:lang="${locale}"/>` +
    `<p:DataLocale s:mustUnderstand="false" xml:lang="${locale}"/>` +
    `<w:OperationTimeout>PT${t.operationTimeoutSec ?? 20}.000S</w:OperationTimeout>` +
    `<w:ResourceURI s:mustUnderstand="true">${RESOURCE_CMD}</w:ResourceURI>` +
    `<a:Action s:mustUnderstand="true">${action}</a:Action>` +
    selector +
    options +
    `</s:Header>` +
    `<s:Body>${parts.body ?? ''}</s:Body>` +
    `</s:Envelope>`;
  return { xml, messageId, action };
}

export interface ShellOptions {
  workingDirectory?: string;
  env?: Record<string, string>;
  /** 65001 (UTF-8) so output is not mangled by the OEM code page. */
  codepage?: number;
  /** rsp:IdleTimeOut in seconds: the target deletes the shell after this long without a request. */
  idleTimeoutSec?: number;
}

export function createShellRequest(t: WsmanTarget, o: ShellOptions = {}): WsmanRequest {
  const env = o.env
    ? `<rsp:Environment>${Object.entries(o.env)
        .map(([k, v]) => `<rsp:Variable Name="${escapeXml(k)}">${escapeXml(v)}</rsp:Variable>`)
        .join('')}</rsp:Environment>`
    : '';
  const body =
    `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>` +
    (o.workingDirectory ? `<rsp:WorkingDirectory>${escapeXml(o.workingDirectory)}</rsp:WorkingDirectory>` : '') +
    env +
    (o.idleTimeoutSec ? `<rsp:IdleTimeOut>PT${o.idleTimeoutSec}S</rsp:IdleTimeOut>` : '') +
    `</rsp:Shell>`;
  return envelope(t, ACTION.create, { options: { WINRS_NOPROFILE: 'TRUE', WINRS_CODEPAGE: String(o.codepage ?? 65001) }, body });
}

/** The command Magpie runs in the shell: Windows PowerShell reading its script from stdin. */
export const POWERSHELL_COMMAND = 'powershell.exe';
export const POWERSHELL_ARGS = ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-'];

export function commandRequest(t: WsmanTarget, shellId: string, command: string, args: string[] = [], o: { skipCmdShell?: boolean } = {}): WsmanRequest {
  const body =
    `<rsp:CommandLine><rsp:Command>${escapeXml(command)}</rsp:Command>` +
    args.map((a) => `<rsp:Arguments>${escapeXml(a)}</rsp:Arguments>`).join('') +
    `</rsp:CommandLine>`;
  return envelope(t, ACTION.command, {
    shellId,
    options: { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: o.skipCmdShell === false ? 'FALSE' : 'TRUE' },
    body,
  });
}

export function sendRequest(t: WsmanTarget, shellId: string, commandId: string, data: Uint8Array, end = false): WsmanRequest {
  const body =
    `<rsp:Send><rsp:Stream Name="stdin" CommandId="${escapeXml(commandId)}"${end ? ' End="true"' : ''}>` +
    `${Buffer.from(data).toString('base64')}</rsp:Stream></rsp:Send>`;
  return envelope(t, ACTION.send, { shellId, body });
}

export function receiveRequest(t: WsmanTarget, shellId: string, commandId: string): WsmanRequest {
  const body = `<rsp:Receive><rsp:DesiredStream CommandId="${escapeXml(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`;
  return envelope(t, ACTION.receive, { shellId, options: { WSMAN_CMDSHELL_OPTION_KEEPALIVE: 'TRUE' }, body });
}

export function signalRequest(t: WsmanTarget, shellId: string, commandId: string, code: string = SIGNAL.terminate): WsmanRequest {
  const body = `<rsp:Signal CommandId="${escapeXml(commandId)}"><rsp:Code>${escapeXml(code)}</rsp:Code></rsp:Signal>`;
  return envelope(t, ACTION.signal, { shellId, body });
}

export function deleteShellRequest(t: WsmanTarget, shellId: string): WsmanRequest {
  return envelope(t, ACTION.delete, { shellId });
}

/**
 * The most stdin bytes one Send may carry so the envelope stays within `maxEnvelopeSize`: base64
 * grows data by 4/3, and the rest of the envelope is allowed a generous 4 KiB.
 */
export function stdinChunkSize(maxEnvelopeSize = DEFAULT_MAX_ENVELOPE_SIZE): number {
  const room = maxEnvelopeSize - 4096;
  if (room < 1024) throw new RangeError(`MaxEnvelopeSize ${maxEnvelopeSize} is too small to send stdin`);
  return Math.floor(room / 4) * 3;
}

/** Splits stdin into Send-sized chunks (at least one, so an empty stdin still sends End). */
export function stdinChunks(data: Uint8Array, maxEnvelopeSize?: number): Buffer[] {
  const size = stdinChunkSize(maxEnvelopeSize);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(Buffer.from(data.subarray(i, i + size)));
  return out.length ? out : [Buffer.alloc(0)];
}

// ---------------------------------------------------------------------------------------------
// Responses

export interface WsmanFault {
  /** s:Code/s:Value, e.g. s:Receiver, s:Sender. */
  code?: string;
  /** s:Subcode/s:Value, e.g. w:TimedOut, w:AccessDenied, w:QuotaLimit. */
  subcode?: string;
  reason?: string;
  /** WSManFault/@Code: a Win32 or WSMan error number. */
  wsmanCode?: number;
  machine?: string;
  /** WSManFault/f:Message, with any provider text inside it. */
  message?: string;
}

export interface WsmanResponse {
  action?: string;
  messageId?: string;
  relatesTo?: string;
  body: XmlElement;
  fault?: WsmanFault;
}

const squash = (s: string | undefined) => (s === undefined ? undefined : s.replace(/\s+/g, ' ').trim() || undefined);
const allText = (el: XmlElement): string => el.text + el.children.map(allText).join(' ');

/** Parses a response envelope; a SOAP fault is returned in `fault`, not thrown (a receive timeout is normal). */
export function parseResponse(xml: string | Buffer): WsmanResponse {
  const root = parseWsmanXml(typeof xml === 'string' ? xml : xml.toString('utf8'));
  if (root.ns !== NS.s || root.name !== 'Envelope') throw new WinrmMessageError(`not a SOAP 1.2 envelope (root <${root.name}>)`);
  const header = child(root, NS.s, 'Header');
  const body = child(root, NS.s, 'Body');
  if (!body) throw new WinrmMessageError('SOAP envelope without a Body');
  const res: WsmanResponse = {
    action: squash(child(header, NS.a, 'Action')?.text),
    messageId: squash(child(header, NS.a, 'MessageID')?.text),
    relatesTo: squash(child(header, NS.a, 'RelatesTo')?.text),
    body,
  };
  const fault = child(body, NS.s, 'Fault');
  if (fault) {
    const wsf = path(fault, [NS.s, 'Detail'], [NS.f, 'WSManFault']);
    const code = wsf?.attrs.Code;
    const msg = wsf && child(wsf, NS.f, 'Message');
    // CIM providers report through MSFT_WmiError instead of WSManFault (its namespace varies by class).
    const wmi = child(fault, NS.s, 'Detail')?.children.find((c) => c.name === 'MSFT_WmiError');
    const wmiField = (name: string) => squash(wmi?.children.find((c) => c.name === name)?.text);
    const wmiCode = wmiField('error_Code');
    const numeric = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : undefined);
    res.fault = {
      code: squash(path(fault, [NS.s, 'Code'], [NS.s, 'Value'])?.text),
      subcode: squash(path(fault, [NS.s, 'Code'], [NS.s, 'Subcode'], [NS.s, 'Value'])?.text),
      reason: squash(path(fault, [NS.s, 'Reason'], [NS.s, 'Text'])?.text),
      wsmanCode: numeric(code) ?? numeric(wmiCode),
      machine: wsf?.attrs.Machine,
      message: msg ? squash(allText(msg)) : (wmiField('Message') ?? wmiField('error_WindowsErrorMessage')),
    };
  }
  return res;
}

export const WSMAN_CODE = {
  ACCESS_DENIED: 5,
  OPERATION_ABORTED: 995,
  OPERATION_TIMEDOUT: 2150858793,
  UNEXPECTED_SELECTORS: 2150858843,
  QUOTA_LIMIT: 2150858815,
  QUOTA_MAX_SHELLS: 2150859173,
  QUOTA_MAX_OPERATIONS: 2150859174,
  QUOTA_USER: 2150859175,
  QUOTA_SYSTEM: 2150859176,
  QUOTA_MAX_SHELLUSERS: 2150859179,
  MAX_ENVELOPE_SIZE: 2150858823,
  MAX_ENVELOPE_SIZE_EXCEEDED: 2150858824,
  SERVER_ENVELOPE_LIMIT: 2150858825,
  REMOTESHELLS_NOT_ALLOWED: 2150859180,
  RESOURCE_NOT_FOUND: 2150858752,
  SCHEMA_VALIDATION_ERROR: 2150858817,
  INVALID_XML: 2150858819,
  SHELL_ALREADY_CLOSED: 2150859082,
} as const;

const MEANING: Record<number, string> = {
  [WSMAN_CODE.ACCESS_DENIED]: 'access denied: the account may not use WinRM here (it must be in Administrators or Remote Management Users)',
  [WSMAN_CODE.OPERATION_ABORTED]: 'the operation was aborted on the target',
  [WSMAN_CODE.OPERATION_TIMEDOUT]: 'the operation timed out on the target (normal for a Receive long poll)',
  [WSMAN_CODE.UNEXPECTED_SELECTORS]: 'the shell no longer exists on the target (closed, idle timeout, or WinRM restarted)',
  [WSMAN_CODE.QUOTA_LIMIT]: 'a WinRM quota on the target was reached',
  [WSMAN_CODE.QUOTA_MAX_SHELLS]: 'shell quota reached: this user already has MaxShellsPerUser shells open on the target',
  [WSMAN_CODE.QUOTA_MAX_OPERATIONS]: 'operation quota reached (MaxConcurrentOperationsPerUser on the target)',
  [WSMAN_CODE.QUOTA_USER]: 'the user quota on the target was reached',
  [WSMAN_CODE.QUOTA_SYSTEM]: 'the system-wide WinRM quota on the target was reached',
  [WSMAN_CODE.QUOTA_MAX_SHELLUSERS]: 'too many users have shells open on the target (MaxConcurrentUsers)',
  [WSMAN_CODE.MAX_ENVELOPE_SIZE]: 'envelope too large for the target (MaxEnvelopeSizekb): lower the chunk size or raise the limit',
  [WSMAN_CODE.MAX_ENVELOPE_SIZE_EXCEEDED]: 'envelope too large for the target (MaxEnvelopeSizekb): lower the chunk size or raise the limit',
  [WSMAN_CODE.SERVER_ENVELOPE_LIMIT]: 'the response would exceed the envelope size the client asked for',
  [WSMAN_CODE.REMOTESHELLS_NOT_ALLOWED]: 'remote shells are disabled on the target (AllowRemoteShellAccess=false)',
  [WSMAN_CODE.RESOURCE_NOT_FOUND]: 'the WinRM resource was not found on the target',
  [WSMAN_CODE.SCHEMA_VALIDATION_ERROR]: 'the target rejected the request as invalid (schema validation)',
  [WSMAN_CODE.INVALID_XML]: 'the target rejected the request as invalid XML',
  [WSMAN_CODE.SHELL_ALREADY_CLOSED]: 'the shell was already closed on the target',
};

const SUBCODE_MEANING: Record<string, string> = {
  AccessDenied: MEANING[WSMAN_CODE.ACCESS_DENIED],
  TimedOut: MEANING[WSMAN_CODE.OPERATION_TIMEDOUT],
  QuotaLimit: MEANING[WSMAN_CODE.QUOTA_LIMIT],
  EncodingLimit: MEANING[WSMAN_CODE.MAX_ENVELOPE_SIZE],
  SchemaValidationError: MEANING[WSMAN_CODE.SCHEMA_VALIDATION_ERROR],
  DestinationUnreachable: 'the WinRM resource or shell is not available on the target',
  InvalidSelectors: MEANING[WSMAN_CODE.UNEXPECTED_SELECTORS],
  ActionNotSupported: 'the target does not support this WS-Management action',
};

/** The long-poll Receive timeout: not an error, just "no output yet", ask again. */
export function isOperationTimeout(f: WsmanFault | undefined): boolean {
  return !!f && (f.wsmanCode === WSMAN_CODE.OPERATION_TIMEDOUT || /(^|:)TimedOut$/.test(f.subcode ?? ''));
}

/** One line: the WSMan code, what it means, and the target's own words. */
export function describeFault(f: WsmanFault): string {
  const sub = f.subcode?.replace(/^.*:/, '');
  const meaning = (f.wsmanCode !== undefined ? MEANING[f.wsmanCode] : undefined) ?? (sub ? SUBCODE_MEANING[sub] : undefined);
  const code = f.wsmanCode !== undefined ? `WSMan fault ${f.wsmanCode} (0x${f.wsmanCode.toString(16).toUpperCase()})` : `SOAP fault ${f.subcode ?? f.code ?? 'without a code'}`;
  const said = f.message ?? f.reason ?? 'no error message in fault';
  return `${code}: ${meaning ? `${meaning}; ` : ''}target says: ${said}`.replace(/[\r\n]+/g, ' ');
}

function expectAction(res: WsmanResponse, action: string): void {
  if (res.fault) throw new WinrmMessageError(`expected ${action}, got a fault: ${describeFault(res.fault)}`);
  if (res.action && res.action !== action) throw new WinrmMessageError(`expected ${action}, got ${res.action}`);
}

/** The ShellId from a Create response (a selector in ResourceCreated, or rsp:Shell/rsp:ShellId). */
export function shellIdOf(res: WsmanResponse): string {
  expectAction(res, `${ACTION.create}Response`);
  const sel = descendants(res.body, NS.w, 'Selector').find((s) => s.attrs.Name === 'ShellId');
  const id = squash(sel?.text) ?? squash(path(res.body, [NS.rsp, 'Shell'], [NS.rsp, 'ShellId'])?.text);
  if (!id) throw new WinrmMessageError('Create response without a ShellId');
  return id;
}

export function commandIdOf(res: WsmanResponse): string {
  expectAction(res, `${ACTION.command}Response`);
  const id = squash(path(res.body, [NS.rsp, 'CommandResponse'], [NS.rsp, 'CommandId'])?.text);
  if (!id) throw new WinrmMessageError('Command response without a CommandId');
  return id;
}

export interface StreamChunk {
  name: string;
  commandId?: string;
  data: Buffer;
  end: boolean;
}

export interface ReceiveResult {
  streams: StreamChunk[];
  /** The CommandState URI's last segment: Done, Running or Pending (undefined when absent). */
  state?: string;
  done: boolean;
  exitCode?: number;
}

/** Output from a Receive response: the stream chunks in order, and whether (and how) the command ended. */
export function receiveOf(res: WsmanResponse, commandId?: string): ReceiveResult {
  expectAction(res, `${ACTION.receive}Response`);
  const rr = child(res.body, NS.rsp, 'ReceiveResponse');
  if (!rr) throw new WinrmMessageError('Receive response without rsp:ReceiveResponse');
  const streams: StreamChunk[] = [];
  for (const s of childrenNamed(rr, NS.rsp, 'Stream')) {
    if (commandId && s.attrs.CommandId && s.attrs.CommandId.toUpperCase() !== commandId.toUpperCase()) continue;
    const b64 = /\s/.test(s.text) ? s.text.replace(/\s+/g, '') : s.text;
    // Node's decoder skips what is not base64, so a decoded length short of what the text's length
    // promises is the check (a regex over every megabyte of output cost more than the decoding).
    const data = Buffer.from(b64, 'base64');
    const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    const eq = b64.indexOf('=');
    if (b64.length % 4 !== 0 || data.length !== (b64.length / 4) * 3 - pad || (eq !== -1 && eq < b64.length - pad)) throw new WinrmMessageError(`stream ${s.attrs.Name} is not base64`);
    streams.push({ name: s.attrs.Name ?? '', commandId: s.attrs.CommandId, data, end: s.attrs.End === 'true' });
  }
  const cs = child(rr, NS.rsp, 'CommandState');
  const state = cs?.attrs.State?.replace(/^.*\//, '');
  const exit = squash(cs && child(cs, NS.rsp, 'ExitCode')?.text);
  return {
    streams,
    state,
    done: cs?.attrs.State === COMMAND_STATE.done,
    exitCode: exit !== undefined && /^-?\d+$/.test(exit) ? Number(exit) : undefined,
  };
}

/** Checks a Send/Signal/Delete response is the expected empty acknowledgement. */
export function expectAck(res: WsmanResponse, action: string): void {
  expectAction(res, `${action}Response`);
}
