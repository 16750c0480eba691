// A throwaway MIT Kerberos realm for the tests: a real KDC (krb5kdc) on a loopback port, its
// database, a user principal and the HTTP/localhost service key in a keytab, all in one temporary
// folder; set up in well under a second. The KRB5_* variables point this process (the client and
// the test endpoint) at it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './sshd.ts';

export const REALM = 'MAGPIE.TEST';
const TOOLS = ['/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/sbin/krb5kdc', '/usr/bin/kinit', '/usr/bin/kdestroy'];
const PACKAGES = 'krb5-kdc krb5-admin-server krb5-user';

/** The KDC programs, installed with apt-get when missing (as root), else a failure that says how. */
export function kdcOrFail(): void {
  if (TOOLS.every((t) => existsSync(t))) return;
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES.split(' ')], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const missing = TOOLS.filter((t) => !existsSync(t));
  if (missing.length) throw new Error(`The Kerberos tests need MIT Kerberos' KDC (${missing.join(', ')} missing): run \`apt-get install -y ${PACKAGES}\` (as root). apt-get said: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-400)}`);
}

export interface Kdc {
  dir: string;
  /** KRB5_CONFIG, KRB5CCNAME and KRB5_KTNAME for this realm. */
  env: Record<string, string>;
  /** Adds a user principal. */
  addUser(name: string, password: string): void;
  /** A ticket for user@REALM in the credential cache (KRB5CCNAME), as a responder's kinit would. */
  kinit(name: string, password: string): void;
  /** Empties the credential cache. */
  kdestroy(): void;
  stop(): Promise<void>;
}

export async function startKdc(dir: string): Promise<Kdc> {
  kdcOrFail();
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, 'krb5.conf'),
    `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_realm = false\n dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n` +
      `[realms]\n ${REALM} = {\n  kdc = 127.0.0.1:${port}\n }\n[domain_realm]\n localhost = ${REALM}\n`,
  );
  writeFileSync(
    join(dir, 'kdc.conf'),
    `[kdcdefaults]\n kdc_listen = 127.0.0.1:${port}\n kdc_tcp_listen = 127.0.0.1:${port}\n` +
      `[realms]\n ${REALM} = {\n  database_name = ${dir}/principal\n  key_stash_file = ${dir}/stash\n  acl_file = ${dir}/kadm5.acl\n  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }\n` +
      `[logging]\n kdc = FILE:${dir}/kdc.log\n`,
  );
  const env = { KRB5_CONFIG: join(dir, 'krb5.conf'), KRB5_KDC_PROFILE: join(dir, 'kdc.conf'), KRB5CCNAME: `FILE:${join(dir, 'ccache')}`, KRB5_KTNAME: `FILE:${join(dir, 'http.keytab')}` };
  const run = (cmd: string, args: string[], input?: string) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, input });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-400)}`);
  };
  run('/usr/sbin/kdb5_util', ['create', '-s', '-r', REALM, '-P', `master-${process.pid}`]);
  run('/usr/sbin/kadmin.local', ['-r', REALM, '-q', `addprinc -randkey HTTP/localhost@${REALM}`]);
  run('/usr/sbin/kadmin.local', ['-r', REALM, '-q', `ktadd -k ${join(dir, 'http.keytab')} HTTP/localhost@${REALM}`]);
  const kdc: ChildProcess = spawn('/usr/sbin/krb5kdc', ['-n', '-r', REALM], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const log = join(dir, 'kdc.log');
  for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('commencing operation')); i++) await new Promise((r) => setTimeout(r, 50));
  if (!readFileSync(log, 'utf8').includes('commencing operation')) throw new Error(`krb5kdc did not start: ${readFileSync(log, 'utf8').slice(-400)}`);
  Object.assign(process.env, env);
  return {
    dir,
    env,
    addUser: (name, password) => run('/usr/sbin/kadmin.local', ['-r', REALM, '-q', `addprinc -pw ${password} ${name}@${REALM}`]),
    kinit: (name, password) => run('/usr/bin/kinit', [`${name}@${REALM}`], `${password}\n`),
    kdestroy: () => run('/usr/bin/kdestroy', ['-q']),
    stop: () =>
      new Promise<void>((resolve) => {
        if (kdc.exitCode !== null) return resolve();
        kdc.once('exit', () => resolve());
        kdc.kill('SIGTERM');
      }),
  };
}
