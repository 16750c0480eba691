// Targets as the responder names them: `--target` (repeatable) and `--targets FILE` (one a line,
// or CSV with a header for per-host settings). Every bad entry is an error with file:line
// before anything runs; duplicates are dropped.
import { readFileSync } from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { InputError, InputErrors } from './errors.ts';
import type { Transport } from './session/session.ts';
import { safeLine } from './text.ts';

export type RemoteTransport = Exclude<Transport, 'import'>;

export interface Target {
  /** What names the evidence folder and the summary row: host, or host:port when not the default. */
  name: string;
  transport: RemoteTransport;
  host: string;
  port?: number;
  user?: string;
  /** Per-host credential: `env:NAME`, `file:PATH` (a password file) or `key:PATH` (an SSH private key). */
  credential?: string;
  /** WinRM over HTTPS: a winrms:// target, or port 5986 (the HTTPS listener's). */
  https?: boolean;
  /** Where it came from, for messages. */
  origin: string;
}

const DEFAULT_PORT: Record<RemoteTransport, number | undefined> = { local: undefined, ssh: 22, winrm: 5985 };
const SCHEMES: Record<string, { transport: RemoteTransport; port: number; tls?: boolean }> = {
  'ssh:': { transport: 'ssh', port: 22 },
  'winrm:': { transport: 'winrm', port: 5985 },
  'winrms:': { transport: 'winrm', port: 5986, tls: true },
};
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.%A-Za-z]+\])$/;
const USER = /^[A-Za-z0-9._\\$-][A-Za-z0-9._\\$@ -]{0,63}$/;
const CREDENTIAL = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|key:.+)$/;

function fail(message: string, origin: { file?: string; line?: number }): never {
  throw new InputError(message, origin);
}

/** One entry: `host`, `host:port`, `user@host:port`, `ssh://user@host:port`, `winrm://host:5985`, `winrms://host:5986`. */
export function parseTarget(text: string, defaultTransport: RemoteTransport, at: { file?: string; line?: number } = {}): Target {
  const raw = text.trim();
  if (!raw) fail('empty target', at);
  if (/[\s'"`;|&<>(){}]/.test(raw)) fail(`"${safeLine(raw, 80)}" is not a host name or address (no spaces, quotes or shell characters)`, at);
  let transport = defaultTransport;
  let rest = raw;
  let port: number | undefined;
  const scheme = /^([a-z]+:)\/\//i.exec(raw);
  if (scheme) {
    const known = SCHEMES[scheme[1].toLowerCase()];
    if (!known) fail(`unknown scheme "${scheme[1]}//" in "${safeLine(raw, 80)}"; use ssh://, winrm:// or winrms://`, at);
    transport = known.transport;
    rest = raw.slice(scheme[0].length).replace(/\/$/, '');
    if (known.tls) port = known.port;
  }
  let user: string | undefined;
  const atSign = rest.lastIndexOf('@');
  if (atSign >= 0) {
    user = rest.slice(0, atSign);
    rest = rest.slice(atSign + 1);
    if (!USER.test(user)) fail(`"${safeLine(user, 40)}" is not a user name`, at);
  }
  let host = rest;
  const portMatch = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(rest);
  if (portMatch) {
    host = portMatch[1];
    const n = Number(portMatch[2]);
    if (!(n >= 1 && n <= 65535)) fail(`port ${portMatch[2]} is out of range (1-65535)`, at);
    port = n;
  }
  if (!HOST.test(host)) fail(`"${safeLine(host, 80)}" is not a host name or address`, at);
  if (transport === 'local' && host !== 'localhost') fail(`"${safeLine(raw, 80)}": --transport local collects from this machine only; use --transport ssh or winrm, or a ssh:// / winrm:// target`, at);
  const bare = host.replace(/^\[|\]$/g, '');
  const defaultPort = scheme && SCHEMES[scheme[1].toLowerCase()].tls ? 5986 : DEFAULT_PORT[transport];
  const name = port !== undefined && port !== defaultPort ? `${bare}:${port}` : bare;
  const https = transport === 'winrm' && (!!(scheme && SCHEMES[scheme[1].toLowerCase()].tls) || port === 5986);
  return { name, transport, host: bare, port, user, ...(https ? { https } : {}), origin: at.file ? `${at.file}:${at.line}` : raw };
}

/** `--targets FILE`: one target a line (`#` comments), or CSV with the header `target,transport,port,user,credential`. */
export function readTargetsFile(file: string, defaultTransport: RemoteTransport): Target[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new InputError(`cannot read the targets file: ${(e as Error).message}`, { file });
  }
  const errors: InputError[] = [];
  const out: Target[] = [];
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.replace(/#.*$/, '').trim() !== '');
  if (first >= 0 && /^\s*target\s*,/i.test(lines[first])) {
    const rows: string[][] = parseCsv(text, { relax_column_count: true, skip_empty_lines: false, comment: '#', trim: true });
    const header = rows[0].map((h) => h.toLowerCase());
    const allowed = ['target', 'transport', 'port', 'user', 'credential'];
    header.forEach((h) => h && !allowed.includes(h) && errors.push(new InputError(`unknown column "${safeLine(h, 40)}"; columns are ${allowed.join(', ')}`, { file, line: first + 1 })));
    // csv-parse keeps one row a line here (no quoted newlines in a targets file), so row i is line i+1.
    rows.slice(1).forEach((row, i) => {
      const line = first + i + 2;
      if (row.every((c) => c === '')) return;
      const get = (k: string) => row[header.indexOf(k)]?.trim() || undefined;
      try {
        const transport = get('transport');
        if (transport && !['ssh', 'winrm', 'local'].includes(transport)) fail(`transport must be ssh, winrm or local, not "${safeLine(transport, 20)}"`, { file, line });
        const t = parseTarget(get('target') ?? '', (transport as RemoteTransport) ?? defaultTransport, { file, line });
        const port = get('port');
        if (port !== undefined) {
          const n = Number(port);
          if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`port "${safeLine(port, 20)}" is not a port number (1-65535)`, { file, line });
          t.port = n;
          if (n !== DEFAULT_PORT[t.transport]) t.name = `${t.host}:${n}`;
          if (t.transport === 'winrm' && n === 5986) t.https = true;
        }
        const user = get('user');
        if (user !== undefined) {
          if (!USER.test(user)) fail(`"${safeLine(user, 40)}" is not a user name`, { file, line });
          t.user = user;
        }
        const credential = get('credential');
        if (credential !== undefined) {
          if (!CREDENTIAL.test(credential)) fail('credential must be env:NAME (a password in that variable), file:PATH (a password file) or key:PATH (an SSH private key)', { file, line });
          t.credential = credential;
        }
        out.push(t);
      } catch (e) {
        if (e instanceof InputError) errors.push(e);
        else throw e;
      }
    });
  } else {
    lines.forEach((rawLine, i) => {
      const line = rawLine.replace(/#.*$/, '').trim();
      if (!line) return;
      try {
        out.push(parseTarget(line, defaultTransport, { file, line: i + 1 }));
      } catch (e) {
        if (e instanceof InputError) errors.push(e);
        else throw e;
      }
    });
  }
  if (errors.length) throw new InputErrors(errors);
  return out;
}

/** The same host reached the same way twice is collected once (the first entry's settings win). */
export function dedupeTargets(targets: Target[]): Target[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.transport}|${t.host.toLowerCase()}|${t.port ?? DEFAULT_PORT[t.transport] ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
