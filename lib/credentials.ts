// Credentials for remote targets: a prompt without echo, an environment variable the responder
// names, or a password file only its owner can read; SSH keys and ssh-agent for SSH. A secret is
// held in this process's memory only: the variable is removed from the environment (so no child
// inherits it), and every secret is registered for redaction from anything Magpie prints or writes.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InputError } from './errors.ts';
import type { SshAuth } from './session/ssh/index.ts';
import type { Target } from './targets.ts';
import { registerSecret } from './text.ts';

export interface CredentialOptions {
  /** `--password-env NAME`. */
  passwordEnv?: string;
  /** `--credential-file FILE`: the password on its first line. */
  credentialFile?: string;
  /** `--ask-password`: prompt on the terminal, without echo. */
  askPassword?: boolean;
  /** `--identity FILE` (repeatable): SSH private keys. */
  identities?: string[];
  /** Prompts here when asked to (the CLI passes its terminal). */
  prompt?: (question: string) => Promise<string>;
}

/** Reads a password from an environment variable and removes it from the environment. */
export function passwordFromEnv(name: string): string {
  // bin/magpie.js moves the --password-env variable out of the environment first thing.
  const early = (globalThis as Record<symbol, { name: string; value: string } | undefined>)[Symbol.for('magpie.password-env')];
  const value = early?.name === name ? early.value : process.env[name];
  if (value === undefined || value === '') throw new InputError(`--password-env ${name}: the variable is not set (export it, or use --ask-password)`);
  delete process.env[name];
  return registerSecret(value);
}

/** Reads a password file, refusing one that group or others can read. */
export function passwordFromFile(file: string): string {
  if (!existsSync(file)) throw new InputError('credential file not found', { file });
  const st = statSync(file);
  if (!st.isFile()) throw new InputError('credential file is not a regular file', { file });
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new InputError(`credential file is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); fix it with: chmod 600 ${file}`, { file });
  }
  const first = readFileSync(file, 'utf8').split(/\r?\n/)[0];
  if (!first) throw new InputError('credential file is empty: put the password on its first line', { file });
  return registerSecret(first);
}

function defaultKeys(): string[] {
  const dir = join(homedir(), '.ssh');
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(dir, n)).filter((f) => existsSync(f));
}

export class Credentials {
  private password?: string;
  private perHost = new Map<string, string>();

  private constructor(private opts: CredentialOptions) {}

  /** Reads every secret up front, so a bad file or a missing variable stops the run before it starts. */
  static async load(opts: CredentialOptions, targets: Target[]): Promise<Credentials> {
    const c = new Credentials(opts);
    if (opts.passwordEnv) c.password = passwordFromEnv(opts.passwordEnv);
    if (opts.credentialFile) c.password = passwordFromFile(opts.credentialFile);
    if (opts.askPassword) {
      if (!opts.prompt) throw new InputError('--ask-password needs a terminal; use --password-env or --credential-file instead');
      c.password = registerSecret(await opts.prompt('password for the targets (not echoed): '));
    }
    for (const t of targets) {
      const cred = t.credential;
      if (!cred || cred.startsWith('key:')) continue;
      if (c.perHost.has(cred)) continue;
      c.perHost.set(cred, cred.startsWith('env:') ? passwordFromEnv(cred.slice(4)) : passwordFromFile(cred.slice(5)));
    }
    for (const f of opts.identities ?? []) if (!existsSync(f)) throw new InputError('SSH key file not found (--identity)', { file: f });
    return c;
  }

  /** The SSH methods to try for one target: its own credential alone, or else ssh-agent, keys, the password. */
  sshAuth(t: Target): SshAuth[] {
    const out: SshAuth[] = [];
    if (t.credential?.startsWith('key:')) return [{ type: 'key', file: t.credential.slice(4) }];
    if (t.credential) return [{ type: 'password', password: this.perHost.get(t.credential)! }];
    if (process.env.SSH_AUTH_SOCK) out.push({ type: 'agent', socket: process.env.SSH_AUTH_SOCK });
    const keys = this.opts.identities?.length ? this.opts.identities : defaultKeys();
    for (const file of keys) out.push({ type: 'key', file });
    if (this.password !== undefined) out.push({ type: 'password', password: this.password });
    return out;
  }

  /** The password for a target (WinRM), if any was given. */
  passwordFor(t: Target): string | undefined {
    if (t.credential && !t.credential.startsWith('key:')) return this.perHost.get(t.credential);
    return this.password;
  }
}

/** Reads a line from the terminal without echoing it. */
export function terminalPrompt(input: NodeJS.ReadStream, output: NodeJS.WriteStream): ((q: string) => Promise<string>) | undefined {
  if (!input.isTTY) return undefined;
  return (question) =>
    new Promise((resolve, reject) => {
      output.write(question);
      input.setRawMode(true);
      input.resume();
      let value = '';
      const done = (err?: Error) => {
        input.setRawMode(false);
        input.pause();
        input.off('data', onData);
        output.write('\n');
        if (err) reject(err);
        else resolve(value);
      };
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003') return done(new InputError('password prompt interrupted'));
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      input.on('data', onData);
    });
}
