// One WinRM endpoint: over HTTP (5985) NTLM with message encryption — the handshake (NEGOTIATE →
// CHALLENGE → AUTHENTICATE on one kept-alive TCP connection, as HTTP.sys binds NTLM to the
// connection), then every SOAP body sealed and every reply unsealed; over HTTPS (5986) NTLM with
// channel binding (tls-server-end-point, for Extended Protection) or Basic, the server
// certificate checked against the trusted roots (+ --winrm-ca) or pinned by SHA-256 before a
// single byte of a request is sent. Kerberos (Negotiate, through the system's GSS-API) seals
// messages the same way, with the responder's ticket or one asked for with the password. SOAP faults come back as values (a Receive's TimedOut is
// normal); everything else that goes wrong is a WinrmError naming the host. Basic is never sent
// over plain HTTP, and nothing falls back to an unencrypted channel on its own.
import { managementOf } from '../management.ts';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { decryptMessage, encryptedContentType, encryptMessage, isEncrypted, type MessageSealer } from './encryption.ts';
import {
  WinrmAuthError,
  WinrmDroppedError,
  WinrmError,
  WinrmMessageError,
  WinrmProtocolError,
  WinrmTimeoutError,
  WinrmTlsError,
  WinrmUnreachableError,
} from './errors.ts';
import { GssContext, GssError, GssUnavailableError } from './gssapi.ts';
import { channelBindingsHash, NtlmClient, NtlmError, type NtlmCredentials } from './ntlm.ts';
import { parseResponse, type WsmanRequest, type WsmanResponse } from './soap.ts';
import { certificateSha256, normalizePin, tlsServerEndPoint } from './tls.ts';

export type WinrmScheme = 'http' | 'https';
export type WinrmAuthMethod = 'ntlm' | 'basic' | 'kerberos';

export interface WinrmHttpOptions {
  host: string;
  port?: number;
  /** Default /wsman. */
  path?: string;
  credentials: NtlmCredentials;
  /** Per HTTP request (a Receive long-polls for the operation timeout, so keep this above it). Default 60 s. */
  requestTimeoutMs?: number;
  /** Default http (port 5985); https defaults to port 5986. */
  scheme?: WinrmScheme;
  /** Default ntlm. Basic only over HTTPS. Kerberos: through Negotiate, with the responder's ticket (or one asked for with the password). */
  auth?: WinrmAuthMethod;
  /** HTTPS: CA certificates (PEM) trusted in addition to the built-in roots (--winrm-ca). */
  ca?: string | Buffer;
  /** HTTPS: accept exactly the certificate with this SHA-256, whoever signed it (--winrm-cert-sha256). */
  pinSha256?: string;
}

interface Raw {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  socket: Socket;
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** A WinRM endpoint at http://host:port/wsman, authenticated with NTLM and encrypting every message. */
export class WinrmHttp {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly endpoint: string;
  readonly scheme: WinrmScheme;
  readonly auth: WinrmAuthMethod;
  private readonly agent: HttpAgent;
  private security?: MessageSealer;
  private kerberos?: GssContext;
  /** HTTPS + NTLM: authenticated, messages travel plain inside TLS. */
  private tlsAuthenticated = false;
  private authSocket?: Socket;

  /** This connection as `RESPONDER-ADDRESS TARGET-ADDRESS TARGET-PORT` (see management.ts). */
  management(): string | undefined {
    return managementOf(this.authSocket);
  }
  private closed = false;
  /** How many NTLM handshakes this endpoint needed (one, unless the server dropped the connection). */
  handshakes = 0;
  /** HTTPS: the SHA-256 of the server certificate, once connected (for the manifest). */
  certificateSha256?: string;

  constructor(private readonly opts: WinrmHttpOptions) {
    this.host = opts.host;
    this.scheme = opts.scheme ?? 'http';
    this.auth = opts.auth ?? 'ntlm';
    this.port = opts.port ?? (this.scheme === 'https' ? 5986 : 5985);
    this.path = opts.path ?? '/wsman';
    const h = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    this.endpoint = `${this.scheme}://${h}:${this.port}${this.path}`;
    if (this.auth === 'basic' && this.scheme !== 'https') {
      throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: Basic authentication over plain HTTP would send the password in clear; use HTTPS (port 5986) or NTLM`);
    }
    if (this.scheme === 'https') {
      const pin = opts.pinSha256 === undefined ? undefined : normalizePin(opts.pinSha256);
      const ca = opts.ca === undefined ? undefined : [...rootCertificates, opts.ca.toString()];
      this.agent = verifyingAgent(this, { ca, pin, servername: isIP(this.host) ? undefined : this.host });
    } else {
      this.agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    }
  }

  private raw(headers: Record<string, string>, body: Buffer, retried = false): Promise<Raw> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 60000;
    const request = this.scheme === 'https' ? httpsRequest : httpRequest;
    return new Promise<Raw>((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, path: this.path, method: 'POST', agent: this.agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
        const parts: Buffer[] = [];
        const socket = res.socket; // captured now: a kept-alive socket goes back to the agent at the end
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), socket }));
        res.on('error', (e) => reject(this.networkError(e, true)));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new WinrmTimeoutError(this.host, this.port, `${this.endpoint}: no answer within ${Math.round(timeoutMs / 1000)} s`)));
      req.on('error', (e: Error & { code?: string }) => {
        // The server closed an idle kept-alive connection just as it was reused: the request never
        // reached it, so it goes again once on a new connection (node's documented pattern).
        if (!retried && req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) resolve(this.raw(headers, body, true));
        else reject(e instanceof WinrmError ? e : this.networkError(e, false));
      });
      req.end(body);
    });
  }

  private networkError(e: Error & { code?: string }, started: boolean): WinrmError {
    if (!started && e.code && NETWORK_UNREACHABLE.has(e.code)) {
      return new WinrmUnreachableError(this.host, this.port, `${this.endpoint}: cannot connect (${e.code}); is WinRM listening on port ${this.port} and the firewall open?`);
    }
    return new WinrmDroppedError(this.host, this.port, `${this.endpoint}: connection lost (${e.code ?? e.message})`);
  }

  private refuse(status: number, what: string): WinrmError {
    if (status === 404) return new WinrmUnreachableError(this.host, this.port, `${this.endpoint}: HTTP 404, no WinRM listener at ${this.path} on port ${this.port}`);
    return new WinrmProtocolError(this.host, this.port, `${this.endpoint}: ${what} (HTTP ${status})`);
  }

  /** The NTLM handshake with empty bodies, as pywinrm does; afterwards every message is sealed (HTTP) or travels in TLS (HTTPS). */
  private async authenticate(): Promise<void> {
    this.handshakes++;
    this.security = undefined;
    this.tlsAuthenticated = false;
    if (this.auth === 'kerberos') return this.authenticateKerberos();
    const ntlm = new NtlmClient(this.opts.credentials);
    const first = await this.raw({ Authorization: `Negotiate ${ntlm.negotiate().toString('base64')}` }, Buffer.alloc(0));
    if (first.status !== 401) throw this.refuse(first.status, 'the server did not answer the NTLM negotiation');
    const offer = [first.headers['www-authenticate'] ?? []].flat().join(', ');
    const m = /(?:^|,\s*)(Negotiate|NTLM)\s+([A-Za-z0-9+/=]+)/i.exec(offer);
    if (!m) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server offers no NTLM (WWW-Authenticate: ${offer.slice(0, 100) || 'none'}); enable Negotiate authentication in the WinRM service`);
    let authenticate: Buffer;
    try {
      // Channel binding: the certificate of the TLS connection this handshake runs on.
      const der = this.scheme === 'https' ? peerCertificates.get(first.socket) : undefined;
      if (this.scheme === 'https' && !der) throw new WinrmTlsError(this.host, this.port, `${this.endpoint}: no server certificate to bind NTLM to`);
      authenticate = ntlm.authenticate(Buffer.from(m[2], 'base64'), der ? channelBindingsHash(tlsServerEndPoint(der)) : undefined);
    } catch (e) {
      if (e instanceof NtlmError) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: ${e.message}`);
      throw e;
    }
    const second = await this.raw({ Authorization: `${m[1]} ${authenticate.toString('base64')}` }, Buffer.alloc(0));
    if (second.status === 401) {
      const why = this.scheme === 'https' ? ' (or the channel binding was: is a TLS-inspecting proxy in between?)' : '';
      throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the credentials for ${this.opts.credentials.user} were rejected${why}`);
    }
    if (second.status !== 200) throw this.refuse(second.status, 'authentication did not complete');
    if (second.socket !== first.socket) throw new WinrmProtocolError(this.host, this.port, `${this.endpoint}: the server closed the connection during the NTLM handshake`);
    if (this.scheme === 'https') this.tlsAuthenticated = true;
    else this.security = ntlm.security;
    this.authSocket = second.socket;
  }

  /**
   * Kerberos through Negotiate: the SPNEGO token for HTTP/host in the first (empty) request, the
   * server's answer completes the context (mutual authentication: the server proved it holds the
   * service key), and the context seals every message as NTLM's would. The principal is the user
   * given (user@REALM, DOMAIN\user) with the password, or the default ticket cache without one.
   */
  private async authenticateKerberos(): Promise<void> {
    this.kerberos?.dispose();
    this.kerberos = undefined;
    const { user, password } = this.opts.credentials;
    const service = `HTTP@${this.host}`;
    const refused = (e: unknown): never => {
      if (e instanceof GssUnavailableError) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: ${e.message}`);
      if (e instanceof GssError) {
        const hint = /not found in Kerberos database/i.test(e.message)
          ? isIP(this.host)
            ? ': Kerberos needs the host by its DNS name (the SPN HTTP/name), not an IP address'
            : `: the domain knows no service principal HTTP/${this.host} (is it the host's DNS name?)`
          : /Preauthentication failed|Decrypt integrity check failed|Password incorrect/i.test(e.message)
            ? `: the password for ${kerberosPrincipal(user)} is wrong`
            : /Client .* not found in Kerberos database/i.test(e.message)
              ? `: the domain knows no account ${kerberosPrincipal(user)}`
              : /credentials cache|No Kerberos credentials|expired|No credentials were supplied/i.test(e.message)
            ? ': no valid ticket: run kinit, or give a password (--password-env / --credential-file / --ask-password)'
            : '';
        throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: Kerberos: ${e.message}${hint}`);
      }
      throw e;
    };
    let ctx: GssContext;
    let token: Buffer;
    try {
      ctx = new GssContext('initiator', { service, ...(password ? { user: kerberosPrincipal(user), password } : {}) });
      token = ctx.step();
    } catch (e) {
      return refused(e);
    }
    const res = await this.raw({ Authorization: `Negotiate ${token!.toString('base64')}` }, Buffer.alloc(0));
    if (res.status === 401) {
      ctx!.dispose();
      throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server refused the Kerberos ticket for ${password ? kerberosPrincipal(user) : 'the cached principal'} (not allowed to log on, or Kerberos is disabled in its WinRM service)`);
    }
    if (res.status !== 200) throw this.refuse(res.status, 'Kerberos authentication did not complete');
    const answer = /(?:^|,\s*)Negotiate\s+([A-Za-z0-9+/=]+)/i.exec([res.headers['www-authenticate'] ?? []].flat().join(', '));
    if (!answer) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server accepted Kerberos without proving who it is (no Negotiate answer): refused`);
    try {
      ctx!.step(Buffer.from(answer[1], 'base64'));
    } catch (e) {
      ctx!.dispose();
      return refused(e);
    }
    if (!ctx!.complete) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the Kerberos exchange needs more than one round, which WinRM does not do`);
    this.kerberos = ctx!;
    if (this.scheme === 'https') this.tlsAuthenticated = true;
    else this.security = ctx!;
    this.authSocket = res.socket;
  }

  /** HTTPS: plain SOAP inside TLS, NTLM-authenticated connection or Basic on every request. */
  private async sendTls(req: WsmanRequest): Promise<WsmanResponse & { status: number }> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'Content-Type': 'application/soap+xml;charset=UTF-8' };
      if (this.auth === 'basic') {
        const { user, password } = this.opts.credentials;
        headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
      } else if (!this.tlsAuthenticated) await this.authenticate();
      const res = await this.raw(headers, Buffer.from(req.xml, 'utf8'));
      if (res.status === 401) {
        if (this.auth === 'basic') throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the credentials for ${this.opts.credentials.user} were rejected (Basic: local accounts only, and Basic must be enabled in the WinRM service)`);
        this.tlsAuthenticated = false;
        if (attempt === 0 && res.socket !== this.authSocket) continue;
        throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server no longer accepts the session (HTTP 401)`);
      }
      if (!/^application\/soap\+xml/i.test(String(res.headers['content-type'] ?? ''))) throw this.refuse(res.status, 'not a SOAP answer');
      try {
        return { ...parseResponse(res.body), status: res.status };
      } catch (e) {
        if (e instanceof WinrmMessageError) throw new WinrmProtocolError(this.host, this.port, `${this.endpoint}: ${e.message}`);
        throw e;
      }
    }
  }

  /**
   * Sends one request and returns the parsed response (a fault included, with its HTTP status).
   * Re-authenticates once when the server answers 401 because the connection was replaced.
   */
  async send(req: WsmanRequest): Promise<WsmanResponse & { status: number }> {
    if (this.closed) throw new WinrmDroppedError(this.host, this.port, `${this.endpoint}: the connection was closed`);
    if (this.scheme === 'https') return this.sendTls(req);
    for (let attempt = 0; ; attempt++) {
      if (!this.security) await this.authenticate();
      const security = this.security!;
      const body = encryptMessage(Buffer.from(req.xml, 'utf8'), security);
      const res = await this.raw({ 'Content-Type': encryptedContentType() }, body);
      if (res.status === 401) {
        this.security = undefined;
        if (attempt === 0 && res.socket !== this.authSocket) continue;
        throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server no longer accepts the session (HTTP 401)`);
      }
      if (!isEncrypted(res.headers['content-type'])) {
        throw this.refuse(res.status, `unencrypted answer${res.body.length ? `: ${res.body.toString('utf8', 0, 200).replace(/\s+/g, ' ')}` : ''}`);
      }
      try {
        const plain = decryptMessage(res.body, security);
        return { ...parseResponse(plain), status: res.status };
      } catch (e) {
        if (e instanceof WinrmMessageError || e instanceof NtlmError || e instanceof GssError) throw new WinrmProtocolError(this.host, this.port, `${this.endpoint}: ${e.message}`);
        throw e;
      }
    }
  }

  close(): void {
    this.closed = true;
    this.security = undefined;
    this.kerberos?.dispose();
    this.kerberos = undefined;
    this.agent.destroy();
  }
}

/** `DOMAIN\\user` → `user@DOMAIN` (realms are upper case); `user@realm` and a bare `user` (the default realm) as given. */
export function kerberosPrincipal(user: string): string {
  const slash = user.indexOf('\\');
  if (slash > 0) return `${user.slice(slash + 1)}@${user.slice(0, slash).toUpperCase()}`;
  return user;
}

/** The DER server certificate of each verified TLS connection (node gives it only during the handshake here). */
const peerCertificates = new WeakMap<Socket, Buffer>();

/**
 * An HTTPS agent (one kept-alive connection) that checks the server before the request is
 * written: the connection is handed to the request only after the TLS handshake, when the
 * certificate chains to a trusted root and names the host — or matches the pin exactly.
 */
function verifyingAgent(ep: WinrmHttp, o: { ca?: string[]; pin?: string; servername?: string }): HttpsAgent {
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
  const create = (options: ConnectionOptions, cb: (err: Error | null, socket?: TLSSocket) => void): undefined => {
    const s = tlsConnect({ ...options, ca: o.ca, servername: o.servername, rejectUnauthorized: false });
    s.once('error', (e) => cb(e));
    s.once('secureConnect', () => {
      const der = s.getPeerX509Certificate()?.raw;
      const seen = der ? certificateSha256(der) : 'none';
      let problem: string | undefined;
      if (o.pin) {
        if (seen !== o.pin) problem = `the certificate (SHA-256 ${seen}) is not the pinned one (${o.pin})`;
      } else if (!s.authorized) {
        problem = `the certificate is not trusted (${String(s.authorizationError)}); it has SHA-256 ${seen}: trust its CA with --winrm-ca FILE, or, once checked out of band, pin it with --winrm-cert-sha256`;
      }
      if (problem) {
        s.destroy();
        cb(new WinrmTlsError(ep.host, ep.port, `${ep.endpoint}: ${problem}`));
      } else {
        ep.certificateSha256 = seen;
        if (der) peerCertificates.set(s, der);
        cb(null, s);
      }
    });
    return undefined;
  };
  (agent as unknown as { createConnection: typeof create }).createConnection = create;
  return agent;
}
