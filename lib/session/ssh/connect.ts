// One SSH connection to one target: host key checked against known_hosts, then the first
// authentication method the server accepts. Failures come back as the distinct errors of errors.ts.
import { readFileSync } from 'node:fs';
import ssh2, { type AnyAuthMethod, type AuthenticationType, type Client } from 'ssh2';
import type { ConnectionInfo } from '../session.ts';
import { SshAuthError, SshHostKeyError, SshTimeoutError, SshUnreachableError, type SshError } from './errors.ts';
import { checkHostKey, defaultKnownHostsFile, fingerprint, hostKeyAlgorithms, keyTypeOf, knownKeysFor, recordHostKey } from './known-hosts.ts';

/**
 * How to log in. A password is held in memory only: never put into argv, the environment, logs
 * or error text. Several methods are tried in the order given.
 */
export type SshAuth =
  | { type: 'key'; file: string; passphrase?: string }
  | { type: 'agent'; socket: string }
  | { type: 'password'; password: string };

// ssh2 is CommonJS whose exports Node cannot list statically: take them from the default export.
const { Client: SshClient, utils } = ssh2;

export interface SshConnectOptions {
  host: string;
  port?: number;
  user: string;
  auth: SshAuth | SshAuth[];
  /** Default ~/.ssh/known_hosts. */
  knownHostsFile?: string;
  /** Trust a host that known_hosts does not know yet, and record its key there. A changed key is still refused. */
  acceptNewHostKey?: boolean;
  /** TCP connect + handshake + authentication (default 20 s). */
  connectTimeoutMs?: number;
}

export interface SshConnection {
  client: Client;
  info: Omit<ConnectionInfo, 'shell'>;
  /** Set once the connection has closed: why, in words for the responder. */
  lost(): string | undefined;
  /** Resolves when the connection closes, with the reason. */
  whenLost: Promise<string>;
}

function authMethods(opts: SshConnectOptions): { label: string; method: AnyAuthMethod }[] {
  const username = opts.user;
  const list = Array.isArray(opts.auth) ? opts.auth : [opts.auth];
  if (!list.length) throw new SshAuthError(opts.host, opts.port ?? 22, `no authentication method was given for ${opts.host}: name a private key, an ssh-agent socket or a password`);
  return list.map((a) => {
    switch (a.type) {
      case 'key': {
        let key: Buffer;
        try {
          key = readFileSync(a.file);
        } catch (e) {
          throw new SshAuthError(opts.host, opts.port ?? 22, `cannot read the private key ${a.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        // Checked here so a wrong passphrase reads as what it is, not as "the server refused us".
        const parsed = utils.parseKey(key, a.passphrase);
        if (parsed instanceof Error) {
          const hint = /encrypted|passphrase/i.test(parsed.message) ? '; give its passphrase or load it into ssh-agent' : '';
          throw new SshAuthError(opts.host, opts.port ?? 22, `the private key ${a.file} cannot be used: ${parsed.message}${hint}`);
        }
        return { label: 'publickey', method: { type: 'publickey', username, key: parsed } };
      }
      case 'agent':
        return { label: 'agent', method: { type: 'agent', username, agent: a.socket } };
      case 'password':
        return { label: 'password', method: { type: 'password', username, password: a.password } };
    }
  });
}

export function connect(opts: SshConnectOptions): Promise<SshConnection> {
  const host = opts.host;
  const port = opts.port ?? 22;
  const where = `${host}:${port}`;
  const knownHostsFile = opts.knownHostsFile ?? defaultKnownHostsFile();
  const timeoutMs = opts.connectTimeoutMs ?? 20_000;
  const methods = authMethods(opts);
  const known = knownKeysFor(knownHostsFile, host, port);

  return new Promise((resolve, reject) => {
    const client = new SshClient();
    let hostKeyError: SshHostKeyError | undefined;
    let hostKey: { sha256: string; trust: 'known_hosts' | 'accepted-new' } | undefined;
    let triedLabel = '';
    let triedIndex = 0;
    let ready = false;
    let lostReason: string | undefined;
    let lastError: Error | undefined;
    let onLost: (reason: string) => void = () => undefined;
    const whenLost = new Promise<string>((r) => (onLost = r));

    client.on('error', (err: Error & { level?: string; code?: string }) => {
      lastError = err;
      if (ready) return; // reported through 'close'
      reject(classify(err));
    });
    client.on('close', () => {
      const reason = lastError ? `the SSH connection to ${where} dropped: ${lastError.message}` : `the SSH connection to ${where} closed`;
      lostReason ??= reason;
      onLost(lostReason);
      if (!ready) reject(hostKeyError ?? new SshUnreachableError(host, port, `${where} closed the connection before the SSH session was ready; is it an SSH server, and does it accept this client?`));
    });
    client.on('ready', () => {
      ready = true;
      resolve({
        client,
        info: { address: host, port, user: opts.user, authMethod: triedLabel, hostKeySha256: hostKey!.sha256, hostKeyTrust: hostKey!.trust },
        lost: () => lostReason,
        whenLost,
      });
    });

    function classify(err: Error & { level?: string; code?: string }): SshError {
      if (hostKeyError) return hostKeyError;
      switch (err.level) {
        case 'client-authentication':
          return new SshAuthError(host, port, `${where} refused authentication as ${opts.user} (tried ${methods.map((m) => m.label).join(', ')}); check the user name and that the key or password is accepted there`);
        case 'client-timeout':
          return new SshTimeoutError(host, port, `no SSH session with ${where} within ${timeoutMs / 1000} s (connect, handshake and login); is the host up and is port ${port} open to you?`);
        case 'client-socket':
        case 'client-dns':
          return new SshUnreachableError(host, port, `cannot reach ${where}: ${err.code ?? err.message}; check the address, the port and the firewall`);
        default:
          return new SshUnreachableError(host, port, `the SSH handshake with ${where} failed: ${err.message}`);
      }
    }

    try {
      client.connect({
        host,
        port,
        username: opts.user,
        readyTimeout: timeoutMs,
        // A target that stops answering mid-step is noticed within about a minute, not never.
        keepaliveInterval: 15_000,
        keepaliveCountMax: 4,
        algorithms: { serverHostKey: hostKeyAlgorithms(known) },
        hostVerifier: (key: Buffer) => {
          const sha256 = fingerprint(key);
          const type = keyTypeOf(key);
          const verdict = checkHostKey(known, key, knownHostsFile);
          if (verdict.ok) {
            hostKey = { sha256, trust: 'known_hosts' };
            return true;
          }
          if (verdict.problem === 'unknown' && opts.acceptNewHostKey) {
            recordHostKey(knownHostsFile, host, port, key);
            hostKey = { sha256, trust: 'accepted-new' };
            return true;
          }
          const what =
            verdict.problem === 'unknown'
              ? `the host key of ${where} is unknown (${type} ${sha256}; ${verdict.detail}); check the fingerprint with the host's owner, then add it to known_hosts or run again with --accept-new-host-key`
              : verdict.problem === 'changed'
                ? `the host key of ${where} has CHANGED (now ${type} ${sha256}; ${verdict.detail}); someone may be intercepting the connection, or the host was reinstalled: confirm with its owner before removing the old entry`
                : `the host key of ${where} is revoked (${type} ${sha256}; ${verdict.detail})`;
          hostKeyError = new SshHostKeyError(host, port, what, verdict.problem, sha256, type);
          return false;
        },
        authHandler: (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: (m: AnyAuthMethod | false) => void) => {
          // The server names what it still accepts; an agent's keys travel as "publickey".
          while (triedIndex < methods.length) {
            const m = methods[triedIndex++];
            const wire = m.method.type === 'agent' ? 'publickey' : m.method.type;
            if (methodsLeft && !methodsLeft.includes(wire)) continue;
            triedLabel = m.label;
            return next(m.method);
          }
          next(false);
        },
      } as Parameters<Client['connect']>[0]);
    } catch (e) {
      reject(new SshUnreachableError(host, port, `cannot connect to ${where}: ${(e as Error).message}`));
    }
  });
}
