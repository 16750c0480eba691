// A WinRM endpoint for tests, since nothing here can reach Windows: node:http on loopback speaking
// the service side of WS-Management / Windows Remote Shell, with NTLM authentication (per TCP
// connection, as IIS/HTTP.sys do) and message encryption required (AllowUnencrypted=false, the
// Windows default). Commands run as real local processes; `powershell`/`powershell.exe` is the
// local pwsh. Debian's python3-winrm must accept it (test/winrm-server.test.ts), so it cannot
// simply agree with Magpie's own mistakes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { decryptMessage, encryptedContentType, encryptMessage, isEncrypted, type MessageSealer } from '../lib/session/winrm/encryption.ts';
import { GssContext } from '../lib/session/winrm/gssapi.ts';
import { acceptAuthenticate, AvId, challengeMessage, channelBindingsHash, CLIENT_FLAGS, fileTimeNow, NegotiateFlags, type NtlmSecurity, parseNegotiate } from '../lib/session/winrm/ntlm.ts';
import { tlsServerEndPoint } from '../lib/session/winrm/tls.ts';
import { ACTION, COMMAND_STATE, escapeXml, NS, SIGNAL, WSMAN_CODE } from '../lib/session/winrm/soap.ts';
import { child, childrenNamed, parseXml, path, type XmlElement } from '../lib/xml.ts';

export const PYTHON = '/usr/bin/python3';

/** Debian's python3-winrm (pywinrm, requests-ntlm, requests-kerberos), installed when missing: the independent client, and its recorded Windows traffic. */
export function pywinrmOrFail(): void {
  const probe = () => spawnSync(PYTHON, ['-c', 'import winrm, requests_ntlm, requests_kerberos, kerberos, cryptography'], { encoding: 'utf8' });
  if (probe().status === 0) return;
  const r = spawnSync('apt-get', ['install', '-y', 'python3-winrm', 'python3-requests-kerberos'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (probe().status !== 0) {
    throw new Error(`These tests need Debian's python3-winrm and python3-requests-kerberos: run \`apt-get install -y python3-winrm python3-requests-kerberos\` (as root). apt-get said: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-400)}`);
  }
}

export interface WinrmServerOptions {
  /** user (without domain) → password. */
  users: Record<string, string>;
  pwsh: string;
  /** Upper bound for a Receive long poll, whatever OperationTimeout the client asks (ms). */
  maxPollMs?: number;
  /** MaxEnvelopeSizekb × 1024: larger requests get the Windows fault. */
  maxEnvelopeSize?: number;
  /** HTTPS (the 5986 listener): PEM key and certificate. Messages may then travel plain inside TLS. */
  tls?: { key: string; cert: string };
  /** HTTPS only: accept Basic authentication too. */
  basic?: boolean;
  /** Kerberos through Negotiate too, with the service keys of KRB5_KTNAME's keytab (test/kdc.ts). */
  kerberos?: boolean;
  /** HTTPS: Extended Protection "Strict": NTLM must carry the channel binding of this certificate. */
  requireChannelBinding?: boolean;
}

export interface TestCertificate {
  key: string;
  cert: string;
  certFile: string;
  der: Buffer;
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI (RSA/SHA-256, or EC P-384/SHA-384). */
export function makeCertificate(dir: string, kind: 'rsa' | 'ec384' = 'rsa'): TestCertificate {
  const keyFile = join(dir, `${kind}.key`);
  const certFile = join(dir, `${kind}.pem`);
  const algo = kind === 'rsa' ? ['-newkey', 'rsa:2048', '-sha256'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'];
  const r = spawnSync('openssl', ['req', '-x509', ...algo, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed (the openssl CLI is needed: apt-get install -y openssl): ${r.stderr || r.error}`);
  const cert = readFileSync(certFile, 'utf8');
  return { key: readFileSync(keyFile, 'utf8'), cert, certFile, der: new X509Certificate(cert).raw };
}

export interface WinrmServerStats {
  handshakes: number;
  authFailures: number;
  encryptedRequests: number;
  plainRefused: number;
  actions: string[];
  /** The MsvAvFlags/MIC state of each accepted AUTHENTICATE. */
  micSeen: number;
  /** HTTPS: NTLM handshakes whose channel binding matched this certificate, and those refused for it. */
  cbtMatched: number;
  cbtRejected: number;
  basicAccepted: number;
  /** HTTPS: SOAP messages that came plain inside TLS. */
  tlsPlainRequests: number;
  /** Kerberos: the client principals accepted, in order. */
  kerberosAccepted: string[];
}

export interface WinrmServer {
  url: string;
  port: number;
  stats: WinrmServerStats;
  /** Shells open now (a client that deletes its shell leaves none). */
  openShells(): number;
  /** Closes every idle keep-alive connection, as a server restart or an idle timeout would (the NTLM context goes with it). */
  dropConnections(): void;
  close(): Promise<void>;
}

interface Conn {
  negotiate?: Buffer;
  challenge?: Buffer;
  security?: MessageSealer;
}

interface Command {
  proc: ChildProcess;
  out: { name: 'stdout' | 'stderr'; data: Buffer }[];
  /** Bytes in `out`: past a limit the command's output pipes are paused until a Receive drains them. */
  buffered: number;
  exitCode?: number;
  closed: boolean;
  wake: Set<() => void>;
}

interface Shell {
  commands: Map<string, Command>;
}

class Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly subcode: string,
    readonly wsmanCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Windows command-line splitting, enough for `powershell -encodedcommand …` and quoted arguments. */
function splitCommandLine(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]);
  return out;
}

const OUTPUT_BUFFER = 4 * 1024 * 1024;

export async function startWinrmServer(opts: WinrmServerOptions): Promise<WinrmServer> {
  const conns = new WeakMap<Socket, Conn>();
  const shells = new Map<string, Shell>();
  const stats: WinrmServerStats = { handshakes: 0, authFailures: 0, encryptedRequests: 0, plainRefused: 0, actions: [], micSeen: 0, cbtMatched: 0, cbtRejected: 0, basicAccepted: 0, tlsPlainRequests: 0, kerberosAccepted: [] };
  const expectedCbt = opts.tls ? channelBindingsHash(tlsServerEndPoint(new X509Certificate(opts.tls.cert).raw)) : undefined;
  const maxPollMs = opts.maxPollMs ?? 20000;
  const maxEnvelope = opts.maxEnvelopeSize ?? 512000;
  let port = 0;

  const envelope = (action: string, relatesTo: string | undefined, body: string) =>
    `<s:Envelope xml:lang="en-US" xmlns:s="${NS.s}" xmlns:a="${NS.a}" xmlns:x="${NS.x}" xmlns:w="${NS.w}" xmlns:rsp="${NS.rsp}" xmlns:p="${NS.p}">` +
    `<s:Header><a:Action>${action}</a:Action><a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID>` +
    `<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>` +
    (relatesTo ? `<a:RelatesTo>${escapeXml(relatesTo)}</a:RelatesTo>` : '') +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`;

  const faultXml = (f: Fault, relatesTo: string | undefined) =>
    envelope(
      'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
      relatesTo,
      `<s:Fault><s:Code><s:Value>s:${f.code}</s:Value><s:Subcode><s:Value>w:${f.subcode}</s:Value></s:Subcode></s:Code>` +
        `<s:Reason><s:Text xml:lang="en-US">${escapeXml(f.message)}</s:Text></s:Reason>` +
        `<s:Detail><f:WSManFault xmlns:f="${NS.f}" Code="${f.wsmanCode}" Machine="127.0.0.1"><f:Message>${escapeXml(f.message)}</f:Message></f:WSManFault></s:Detail></s:Fault>`,
    );

  const shellOf = (header: XmlElement): [string, Shell] => {
    const id = childrenNamed(child(header, NS.w, 'SelectorSet'), NS.w, 'Selector').find((s) => s.attrs.Name === 'ShellId')?.text.trim() ?? '';
    const shell = shells.get(id);
    if (!shell) throw new Fault(500, 'Sender', 'InvalidSelectors', WSMAN_CODE.UNEXPECTED_SELECTORS, `The request for the Windows Remote Shell with ShellId ${id} failed because the shell was not found on the server.`);
    return [id, shell];
  };
  const commandOf = (shell: Shell, id: string | undefined): Command => {
    const cmd = id ? shell.commands.get(id.toUpperCase()) : undefined;
    if (!cmd) throw new Fault(500, 'Sender', 'InvalidSelectors', WSMAN_CODE.UNEXPECTED_SELECTORS, `The command ${id} was not found in the shell.`);
    return cmd;
  };
  const stop = (cmd: Command, signal: NodeJS.Signals) => {
    if (cmd.closed || cmd.proc.pid === undefined) return;
    try {
      process.kill(-cmd.proc.pid, signal); // its whole process group, as Windows ends the job
    } catch {
      /* already gone */
    }
  };

  async function soap(xml: string): Promise<{ status: number; xml: string }> {
    const doc = parseXml(xml);
    const header = child(doc, NS.s, 'Header');
    const body = child(doc, NS.s, 'Body');
    if (!header || !body) throw new Fault(400, 'Sender', 'SchemaValidationError', WSMAN_CODE.SCHEMA_VALIDATION_ERROR, 'No SOAP header or body.');
    const action = child(header, NS.a, 'Action')?.text.trim() ?? '';
    const relatesTo = child(header, NS.a, 'MessageID')?.text.trim();
    stats.actions.push(action.replace(/^.*\//, ''));
    const ok = (bodyXml: string) => ({ status: 200, xml: envelope(`${action}Response`, relatesTo, bodyXml) });

    switch (action) {
      case ACTION.create: {
        const id = randomUUID().toUpperCase();
        shells.set(id, { commands: new Map() });
        return ok(
          `<x:ResourceCreated><a:Address>http://127.0.0.1:${port}/wsman</a:Address><a:ReferenceParameters>` +
            `<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>` +
            `<w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
            `<rsp:Shell><rsp:ShellId>${id}</rsp:ShellId></rsp:Shell>`,
        );
      }
      case ACTION.command: {
        const [, shell] = shellOf(header);
        const line = child(body, NS.rsp, 'CommandLine');
        // Windows hands the program one command line: Command and every Arguments joined by spaces
        // (pywinrm sends all arguments in one Arguments element), which the program splits again.
        const words = splitCommandLine([child(line, NS.rsp, 'Command')?.text ?? '', ...childrenNamed(line, NS.rsp, 'Arguments').map((a) => a.text)].join(' '));
        if (!words.length) throw new Fault(400, 'Sender', 'SchemaValidationError', WSMAN_CODE.SCHEMA_VALIDATION_ERROR, 'No command.');
        const exe = /^powershell(\.exe)?$/i.test(words[0]) ? opts.pwsh : words[0];
        const proc = spawn(exe, words.slice(1), { stdio: 'pipe', detached: true });
        const cmd: Command = { proc, out: [], buffered: 0, closed: false, wake: new Set() };
        const wake = () => {
          for (const w of cmd.wake) w();
          cmd.wake.clear();
        };
        // As WinRS, which holds a bounded amount of a command's output: a command that writes faster
        // than the client receives waits on its pipe, and the service's memory stays bounded.
        const output = (name: 'stdout' | 'stderr') => (d: Buffer) => {
          cmd.out.push({ name, data: d });
          cmd.buffered += d.length;
          if (cmd.buffered > OUTPUT_BUFFER) (proc.stdout!.pause(), proc.stderr!.pause());
          wake();
        };
        proc.stdout!.on('data', output('stdout'));
        proc.stderr!.on('data', output('stderr'));
        proc.stdin!.on('error', () => {});
        proc.on('error', (e) => {
          cmd.out.push({ name: 'stderr', data: Buffer.from(`'${words[0]}' is not recognized as an internal or external command (${e.message})\r\n`) });
          cmd.exitCode = 1;
          cmd.closed = true;
          wake();
        });
        proc.on('close', (code, signal) => {
          cmd.exitCode = code ?? (signal === 'SIGINT' ? -1073741510 : 1);
          cmd.closed = true;
          wake();
        });
        const id = randomUUID().toUpperCase();
        shell.commands.set(id, cmd);
        return ok(`<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`);
      }
      case ACTION.send: {
        const [, shell] = shellOf(header);
        for (const s of childrenNamed(child(body, NS.rsp, 'Send'), NS.rsp, 'Stream')) {
          const cmd = commandOf(shell, s.attrs.CommandId);
          if (s.attrs.Name !== 'stdin') throw new Fault(400, 'Sender', 'InvalidParameter', 2150859147, `Unknown input stream ${s.attrs.Name}.`);
          const data = Buffer.from(s.text.trim(), 'base64');
          if (data.length && !cmd.closed) cmd.proc.stdin!.write(data);
          if (s.attrs.End === 'true') cmd.proc.stdin!.end();
        }
        return ok('<rsp:SendResponse/>');
      }
      case ACTION.receive: {
        const [, shell] = shellOf(header);
        const desired = path(body, [NS.rsp, 'Receive'], [NS.rsp, 'DesiredStream']);
        const id = desired?.attrs.CommandId;
        const cmd = commandOf(shell, id);
        const timeout = /^PT(\d+(?:\.\d+)?)S$/.exec(child(header, NS.w, 'OperationTimeout')?.text.trim() ?? '');
        const pollMs = Math.min(maxPollMs, timeout ? Number(timeout[1]) * 1000 : 20000);
        if (!cmd.out.length && !cmd.closed) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, pollMs);
            cmd.wake.add(() => (clearTimeout(t), resolve()));
          });
        }
        if (!cmd.out.length && !cmd.closed) {
          throw new Fault(500, 'Receiver', 'TimedOut', WSMAN_CODE.OPERATION_TIMEDOUT, 'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.');
        }
        // Stay within the envelope: at most ~ maxEnvelope/2 bytes of output per response.
        let budget = Math.floor(maxEnvelope / 2);
        let streams = '';
        while (cmd.out.length && budget > 0) {
          const first = cmd.out[0];
          const take = first.data.subarray(0, budget);
          if (take.length === first.data.length) cmd.out.shift();
          else first.data = first.data.subarray(take.length);
          budget -= take.length;
          cmd.buffered -= take.length;
          streams += `<rsp:Stream Name="${first.name}" CommandId="${id}">${take.toString('base64')}</rsp:Stream>`;
        }
        if (cmd.buffered <= OUTPUT_BUFFER / 2) (cmd.proc.stdout!.resume(), cmd.proc.stderr!.resume());
        const done = cmd.closed && !cmd.out.length;
        if (done) streams += `<rsp:Stream Name="stdout" CommandId="${id}" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="${id}" End="true"></rsp:Stream>`;
        const state = done
          ? `<rsp:CommandState CommandId="${id}" State="${COMMAND_STATE.done}"><rsp:ExitCode>${cmd.exitCode}</rsp:ExitCode></rsp:CommandState>`
          : `<rsp:CommandState CommandId="${id}" State="${COMMAND_STATE.running}"></rsp:CommandState>`;
        return ok(`<rsp:ReceiveResponse>${streams}${state}</rsp:ReceiveResponse>`);
      }
      case ACTION.signal: {
        const [, shell] = shellOf(header);
        const sig = child(body, NS.rsp, 'Signal');
        const id = sig?.attrs.CommandId;
        const cmd = commandOf(shell, id);
        const code = child(sig, NS.rsp, 'Code')?.text.trim();
        if (code === SIGNAL.ctrlC || code === SIGNAL.ctrlBreak) stop(cmd, 'SIGINT');
        else {
          stop(cmd, 'SIGKILL');
          shell.commands.delete(id!.toUpperCase());
        }
        return ok('<rsp:SignalResponse/>');
      }
      case ACTION.delete: {
        const [id, shell] = shellOf(header);
        for (const cmd of shell.commands.values()) stop(cmd, 'SIGKILL');
        shells.delete(id);
        return ok('');
      }
      default:
        throw new Fault(400, 'Sender', 'ActionNotSupported', 2150858757, `The action ${action} is not supported by the service.`);
    }
  }

  const challengeFor = (negotiate: Buffer): Buffer => {
    const neg = parseNegotiate(negotiate);
    const flags = ((neg.flags & CLIENT_FLAGS) | NegotiateFlags.TARGET_INFO | NegotiateFlags.TARGET_TYPE_SERVER | NegotiateFlags.VERSION) >>> 0;
    return challengeMessage({
      flags,
      serverChallenge: randomBytes(8),
      targetName: 'MAGPIE-TEST',
      avPairs: [
        { id: AvId.NB_DOMAIN_NAME, value: Buffer.from('MAGPIE-TEST', 'utf16le') },
        { id: AvId.NB_COMPUTER_NAME, value: Buffer.from('WINRM-STANDIN', 'utf16le') },
        { id: AvId.DNS_DOMAIN_NAME, value: Buffer.from('magpie.test', 'utf16le') },
        { id: AvId.DNS_COMPUTER_NAME, value: Buffer.from('winrm-standin.magpie.test', 'utf16le') },
        { id: AvId.TIMESTAMP, value: fileTimeNow() },
      ],
      version: Buffer.from([10, 0, 0x7c, 0x4f, 0, 0, 0, 15]),
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const conn = conns.get(req.socket) ?? {};
    conns.set(req.socket, conn);
    const reply = (status: number, headers: Record<string, string>, payload: Buffer = Buffer.alloc(0)) => {
      res.writeHead(status, { ...headers, 'Content-Length': String(payload.length) });
      res.end(payload);
    };
    const offer: string[] = opts.tls && opts.basic ? ['Negotiate', 'Basic realm="WSMAN"'] : ['Negotiate'];
    const unauthorized = () => {
      res.writeHead(401, { 'WWW-Authenticate': offer, 'Content-Length': '0' });
      res.end();
    };
    let basicUser = false;

    if (req.method !== 'POST' || (req.url ?? '').split('?')[0].toLowerCase() !== '/wsman') return reply(404, { 'Content-Type': 'text/plain' }, Buffer.from('Not Found'));

    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const [user, ...rest] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      if (!opts.tls || !opts.basic || opts.users[user] === undefined || opts.users[user] !== rest.join(':')) {
        stats.authFailures++;
        return unauthorized();
      }
      stats.basicAccepted++;
      basicUser = true;
    }
    const auth = /^(Negotiate|NTLM)\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
    if (auth) {
      const token = Buffer.from(auth[2], 'base64');
      const type = token.length >= 12 && token.subarray(0, 8).toString('latin1') === 'NTLMSSP\0' ? token.readUInt32LE(8) : 0;
      if (type === 1) {
        conn.negotiate = token;
        conn.challenge = challengeFor(token);
        conn.security = undefined;
        return reply(401, { 'WWW-Authenticate': `${auth[1]} ${conn.challenge.toString('base64')}` });
      }
      if (type === 0 && opts.kerberos && token[0] === 0x60) {
        // SPNEGO with a Kerberos AP-REQ: one round, answered with the AP-REP (mutual authentication).
        stats.handshakes++;
        const ctx = new GssContext('acceptor');
        let answer: Buffer;
        try {
          answer = ctx.step(token);
        } catch {
          ctx.dispose();
          stats.authFailures++;
          return unauthorized();
        }
        const user = ctx.peer?.replace(/@.*$/, '') ?? '';
        if (!ctx.complete || opts.users[user] === undefined) {
          ctx.dispose();
          stats.authFailures++;
          return unauthorized();
        }
        stats.kerberosAccepted.push(ctx.peer!);
        conn.security = ctx;
        // On this reply, whether or not the request carried a message (requests-kerberos sends one).
        res.setHeader('WWW-Authenticate', `Negotiate ${answer.toString('base64')}`);
      } else if (type === 3 && conn.negotiate && conn.challenge) {
        stats.handshakes++;
        const accepted = acceptAuthenticate(conn.negotiate, conn.challenge, token, (user) => opts.users[user]);
        conn.negotiate = conn.challenge = undefined;
        if (!accepted) {
          stats.authFailures++;
          return unauthorized();
        }
        if (token.length >= 88 && !token.subarray(72, 88).equals(Buffer.alloc(16))) stats.micSeen++;
        if (expectedCbt) {
          if (accepted.channelBindings?.equals(expectedCbt)) stats.cbtMatched++;
          else if (opts.requireChannelBinding) {
            stats.cbtRejected++;
            stats.authFailures++;
            return unauthorized();
          }
        }
        conn.security = accepted.security;
      } else return unauthorized();
    }
    if (!conn.security && !basicUser) return unauthorized();
    if (!body.length) return reply(200, {}); // pywinrm's "blank message to initialise the context"
    if (opts.tls && !isEncrypted(req.headers['content-type'])) {
      // Inside TLS the message may travel plain (what pywinrm and Magpie do on 5986).
      stats.tlsPlainRequests++;
      let out: { status: number; xml: string };
      try {
        out = await soap(body.toString('utf8'));
      } catch (e) {
        if (!(e instanceof Fault)) throw e;
        out = { status: e.status, xml: faultXml(e, undefined) };
      }
      return reply(out.status, { 'Content-Type': 'application/soap+xml;charset=UTF-8' }, Buffer.from(out.xml, 'utf8'));
    }
    if (!conn.security) return unauthorized();
    if (!isEncrypted(req.headers['content-type'])) {
      stats.plainRefused++;
      return reply(400, { 'Content-Type': 'text/plain' }, Buffer.from('unencrypted messages are refused (AllowUnencrypted=false)'));
    }
    stats.encryptedRequests++;
    const xml = decryptMessage(body, conn.security).toString('utf8');
    let out: { status: number; xml: string };
    try {
      if (Buffer.byteLength(xml) > maxEnvelope) {
        throw new Fault(400, 'Sender', 'EncodingLimit', WSMAN_CODE.MAX_ENVELOPE_SIZE_EXCEEDED, 'The WS-Management service cannot process the request because the envelope size in the request is too large.');
      }
      out = await soap(xml);
    } catch (e) {
      if (!(e instanceof Fault)) throw e;
      out = { status: e.status, xml: faultXml(e, undefined) };
    }
    reply(out.status, { 'Content-Type': encryptedContentType() }, encryptMessage(Buffer.from(out.xml, 'utf8'), conn.security));
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      handle(req, res, Buffer.concat(parts)).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(e instanceof Error ? e.message : e));
      });
    });
  };
  const server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : createServer(onRequest);
  server.keepAliveTimeout = 60000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/wsman`,
    port,
    stats,
    openShells: () => shells.size,
    dropConnections: () => server.closeIdleConnections(),
    close: async () => {
      for (const shell of shells.values()) for (const cmd of shell.commands.values()) stop(cmd, 'SIGKILL');
      shells.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
