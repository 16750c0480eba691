// A real OpenSSH sshd for the SSH transport's tests: its own host and user keys, on loopback
// addresses and a free port, logging to the test's stderr only on failure, whose sessions find
// pwsh. Installs Debian's openssh-server when it is missing (tests never skip).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { pwshOrFail, tempDir } from './helpers.ts';

const SSHD = '/usr/sbin/sshd';
const INSTALL = 'apt-get update && apt-get install -y openssh-server';

export interface Sshd {
  port: number;
  addresses: string[];
  dir: string;
  pid: number;
  /** Public host key files by type. */
  hostKeys: Record<'ed25519' | 'ecdsa' | 'rsa', string>;
  /** A private key in authorized_keys (for root). */
  userKey: string;
  /** A user that logs in with a password only (pwsh under /root is out of its reach). */
  passwordUser?: { user: string; password: string };
  /** The known_hosts line for one host key type at `address` (default 127.0.0.1). */
  knownHostsLine(type: keyof Sshd['hostKeys'], address?: string): string;
  /** The sshd processes serving connections (not the listener): killing them drops those connections. */
  connectionPids(): number[];
  /** What sshd logged (-e), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

function ensureSshd(): void {
  if (existsSync(SSHD)) return;
  const install = () => spawnSync('apt-get', ['install', '-y', 'openssh-server'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8' });
    r = install();
  }
  if (r.status !== 0 || !existsSync(SSHD)) {
    throw new Error(`The SSH tests need OpenSSH's sshd at ${SSHD}, and installing it failed (${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}). Install it with: ${INSTALL}`);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True once something on address:port speaks SSH. */
function answers(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    sock.setTimeout(1000);
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString('latin1').startsWith('SSH-'));
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

function makePasswordUser(dir: string): { user: string; password: string } | undefined {
  // A throwaway account on this (test) machine: reachable only through this sshd on loopback, its
  // password random and never on a command line, removed in stop(). Named per run, so test runs in
  // parallel do not take each other's account; one whose run crashed (its home gone) is removed here.
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , , , , home] = line.split(':');
    if (name?.startsWith('magpie-ssh-') && home && !existsSync(home)) spawnSync('userdel', [name], { stdio: 'ignore' });
  }
  const user = `magpie-ssh-${randomBytes(4).toString('hex')}`;
  const home = join(dir, 'home');
  const made = spawnSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', user], { encoding: 'utf8' });
  if (made.status !== 0) return undefined;
  const password = randomBytes(12).toString('base64url');
  const set = spawnSync('chpasswd', [], { input: `${user}:${password}\n`, encoding: 'utf8' });
  if (set.status !== 0) {
    spawnSync('userdel', ['-r', user], { stdio: 'ignore' });
    return undefined;
  }
  return { user, password };
}

/**
 * `keys`: the host keys and user key of another server, used again instead of new ones (a bench
 * starting many servers: one key pair logs in everywhere, and no time goes on ssh-keygen).
 */
/** `mountNamespaceOf`: run sshd (and so its sessions) in that process's mount namespace, through nsenter. */
export async function startSshd(opts: { addresses?: string[]; passwordUser?: boolean; keys?: Pick<Sshd, 'hostKeys' | 'userKey'>; mountNamespaceOf?: number } = {}): Promise<Sshd> {
  ensureSshd();
  const pwshDir = dirname(pwshOrFail());
  const dir = tempDir('magpie-sshd-');
  const addresses = opts.addresses ?? ['127.0.0.1'];
  let hostKeys = opts.keys?.hostKeys;
  if (!hostKeys) {
    hostKeys = {} as Sshd['hostKeys'];
    for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
      const file = join(dir, `ssh_host_${type}_key`);
      run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `magpie-test-host-${type}`, '-f', file]);
      hostKeys[type] = file + '.pub';
    }
  }
  let userKey = opts.keys?.userKey;
  if (!userKey) {
    userKey = join(dir, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'magpie-test-user', '-f', userKey]);
  }
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(userKey + '.pub'), { mode: 0o600 });
  const passwordUser = opts.passwordUser ? makePasswordUser(dir) : undefined;
  // Privilege separation needs this folder; Debian creates it only when the service starts.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = [
    `Port ${port}`,
    ...addresses.map((a) => `ListenAddress ${a}`),
    ...Object.values(hostKeys).map((pub) => `HostKey ${pub.replace(/\.pub$/, '')}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    'UsePAM no',
    'StrictModes no',
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    `PasswordAuthentication ${passwordUser ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    `AllowUsers root${passwordUser ? ' ' + passwordUser.user : ''}`,
    'Subsystem sftp internal-sftp',
    // sshd's own PATH would not find the dotnet global tool.
    // SHLVL=1: bash then skips ~/.bashrc, whose tools (pyenv's rehash lock) serialise parallel sessions.
    `SetEnv PATH=${pwshDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SHLVL=1`,
    // Many sessions at once in the fan-out tests and benchmarks.
    'MaxStartups 200',
    'MaxSessions 50',
    'LogLevel VERBOSE',
  ].join('\n');
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, config + '\n');
  run(SSHD, ['-t', '-f', configFile]);

  const argv = [SSHD, '-D', '-e', '-f', configFile];
  // nsenter execs sshd once it has joined the namespace: the pid stays sshd's.
  const [cmd, ...args] = opts.mountNamespaceOf ? ['nsenter', '-t', String(opts.mountNamespaceOf), '-m', '--', ...argv] : argv;
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log = (log + d).slice(-200_000)));
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`sshd exited at start:\n${log}`);
    if ((await Promise.all(addresses.map((a) => answers(a, port)))).every(Boolean)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not accept connections on port ${port} within 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    port,
    addresses,
    dir,
    pid: child.pid!,
    hostKeys,
    userKey,
    passwordUser,
    knownHostsLine(type, address = '127.0.0.1') {
      const [keyType, b64] = readFileSync(hostKeys[type], 'utf8').trim().split(/\s+/);
      return `[${address}]:${port} ${keyType} ${b64}`;
    },
    connectionPids() {
      const all: number[] = [];
      const walk = (p: number) => {
        for (const c of children(p)) {
          let comm = '';
          try {
            comm = readFileSync(`/proc/${c}/comm`, 'utf8').trim();
          } catch {
            continue;
          }
          if (comm !== 'sshd') continue;
          all.push(c);
          walk(c);
        }
      };
      walk(child.pid!);
      return all;
    },
    log: () => log,
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill('SIGKILL');
      }
      if (passwordUser) spawnSync('userdel', ['-r', passwordUser.user], { stdio: 'ignore' });
    },
  };
}

/** `SHA256:…` of a public key file, as ssh-keygen prints it: the independent reference for fingerprints. */
export function keygenFingerprint(pubFile: string): string {
  return run('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).split(/\s+/)[1];
}

/** A fresh key pair that no server knows. */
export function strangerKey(type: 'ed25519' | 'rsa' = 'ed25519'): string {
  const file = join(tempDir('magpie-key-'), `id_${type}`);
  run('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
  return file;
}
