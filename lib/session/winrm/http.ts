// One WinRM endpoint over HTTP with NTLM and message encryption: the handshake (NEGOTIATE →
// CHALLENGE → AUTHENTICATE on one kept-alive TCP connection, as HTTP.sys binds NTLM to the
// connection), then every SOAP body sealed and every reply unsealed. SOAP faults come back as
// values (a Receive's TimedOut is normal); everything else that goes wrong is a WinrmError
// naming the host. Basic over plain HTTP is refused here, before anything is sent.
import { Agent, request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { decryptMessage, encryptedContentType, encryptMessage, isEncrypted } from './encryption.ts';
import {
  WinrmAuthError,
  WinrmDroppedError,
  WinrmError,
  WinrmMessageError,
  WinrmProtocolError,
  WinrmTimeoutError,
  WinrmUnreachableError,
} from './errors.ts';
import { NtlmClient, NtlmError, type NtlmCredentials, type NtlmSecurity } from './ntlm.ts';
import { parseResponse, type WsmanRequest, type WsmanResponse } from './soap.ts';

export interface WinrmHttpOptions {
  host: string;
  port?: number;
  /** Default /wsman. */
  path?: string;
  credentials: NtlmCredentials;
  /** Per HTTP request (a Receive long-polls for the operation timeout, so keep this above it). Default 60 s. */
  requestTimeoutMs?: number;
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
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private security?: NtlmSecurity;
  private authSocket?: Socket;
  private closed = false;
  /** How many NTLM handshakes this endpoint needed (one, unless the server dropped the connection). */
  handshakes = 0;

  constructor(private readonly opts: WinrmHttpOptions) {
    this.host = opts.host;
    this.port = opts.port ?? 5985;
    this.path = opts.path ?? '/wsman';
    const h = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    this.endpoint = `http://${h}:${this.port}${this.path}`;
  }

  private raw(headers: Record<string, string>, body: Buffer): Promise<Raw> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 60000;
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, path: this.path, method: 'POST', agent: this.agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), socket: req.socket! }));
        res.on('error', (e) => reject(this.networkError(e, true)));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new WinrmTimeoutError(this.host, this.port, `${this.endpoint}: no answer within ${Math.round(timeoutMs / 1000)} s`)));
      req.on('error', (e) => reject(e instanceof WinrmError ? e : this.networkError(e, false)));
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

  /** The NTLM handshake with empty bodies, as pywinrm does; afterwards every message is sealed. */
  private async authenticate(): Promise<void> {
    this.handshakes++;
    this.security = undefined;
    const ntlm = new NtlmClient(this.opts.credentials);
    const first = await this.raw({ Authorization: `Negotiate ${ntlm.negotiate().toString('base64')}` }, Buffer.alloc(0));
    if (first.status !== 401) throw this.refuse(first.status, 'the server did not answer the NTLM negotiation');
    const offer = [first.headers['www-authenticate'] ?? []].flat().join(', ');
    const m = /(?:^|,\s*)(Negotiate|NTLM)\s+([A-Za-z0-9+/=]+)/i.exec(offer);
    if (!m) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the server offers no NTLM (WWW-Authenticate: ${offer.slice(0, 100) || 'none'}); enable Negotiate authentication in the WinRM service`);
    let authenticate: Buffer;
    try {
      authenticate = ntlm.authenticate(Buffer.from(m[2], 'base64'));
    } catch (e) {
      if (e instanceof NtlmError) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: ${e.message}`);
      throw e;
    }
    const second = await this.raw({ Authorization: `${m[1]} ${authenticate.toString('base64')}` }, Buffer.alloc(0));
    if (second.status === 401) throw new WinrmAuthError(this.host, this.port, `${this.endpoint}: the credentials for ${this.opts.credentials.user} were rejected`);
    if (second.status !== 200) throw this.refuse(second.status, 'authentication did not complete');
    if (second.socket !== first.socket) throw new WinrmProtocolError(this.host, this.port, `${this.endpoint}: the server closed the connection during the NTLM handshake`);
    this.security = ntlm.security;
    this.authSocket = second.socket;
  }

  /**
   * Sends one request and returns the parsed response (a fault included, with its HTTP status).
   * Re-authenticates once when the server answers 401 because the connection was replaced.
   */
  async send(req: WsmanRequest): Promise<WsmanResponse & { status: number }> {
    if (this.closed) throw new WinrmDroppedError(this.host, this.port, `${this.endpoint}: the connection was closed`);
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
        if (e instanceof WinrmMessageError || e instanceof NtlmError) throw new WinrmProtocolError(this.host, this.port, `${this.endpoint}: ${e.message}`);
        throw e;
      }
    }
  }

  close(): void {
    this.closed = true;
    this.security = undefined;
    this.agent.destroy();
  }
}
