#!/usr/bin/env -S npx tsx
// npm run bench:winrm: the WinRM transport against the test endpoint (test/winrm-server.ts: NTLM
// with message encryption on plain HTTP, its `powershell` is this machine's pwsh) on loopback. The
// endpoints run in a Node child process of their own (this script with --serve), so their CPU and
// memory are not counted as Magpie's. Measures:
//  1. per-step overhead: WinrmSession.run of one small composed step on an open session, against
//     pywinrm's Session.run_ps (a shell and a PowerShell for every command: what a responder would
//     otherwise do) of the same script text, and of the bare step body, each run_ps timed inside one
//     long-lived python3 process (Python's start-up is not counted); interleaved rounds, medians;
//  2. fetch throughput: a BENCH_WINRM_FETCH_MB file fetched through the session's PowerShell by
//     fetchFile alone, and a step writing it into $OutDir then fetched by WinrmSession.run (the
//     step's own writing timed apart), with the peak RSS of this (Magpie's) process;
//  3. fan-out: BENCH_WINRM_HOSTS targets (one endpoint each: distinct ports on 127.0.0.1, which is
//     all the endpoint binds) collected by the real CLI at BENCH_WINRM_CONCURRENCY with a 2-step
//     playbook: wall time, hosts/min, failures, peak RSS of the CLI's Node process.
// Prints the figures and a Markdown section; BENCH_WRITE=1 (or --write) puts it into docs/benchmarks.md.
//
//   BENCH_WINRM_HOSTS=100        targets for the fan-out (one test endpoint each)
//   BENCH_WINRM_CONCURRENCY=32   the CLI's --concurrency
//   BENCH_WINRM_FETCH_MB=100     size of the fetched file, in MB of 2^20 bytes
//   BENCH_WINRM_STEP_RUNS=20     measured interleaved rounds for the per-step overhead (after 3 warm-up)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sha256File } from '../lib/evidence/hash.ts';
import { ROOT_DIR } from '../lib/paths.ts';
import { PWSH_ARGS, requirePwsh } from '../lib/pwsh.ts';
import { invocationLine, parseSummary, preludeSource, RECORD_DEPTH } from '../lib/script.ts';
import { HELLO_LINE, SHELL_SETUP } from '../lib/session/powershell-lines.ts';
import { fetchFile } from '../lib/session/winrm/files.ts';
import { WinrmHttp, WinrmPowerShell, WinrmSession, WinrmShell } from '../lib/session/winrm/index.ts';
import { PYTHON, pywinrmOrFail, startWinrmServer, type WinrmServer } from '../test/winrm-server.ts';
import { CLK_TCK, cliPath, fmt, machineCpu, median, procTimes, pwshStartCpu, writeSection } from './bench-common.ts';

const HOSTS = Number(process.env.BENCH_WINRM_HOSTS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_WINRM_CONCURRENCY ?? 32);
const FETCH_MB = Number(process.env.BENCH_WINRM_FETCH_MB ?? 100);
const STEP_RUNS = Number(process.env.BENCH_WINRM_STEP_RUNS ?? 20);
const WARMUP = 3;
const USER = 'responder';
/** How the password reaches the endpoints' process, the python client and the CLI (never argv). */
const PW_ENV = 'MAGPIE_BENCH_WINRM_PW';
const PLAYBOOK = 'bench-winrm';
const MB = 1024 * 1024;
const RUN_TIMEOUT_MS = 60 * 60_000;
const SELF = fileURLToPath(import.meta.url);

/** The step body of the per-step comparison: a few objects. */
const BODY = `1..5 | ForEach-Object { [pscustomobject]@{ n = $_; name = "item$_"; square = $_ * $_; at = [DateTime]::UtcNow.ToString('o') } }`;
/** The same body as a responder would send it through run_ps: the objects as JSON lines on stdout (a trivial prelude). */
const BARE = `$ProgressPreference = 'SilentlyContinue'\n& {\n${BODY}\n} | ForEach-Object { $_ | ConvertTo-Json -Compress -Depth ${RECORD_DEPTH} }`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What composeScript makes of a step body (the prelude, then the body inside Invoke-MagpieStep), as test/winrm-run.test.ts's step(). */
function step(body: string): string {
  return `${preludeSource()}\nInvoke-MagpieStep {\n${body}\n}\n`;
}

// ---- the endpoints' process (this file with --serve N) ----

async function serve(count: number): Promise<void> {
  const password = process.env[PW_ENV];
  // Out of the environment before any PowerShell is spawned (they inherit it).
  delete process.env[PW_ENV];
  if (!password) throw new Error(`--serve needs the password in ${PW_ENV}`);
  const pwsh = requirePwsh();
  const servers: WinrmServer[] = [];
  let closing = false;
  const close = async (code: number) => {
    if (closing) return;
    closing = true;
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    process.exit(code);
  };
  process.on('SIGTERM', () => void close(0));
  process.on('SIGINT', () => void close(0));
  for (let i = 0; i < count; i++) servers.push(await startWinrmServer({ users: { [USER]: password }, pwsh }));
  process.stdout.write(JSON.stringify({ ports: servers.map((s) => s.port) }) + '\n');
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== 'stats') return;
    const sum = (f: (s: WinrmServer) => number) => servers.reduce((n, s) => n + f(s), 0);
    process.stdout.write(
      JSON.stringify({
        openShells: sum((s) => s.openShells()),
        requests: sum((s) => s.stats.encryptedRequests),
        handshakes: sum((s) => s.stats.handshakes),
        authFailures: sum((s) => s.stats.authFailures),
        plainRefused: sum((s) => s.stats.plainRefused),
      }) + '\n',
    );
  });
  rl.on('close', () => void close(0));
}

interface EndpointStats {
  openShells: number;
  requests: number;
  handshakes: number;
  authFailures: number;
  plainRefused: number;
}

/** The endpoints' child process: N test servers, one port each; asked for their stats over stdin. */
class Endpoints {
  ports: number[] = [];
  /** CPU of the endpoints' process and every PowerShell under it. */
  cpu!: TreeCpu;
  private lines: string[] = [];
  private waiting?: (line: string) => void;
  readonly child: ChildProcess;
  private exited?: string;

  constructor(count: number, password: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve', String(count)], {
      cwd: ROOT_DIR,
      env: { ...process.env, [PW_ENV]: password },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(l);
      else this.lines.push(l);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `the endpoints' process exited (${signal ?? code})`;
      const w = this.waiting;
      this.waiting = undefined;
      w?.('');
    });
  }

  private next(timeoutMs: number): Promise<string> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the endpoints' process did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiting = (l) => {
        clearTimeout(t);
        if (this.exited && !l) reject(new Error(this.exited));
        else resolve(l);
      };
    });
  }

  async ready(): Promise<void> {
    this.ports = JSON.parse(await this.next(120_000)).ports;
    this.cpu = new TreeCpu(this.pid);
  }

  async stats(): Promise<EndpointStats> {
    this.child.stdin!.write('stats\n');
    return JSON.parse(await this.next(30_000));
  }

  get pid(): number {
    return this.child.pid!;
  }

  stop(): Promise<void> {
    this.cpu?.stop();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('exit', () => (clearTimeout(t), resolve()));
      this.child.stdin!.end();
    });
  }
}

// ---- /proc ----

/**
 * CPU seconds of a process and every descendant, followed by sampling /proc every 200 ms. Reaped
 * time alone misses work here: ~/.dotnet/tools/pwsh is a launcher whose child (dotnet) runs
 * PowerShell, and the endpoint ends a command by SIGKILL to its process group, so the launcher
 * dies without waiting for that child, whose CPU then goes to init, not to the endpoint.
 * (Loses at most the last 200 ms of each process, idle by then.)
 */
class TreeCpu {
  private readonly seen = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly root: number,
    intervalMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const procs = new Map<number, { ppid: number; key: string; jiffies: number }>();
    const children = new Map<number, number[]>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const pid = Number(d);
        const ppid = Number(f[1]);
        // utime + stime; starttime (field 22) tells a reused pid apart.
        procs.set(pid, { ppid, key: `${pid}:${f[19]}`, jiffies: Number(f[11]) + Number(f[12]) });
        children.set(ppid, [...(children.get(ppid) ?? []), pid]);
      } catch {
        // gone
      }
    }
    for (const stack = [this.root]; stack.length; ) {
      const pid = stack.pop()!;
      const p = procs.get(pid);
      if (!p) continue;
      this.seen.set(p.key, p.jiffies);
      stack.push(...(children.get(pid) ?? []));
    }
  }

  /** Processes of the tree seen so far (the root included). */
  processes(): number {
    return this.seen.size;
  }

  /** CPU seconds of the root process alone (at its last sample). */
  rootSeconds(): number {
    let j = 0;
    for (const [k, v] of this.seen) if (k.startsWith(`${this.root}:`)) j += v;
    return j / CLK_TCK;
  }

  /** CPU seconds of the root's descendants alone. */
  descendantSeconds(): number {
    let j = 0;
    for (const [k, v] of this.seen) if (!k.startsWith(`${this.root}:`)) j += v;
    return j / CLK_TCK;
  }

  /** The command lines of the root's descendants alive now. */
  descendantCommands(): string[] {
    const out: string[] = [];
    for (const k of this.seen.keys()) {
      const pid = k.split(':')[0];
      if (Number(pid) === this.root) continue;
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        if (cmd) out.push(cmd);
      } catch {
        // gone
      }
    }
    return out;
  }

  /** CPU seconds so far (every process of the tree ever seen, at its last sample). */
  seconds(): number {
    this.sample();
    let j = 0;
    for (const v of this.seen.values()) j += v;
    return j / CLK_TCK;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function statusMb(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Peak RSS of this process over `fn`: VmHWM after resetting it (/proc/self/clear_refs "5"), or,
 * where the kernel refuses the reset, the RSS sampled every 20 ms.
 */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number; beforeMb: number; how: string }> {
  global.gc?.();
  const beforeMb = statusMb('self', 'VmRSS');
  let reset = true;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    reset = false;
  }
  let sampled = beforeMb;
  const sampler = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage().rss / MB)), 20);
  try {
    const value = await fn();
    return { value, peakMb: reset ? Math.max(statusMb('self', 'VmHWM'), sampled) : sampled, beforeMb, how: reset ? 'VmHWM, reset before' : 'RSS sampled every 20 ms' };
  } finally {
    clearInterval(sampler);
  }
}

// ---- pywinrm in one long-lived python3 process ----

const PY_CLIENT = String.raw`
import sys, json, os, time
import winrm
try:
    from importlib.metadata import version
    v = version('pywinrm')
except Exception:
    v = getattr(winrm, '__version__', '?')
url, user = sys.argv[1:3]
s = winrm.Session(url, auth=(user, os.environ.pop('${PW_ENV}')), transport='ntlm', message_encryption='always')
print(json.dumps({'ready': True, 'pywinrm': v}), flush=True)
def text(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b)
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.perf_counter()
    try:
        r = s.run_ps(req['script'])
        out = {'id': req['id'], 'ms': (time.perf_counter() - t0) * 1000, 'code': r.status_code, 'out': text(r.std_out)[-200000:], 'err': text(r.std_err)[-4000:]}
    except Exception as e:
        out = {'id': req['id'], 'ms': (time.perf_counter() - t0) * 1000, 'error': repr(e)[:2000]}
    print(json.dumps(out), flush=True)
`;

interface PyResult {
  id: number;
  ms: number;
  code?: number;
  out?: string;
  err?: string;
  error?: string;
}

/**
 * ntlm-auth computes the NT hash with hashlib's MD4, which Debian 12's OpenSSL 3 offers only from
 * its legacy provider: a config for the python process alone that loads it (as test/winrm-server.test.ts).
 */
function legacyOpensslConf(dir: string): string {
  const file = join(dir, 'openssl.cnf');
  writeFileSync(file, ['openssl_conf = openssl_init', '[openssl_init]', 'providers = provider_sect', '[provider_sect]', 'default = default_sect', 'legacy = legacy_sect', '[default_sect]', 'activate = 1', '[legacy_sect]', 'activate = 1', ''].join('\n'));
  return file;
}

class PyWinrm {
  version = '?';
  private seq = 0;
  private pending = new Map<number, (r: PyResult) => void>();
  private stderr = '';
  private readonly child: ChildProcess;
  private ready: Promise<void>;

  constructor(url: string, password: string, opensslConf: string) {
    this.child = spawn(PYTHON, ['-c', PY_CLIENT, url, USER], {
      env: { ...process.env, [PW_ENV]: password, OPENSSL_CONF: opensslConf, NO_PROXY: '*', no_proxy: '*', HTTP_PROXY: '', http_proxy: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      const msg = JSON.parse(l);
      if (msg.ready) {
        this.version = msg.pywinrm;
        readyResolve();
        return;
      }
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
    });
    this.child.on('exit', (code) => {
      const e = new Error(`python3 (pywinrm) exited ${code}: ${this.stderr.trim().slice(-1500)}`);
      readyReject(e);
      for (const [id, r] of this.pending) r({ id, ms: 0, error: e.message });
      this.pending.clear();
    });
  }

  async start(): Promise<void> {
    await this.ready;
  }

  run(script: string): Promise<PyResult> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ id, script }) + '\n');
    });
  }

  end(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((r) => {
      this.child.once('exit', () => r());
      this.child.stdin!.end();
    });
  }
}

// ---- 1. per-step overhead ----

interface StepOverhead {
  runs: number;
  magpie: number;
  pySame: number;
  pyBare: number;
  /** Medians of the rounds' own ratios. */
  ratioSame: number;
  ratioBare: number;
  /** Requests to the endpoint for one step (the last warm-up round). */
  requests: { magpie: number; pySame: number; pyBare: number };
  /** Characters of the command line run_ps sends for the same script text. */
  commandLineChars: number;
  pywinrm: string;
}

async function stepOverhead(endpoints: Endpoints, password: string, scratch: string): Promise<StepOverhead> {
  const port = endpoints.ports[0];
  const script = step(BODY);
  const s = await WinrmSession.open({ host: '127.0.0.1', port, credentials: { user: USER, password } });
  const py = new PyWinrm(`http://127.0.0.1:${port}/wsman`, password, legacyOpensslConf(scratch));
  try {
    await py.start();
    const magpieMs: number[] = [];
    const sameMs: number[] = [];
    const bareMs: number[] = [];
    const requests = { magpie: 0, pySame: 0, pyBare: 0 };
    let commandLineChars = 0;

    const runMagpie = async () => {
      const stageDir = mkdtempSync(join(scratch, 'magpie-step-'));
      const t0 = performance.now();
      const r = await s.run(script, {}, { timeoutMs: 60_000, stageDir });
      const ms = performance.now() - t0;
      if (r.outcome !== 'completed' || r.summary?.status !== 'ok' || r.summary.records !== 5 || r.fetchError) {
        throw new Error(`WinrmSession step failed: ${r.outcome} ${JSON.stringify(r.summary)} ${r.fetchError ?? ''} ${r.hostOutput}`);
      }
      const lines = readFileSync(join(stageDir, 'records.jsonl'), 'utf8').split('\n').filter(Boolean);
      if (lines.length !== 5) throw new Error(`WinrmSession fetched ${lines.length} records, not 5`);
      rmSync(stageDir, { recursive: true, force: true });
      return ms;
    };
    const runSame = async () => {
      // The same invocation line Magpie sends (prelude + body, its context), in a fresh PowerShell;
      // its stage is a folder here (the target is this machine), removed after, untimed.
      const stage = join(scratch, `pywinrm-stage-${randomBytes(4).toString('hex')}`);
      const line = invocationLine(script, { params: {}, stage, depth: RECORD_DEPTH, target: { user: s.info.user, admin: s.info.admin } });
      commandLineChars = 'powershell -encodedcommand '.length + Buffer.from(line, 'utf16le').toString('base64').length;
      const r = await py.run(line);
      if (r.error || r.code !== 0) throw new Error(`pywinrm run_ps of the invocation line failed: ${r.error ?? `exit ${r.code}: ${r.err}`}`);
      const sum = parseSummary(r.out ?? '').summary;
      if (sum?.status !== 'ok' || sum.records !== 5) throw new Error(`pywinrm run_ps of the invocation line printed no ok summary: ${(r.out ?? '').slice(0, 500)} ${r.err}`);
      const recs = readFileSync(join(stage, 'records.jsonl'), 'utf8').split('\n').filter(Boolean);
      if (recs.length !== 5) throw new Error(`pywinrm's step wrote ${recs.length} records, not 5`);
      rmSync(stage, { recursive: true, force: true });
      return r.ms;
    };
    const runBare = async () => {
      const r = await py.run(BARE);
      if (r.error || r.code !== 0) throw new Error(`pywinrm run_ps of the bare body failed: ${r.error ?? `exit ${r.code}: ${r.err}`}`);
      const recs = (r.out ?? '').split(/\r?\n/).filter((l) => l.trim());
      if (recs.length !== 5 || recs.some((l) => typeof JSON.parse(l).n !== 'number')) throw new Error(`pywinrm run_ps of the bare body printed ${JSON.stringify((r.out ?? '').slice(0, 500))}`);
      return r.ms;
    };
    const kinds = [
      { run: runMagpie, into: magpieMs, key: 'magpie' as const },
      { run: runSame, into: sameMs, key: 'pySame' as const },
      { run: runBare, into: bareMs, key: 'pyBare' as const },
    ];
    for (let i = 0; i < STEP_RUNS + WARMUP; i++) {
      // Interleaved, the order turning each round: other work on the machine hits all three alike.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(i + k) % kinds.length];
        const count = i === WARMUP - 1;
        const before = count ? (await endpoints.stats()).requests : 0;
        const ms = await kind.run();
        if (count) requests[kind.key] = (await endpoints.stats()).requests - before;
        if (i >= WARMUP) kind.into.push(ms);
      }
      process.stdout.write(i < WARMUP ? 'w' : '.');
    }
    process.stdout.write('\n');
    return {
      runs: STEP_RUNS,
      magpie: median(magpieMs),
      pySame: median(sameMs),
      pyBare: median(bareMs),
      ratioSame: median(magpieMs.map((m, i) => m / sameMs[i])),
      ratioBare: median(magpieMs.map((m, i) => m / bareMs[i])),
      requests,
      commandLineChars,
      pywinrm: py.version,
    };
  } finally {
    await py.end();
    await s.close();
  }
}

// ---- 2. fetch throughput ----

interface FetchFigures {
  bytes: number;
  /** fetchFile alone, on a file already on the target. */
  direct: { seconds: number; mbps: number; peakMb: number; beforeMb: number; how: string; cpuMagpie: number; cpuTarget: number };
  /** WinrmSession.run of a step writing the file into $OutDir, and of the same step deleting it (no fetch). */
  session: { whole: number; writeOnly: number; mbps: number; peakMb: number; beforeMb: number };
}

/** A file of random bytes (incompressible, as the test's step writes), with its SHA-256. */
function randomFile(file: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const b = randomBytes(Math.min(MB, left));
      h.update(b);
      writeSync(fd, b);
      left -= b.length;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

async function fetchThroughput(endpoints: Endpoints, password: string, scratch: string): Promise<FetchFigures> {
  const bytes = FETCH_MB * MB;
  const port = endpoints.ports[0];

  // a) fetchFile alone, through a PowerShell in a shell as WinrmSession starts them (two connections).
  const source = join(scratch, 'fetch-source.bin');
  const sha = randomFile(source, bytes);
  const http = { host: '127.0.0.1', port, credentials: { user: USER, password }, requestTimeoutMs: 60_000 };
  const control = new WinrmHttp(http);
  const receiver = new WinrmHttp(http);
  let direct: FetchFigures['direct'];
  const shell = await WinrmShell.open(control);
  try {
    const ps = await WinrmPowerShell.start(shell, shell.via(receiver));
    if (!(await ps.call(HELLO_LINE, true)).stdout.includes('MAGPIE-HELLO:')) throw new Error('the PowerShell for the fetch did not answer');
    await ps.call(SHELL_SETUP);
    const dest = join(scratch, 'fetched.bin');
    // One warm-up fetch of 16 MB first, as the per-step rounds have theirs: the figure is the rate
    // of a long transfer (a memory dump), not of the JIT compiling the path on both sides.
    const warm = join(scratch, 'warm.bin');
    randomFile(warm, 16 * MB);
    await fetchFile(ps, warm, `${warm}.fetched`, { chunkSize: MB });
    rmSync(warm, { force: true });
    rmSync(`${warm}.fetched`, { force: true });
    const cpu0 = process.cpuUsage();
    const srv0 = endpoints.cpu.seconds();
    const t0 = performance.now();
    const { value: r, peakMb, beforeMb, how } = await peakRss(() => fetchFile(ps, source, dest, { chunkSize: MB }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // Read while the PowerShell still runs: everything it did is in its own times.
    const srv1 = endpoints.cpu.seconds();
    if (r.size !== bytes || r.sha256 !== sha || (await sha256File(dest)).sha256 !== sha) throw new Error(`fetchFile brought ${r.size} bytes with SHA-256 ${r.sha256}, not ${bytes} with ${sha}`);
    rmSync(dest, { force: true });
    await ps.stop();
    direct = {
      seconds,
      mbps: bytes / MB / seconds,
      peakMb,
      beforeMb,
      how,
      cpuMagpie: (cpu.user + cpu.system) / 1e6,
      // The endpoints' Node process and the PowerShell it runs.
      cpuTarget: srv1 - srv0,
    };
  } finally {
    await shell.close().catch(() => undefined);
    control.close();
    receiver.close();
    rmSync(source, { force: true });
  }

  // b) WinrmSession.run: the step writes the file into $OutDir (as test/winrm-run.test.ts's 100 MB test), then it is fetched.
  const write = (andDelete: boolean) =>
    step(
      `$p = [IO.Path]::Combine($OutDir, 'big.bin'); $f = [IO.File]::Create($p); $rnd = [Random]::new(7); $buf = [byte[]]::new(1MB)\n` +
        `try { for ($i = 0; $i -lt ${FETCH_MB}; $i++) { $rnd.NextBytes($buf); $f.Write($buf, 0, $buf.Length) } } finally { $f.Dispose() }\n` +
        (andDelete ? '[IO.File]::Delete($p)\n' : '') +
        `[pscustomobject]@{ wrote = ${FETCH_MB} }`,
    );
  const s = await WinrmSession.open({ host: '127.0.0.1', port, credentials: { user: USER, password } });
  try {
    const runStep = async (script: string) => {
      const stageDir = mkdtempSync(join(scratch, 'fetch-step-'));
      const t0 = performance.now();
      const r = await s.run(script, {}, { timeoutMs: 600_000, stageDir });
      const seconds = (performance.now() - t0) / 1000;
      if (r.outcome !== 'completed' || r.summary?.status !== 'ok' || r.fetchError) throw new Error(`the ${FETCH_MB} MB step failed: ${r.outcome} ${r.fetchError ?? ''} ${r.hostOutput}`);
      return { r, seconds, stageDir };
    };
    // The step's own writing, with nothing left to fetch (the first run also warms the session up).
    const w = await runStep(write(true));
    rmSync(w.stageDir, { recursive: true, force: true });
    const { value: whole, peakMb, beforeMb } = await peakRss(() => runStep(write(false)));
    const big = join(whole.stageDir, 'files', 'big.bin');
    const target = whole.r.summary!.files.find((f) => f.path === 'big.bin');
    if (statSync(big).size !== bytes || !target || (await sha256File(big)).sha256 !== target.sha256) throw new Error('the fetched big.bin is not what the step wrote');
    rmSync(whole.stageDir, { recursive: true, force: true });
    const fetchSeconds = whole.seconds - w.seconds;
    return { bytes, direct, session: { whole: whole.seconds, writeOnly: w.seconds, mbps: bytes / MB / fetchSeconds, peakMb, beforeMb } };
  } finally {
    await s.close();
  }
}

// ---- 3. fan-out through the real CLI ----

interface FanOut {
  hosts: number;
  seconds: number;
  completed: number;
  hostsPerMin: number;
  peakRssMb: number;
  failure?: string;
  exitCode: number | null;
  /** Processes seen in the CLI's tree (1: the CLI alone). */
  cliProcesses: number;
  /** CPU seconds of the processes the CLI started (last sampled), and their command lines 5 s in. */
  cliChildrenCpu: number;
  cliCommands: string[];
  cpu: { magpie: number; targets: number; machine: number; capacity: number };
  endpoint: EndpointStats;
}

let runningCli: ChildProcess | undefined;

async function fanOut(endpoints: Endpoints, password: string, scratch: string): Promise<FanOut> {
  const targets = endpoints.ports.slice(0, HOSTS).map((p) => `winrm://${USER}@127.0.0.1:${p}`);
  const targetsFile = join(scratch, 'targets.txt');
  writeFileSync(targetsFile, `# ${targets.length} WinRM test endpoints on loopback, one port each\n${targets.join('\n')}\n`);
  const book = join(scratch, 'playbooks');
  mkdirSync(book, { recursive: true });
  const steps = [{ step: 'host-info' }, { id: 'items', run: BODY }];
  writeFileSync(join(book, `${PLAYBOOK}.yaml`), JSON.stringify({ name: PLAYBOOK, description: 'WinRM fan-out benchmark: host facts, a few objects', steps }, null, 2));
  const out = join(scratch, 'out');
  const args = ['run', PLAYBOOK, '--playbooks', book, '--targets', targetsFile, '--password-env', PW_ENV, '--out', out, '--concurrency', String(CONCURRENCY), '--json'];

  const before = { machine: machineCpu(), targets: endpoints.cpu.seconds() };
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT_DIR, 'bin', 'magpie.js'), ...args], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', [PW_ENV]: password } });
  runningCli = child;
  // The CLI's Node process and whatever it starts (its rusage once reaped would miss a child it kills without waiting for it).
  const cliTree = new TreeCpu(child.pid!, 100);
  let cliCommands: string[] = [];
  const lookAt = setTimeout(() => (cliCommands = cliTree.descendantCommands()), 5000);
  let partial = '';
  let lastLine = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) lastLine = l;
  });
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, statusMb(child.pid!, 'VmHWM'))), 100);
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  runningCli = undefined;
  const seconds = (performance.now() - t0) / 1000;
  cliTree.stop();
  clearTimeout(lookAt);
  const cliCpu = cliTree.rootSeconds();
  const cliProcesses = cliTree.processes();
  const cliChildrenCpu = cliTree.descendantSeconds();
  clearInterval(sampler);
  clearTimeout(killer);
  // The endpoints end each PowerShell when its shell is deleted (sampled until then, idle at the end).
  let endpoint = await endpoints.stats();
  for (let i = 0; i < 50 && endpoint.openShells; i++) {
    await sleep(200);
    endpoint = await endpoints.stats();
  }
  await sleep(1000);
  const after = { machine: machineCpu(), targets: endpoints.cpu.seconds() };

  type HostLine = { target: string; state: string; failure: string | null; error: string | null; failedSteps: number; steps: { id: string; status: string; reason: string | null }[] };
  let summary: { type: string; hosts: HostLine[] } | undefined;
  try {
    summary = JSON.parse(partial.trim() || lastLine);
  } catch {
    summary = undefined;
  }
  if (!summary || summary.type !== 'summary') throw new Error(`magpie exited ${code} without a JSON summary line.\nlast stdout: ${(partial.trim() || lastLine).slice(0, 2000)}\nstderr: ${stderr.slice(-4000)}`);
  const bad = summary.hosts.filter((h) => h.state !== 'complete' || h.failedSteps > 0 || h.steps.length !== steps.length || h.steps.some((s) => s.status !== 'ok'));
  const missing = targets.length - summary.hosts.length;
  let failure: string | undefined;
  if (missing || bad.length || code !== 0) {
    const kinds = new Map<string, number>();
    for (const h of bad) kinds.set(h.failure ?? h.state, (kinds.get(h.failure ?? h.state) ?? 0) + 1);
    const first = bad[0] ? (bad[0].error ?? bad[0].steps.map((s) => `${s.id}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`).join(', ')) : `exit ${code}`;
    failure = `${bad.length + missing} of ${targets.length} hosts did not complete (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}${missing ? `, ${missing} missing from the summary` : ''}); first reason: ${first.trim().replace(/\s+/g, ' ').slice(0, 300)}`;
    const lines = bad.slice(0, 10).map((h) => `  ${h.target}: ${h.state}${h.failure ? ` (${h.failure})` : ''} ${h.error ?? ''} ${h.steps.map((s) => `${s.id}=${s.status}${s.reason ? ` [${s.reason}]` : ''}`).join(' ')}`);
    console.error(`\n*** NOT every host completed — exit ${code}, ${summary.hosts.length} of ${targets.length} hosts in the summary, ${bad.length} not complete:\n${lines.join('\n')}${bad.length > 10 ? `\n  … and ${bad.length - 10} more` : ''}\nstderr: ${stderr.slice(-2000)}\n`);
  }
  rmSync(out, { recursive: true, force: true });
  const completed = targets.length - missing - bad.length;
  const cpuS = (j: number) => j / CLK_TCK;
  return {
    hosts: targets.length,
    seconds,
    completed,
    hostsPerMin: (completed / seconds) * 60,
    peakRssMb: peak,
    failure,
    exitCode: code,
    cliProcesses,
    cliChildrenCpu,
    cliCommands,
    endpoint,
    cpu: {
      magpie: cliCpu,
      targets: after.targets - before.targets,
      machine: cpuS(after.machine.busy - before.machine.busy),
      capacity: cpuS(after.machine.total - before.machine.total),
    },
  };
}

// ---- the report ----

function machineLine(pwsh: string, pywinrm: string): string {
  const psVersion = spawnSync(pwsh, [...PWSH_ARGS, '-Command', '$PSVersionTable.PSVersion.ToString()'], { encoding: 'utf8' }).stdout.trim();
  const python = spawnSync(PYTHON, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.versions.node}, ${psVersion} pwsh, ${python} with pywinrm ${pywinrm}`;
}

/** What the CLI started besides itself, when it did. */
function cliChildren(fan: FanOut): string {
  if (fan.cliProcesses <= 1) return '';
  const cmds = [...new Set(fan.cliCommands.map((c) => c.replace(/\S*\/(?=[^/\s]+\s)/, '').slice(0, 90)))];
  const pwsh = cmds.some((c) => /pwsh/.test(c));
  return (
    ` The CLI started ${fan.cliProcesses - 1} process${fan.cliProcesses > 2 ? 'es' : ''} of its own${cmds.length ? ` (${cmds.map((c) => `\`${c}\``).join(', ')})` : ''}, ${fan.cliChildrenCpu.toFixed(1)} CPU-seconds (not in Magpie's figure above)` +
    (pwsh
      ? `: the local PowerShell that scripts/magpie.ts starts early for a local run unless \`--transport\` names another one; \`winrm://\` targets alone do not stop it, so this run started a PowerShell here that no host used.`
      : '.')
  );
}

const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
const loadText = (l: number[]) => l.map((x) => x.toFixed(1)).join(' / ');

function report(o: { step: StepOverhead; fetch: FetchFigures; fan: FanOut; machine: string; load: { before: number[]; after: number[] }; cli: string; startCpu: number; endpoints: number }): { markdown: string; ok: boolean } {
  const { step, fetch: fetched, fan } = o;
  const ratio = step.magpie / step.pySame;
  const cores = cpus().length;
  const mb = fetched.bytes / MB;
  const stepOk = ratio <= 1;
  const fetchOk = fetched.direct.mbps >= 20;
  const fanOk = !fan.failure;
  const busy = (fan.cpu.machine / fan.cpu.capacity) * 100;
  const other = Math.max(0, fan.cpu.machine - fan.cpu.magpie - fan.cliChildrenCpu - fan.cpu.targets);
  const perHost = (fan.cpu.magpie + fan.cpu.targets) / Math.max(1, fan.hosts);
  const ceiling = (cores * 60) / perHost;
  const loaded = o.load.before[0] > 0.5 || other / fan.cpu.capacity > 0.05;
  const fetchCpu = fetched.direct.cpuMagpie + fetched.direct.cpuTarget;
  const magpiePerMb = (fetched.direct.cpuMagpie * 1000) / mb;
  const targetPerMb = (fetched.direct.cpuTarget * 1000) / mb;

  const markdown = `## Remote collection over WinRM (${new Date().toISOString().slice(0, 10)})

Machine: ${o.machine}; load average ${loadText(o.load.before)} (1 / 5 / 15 min) before the bench, ${loadText(o.load.after)} at its end (its own PowerShell processes included).

scripts/bench-winrm.ts against the WinRM test endpoint (test/winrm-server.ts: NTLM with message encryption on plain HTTP, its \`powershell\` this machine's pwsh) on loopback. The endpoints (${o.endpoints}, one port each on 127.0.0.1, all that the endpoint binds) run in a Node child process of their own, so Magpie's CPU and memory figures hold Magpie alone; but every target's PowerShell runs on the same ${cores} cores as Magpie.

| figure | target | measured | met? |
|---|---|---|---|
| per-step time, Magpie / pywinrm: \`WinrmSession.run\` of one small step on an open session against pywinrm's \`Session.run_ps\` of the same script text (medians of ${step.runs} interleaved rounds) | ≤ 1.0× | **${ratio.toFixed(3)}×** (${fmt(step.magpie, 1)} ms against ${fmt(step.pySame)} ms; median of the rounds' ratios ${step.ratioSame.toFixed(3)}×) | ${yes(stepOk)} |
| the same, against \`run_ps\` of the bare step body (objects as JSON lines on stdout, no prelude) | | ${(step.magpie / step.pyBare).toFixed(3)}× (${fmt(step.magpie, 1)} ms against ${fmt(step.pyBare)} ms) | |
| fetch throughput: \`fetchFile\` of a ${fmt(mb)} MB file (MB = 2^20 bytes) through the session's PowerShell, the fetch alone | ≥ 20 MB/s | **${fetched.direct.mbps.toFixed(1)} MB/s** (${fetched.direct.seconds.toFixed(1)} s) | ${yes(fetchOk)} |
| fetch inside \`WinrmSession.run\`: a step writes ${fmt(mb)} MB of random bytes into $OutDir and the run fetches it (whole run − the same step deleting its file before the end) | | ${fetched.session.mbps.toFixed(1)} MB/s (${fetched.session.whole.toFixed(1)} s − ${fetched.session.writeOnly.toFixed(1)} s) | |
| peak RSS of Magpie's process during the fetch (\`fetchFile\` / \`WinrmSession.run\`) | | **${fetched.direct.peakMb.toFixed(0)} MB** / ${fetched.session.peakMb.toFixed(0)} MB (${fetched.direct.beforeMb.toFixed(0)} / ${fetched.session.beforeMb.toFixed(0)} MB before) | |
| fan-out: ${fan.hosts} targets at concurrency ${CONCURRENCY} through the CLI (2 steps: host-info, a few objects), wall time | | **${fan.seconds.toFixed(1)} s** | |
| hosts per minute (completed hosts) | | **${fmt(fan.hostsPerMin, 1)}** | |
| hosts that failed (not complete, or a step not ok) | none | **${fan.hosts - fan.completed}**${fan.failure ? ` (exit ${fan.exitCode})` : ''} | ${yes(fanOk)} |
| peak RSS of the CLI's Node process (VmHWM, sampled every 100 ms) | | **${fan.peakRssMb.toFixed(0)} MB** | |
${fan.failure ? `\n**Not every host completed**: ${fan.failure}\n` : ''}
What was compared, per step: Magpie's \`WinrmSession.run\` of the composed step (Magpie's prelude, then \`${BODY}\` inside Invoke-MagpieStep) on one open session (its shell and PowerShell already started): the invocation line sent to the waiting PowerShell, the records written on the target, then the stage listed, records.jsonl and the logs fetched and verified by SHA-256, the stage removed. pywinrm ${step.pywinrm} (Debian's python3-winrm), in one long-lived python3 process that times each call (Python's start is not counted), with one \`winrm.Session\` (NTLM, message encryption) reused: \`run_ps\` opens a shell, starts \`powershell -encodedcommand …\` in it, receives the output, and deletes the shell, per command. It ran (a) the very invocation line Magpie sends (prelude, body and context; a ${fmt(step.commandLineChars)}-character command line once run_ps has encoded it as UTF-16 base64, near the 32,767 characters a Windows command line may hold), which writes the records to a folder on the target that nothing fetches, and (b) the bare body piped to \`ConvertTo-Json -Compress\` (the records come back on stdout). So pywinrm's figures hold no fetch and no verification, Magpie's do; run_ps starts PowerShell without -NoProfile, which costs nothing here (no profile exists). Requests to the endpoint for one step: Magpie ${step.requests.magpie}, pywinrm ${step.requests.pySame} (a) and ${step.requests.pyBare} (b). What separates the times is PowerShell's start-up, which run_ps pays on every command (one bare \`pwsh -NoProfile -Command 1\` costs ${o.startCpu.toFixed(2)} CPU-seconds here) and Magpie once per host.

The fetch: \`fetchFile\` (lib/session/winrm/files.ts) on a file of random bytes already on the target, through a PowerShell started as \`WinrmSession\` starts it, after one 16 MB warm-up fetch (so the figure is a long transfer's rate, not the JIT's first pass over the path on both sides): one request whose output is the file, written by the target's PowerShell to its raw stdout as 1 MiB blocks each behind a header line with its offset, length and SHA-256, then the whole file's SHA-256; Magpie writes and checks each block as it arrives, and asks the next Receive before handing a response's output on. Over the fetch Magpie's process used ${fetched.direct.cpuMagpie.toFixed(1)} CPU-seconds (${fmt(magpiePerMb)} ms a MB) and the endpoint's side (its Node process and the PowerShell) ${fetched.direct.cpuTarget.toFixed(1)} (${fmt(targetPerMb)} ms a MB), ${fmt(fetchCpu, 1)} CPU-seconds for ${fetched.direct.seconds.toFixed(1)} s of wall time: on loopback the rate is set by CPU (RC4 sealing and an HMAC on every message, the XML and its base64, SHA-256 of every block and of the whole), not by a network; Magpie's share alone would allow ≈ ${fmt(1000 / magpiePerMb, 1)} MB/s on one of these cores against an endpoint that cost nothing. The endpoint here is the test server (Node) and pwsh, not Windows' WinRM service and PowerShell 5.1, so its share says little about a real target. Peak RSS is ${fetched.direct.how}.

The fan-out ran the real CLI (\`magpie run ${PLAYBOOK} --playbooks DIR --targets FILE --password-env ${PW_ENV} --json --concurrency ${CONCURRENCY}\`, targets \`winrm://${USER}@127.0.0.1:PORT\`; it ran ${o.cli}); every host is checked from the JSON summary (complete, both steps ok), and afterwards the endpoints held ${fan.endpoint.openShells} open shells (every shell deleted: ${yes(fan.endpoint.openShells === 0)}), ${fan.endpoint.authFailures} failed logons and ${fan.endpoint.plainRefused} refused plain messages, over ${fmt(fan.endpoint.handshakes)} NTLM handshakes in the whole bench. CPU over the run (/proc, sampled): Magpie's Node process ${fan.cpu.magpie.toFixed(1)} s (${(fan.cpu.magpie / fan.hosts).toFixed(2)} s a host), the targets' side (the endpoints' process and every PowerShell it ran) ${fan.cpu.targets.toFixed(1)} s (${(fan.cpu.targets / fan.hosts).toFixed(2)} s a host), the rest of the machine ${other.toFixed(1)} s; the cores were ${fmt(busy)} % busy.${cliChildren(fan)} With every host's PowerShell on these ${cores} cores, they finish at most ${cores} × 60 / ${perHost.toFixed(2)} ≈ ${fmt(ceiling)} hosts/min however many run at once; against real remote hosts only Magpie's share stays here (a ceiling of ≈ ${fmt((cores * 60) / Math.max(0.001, fan.cpu.magpie / fan.hosts))} hosts/min on these cores).${
    loaded
      ? `
**Load**: other work shared the machine (load average ${loadText(o.load.before)} before the bench, ${other.toFixed(0)} CPU-seconds of other work during the fan-out, ${fmt((other / fan.cpu.capacity) * 100)} % of the cores' time), so these figures are noisy.`
      : ''
  }
`;
  return { markdown, ok: stepOk && fetchOk && fanOk };
}

async function main(): Promise<void> {
  for (const [name, v, min] of [
    ['BENCH_WINRM_HOSTS', HOSTS, 1],
    ['BENCH_WINRM_CONCURRENCY', CONCURRENCY, 1],
    ['BENCH_WINRM_FETCH_MB', FETCH_MB, 2],
    ['BENCH_WINRM_STEP_RUNS', STEP_RUNS, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number of ${min} or more, not ${process.env[name]}`);
  }
  const pwsh = requirePwsh();
  pywinrmOrFail();
  const load = { before: loadavg(), after: [] as number[] };
  const password = `${randomBytes(12).toString('base64url')}-Wr1!`;
  const scratch = mkdtempSync(join(tmpdir(), 'magpie-bench-winrm-'));
  // Also when the process dies some other way (an EPIPE on stdout).
  process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
  let endpoints: Endpoints | undefined;
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    if (runningCli && runningCli.exitCode === null) runningCli.kill('SIGKILL');
    await endpoints?.stop();
    rmSync(scratch, { recursive: true, force: true });
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log(`load average ${loadText(load.before)}; starting ${HOSTS} WinRM test endpoints in a child process …`);
    endpoints = new Endpoints(HOSTS, password);
    await endpoints.ready();

    console.log(`per-step overhead: WinrmSession.run against pywinrm run_ps (${STEP_RUNS} interleaved rounds after ${WARMUP} warm-up) …`);
    const step = await stepOverhead(endpoints, password, scratch);
    console.log(
      `  Magpie ${step.magpie.toFixed(1)} ms, pywinrm same script ${step.pySame.toFixed(0)} ms, bare body ${step.pyBare.toFixed(0)} ms; ratio ${(step.magpie / step.pySame).toFixed(3)}× (${(step.magpie / step.pyBare).toFixed(3)}× against the bare body); requests per step ${step.requests.magpie} / ${step.requests.pySame} / ${step.requests.pyBare}`,
    );

    console.log(`fetch throughput (${FETCH_MB} MB) …`);
    const fetched = await fetchThroughput(endpoints, password, scratch);
    console.log(
      `  fetchFile ${fetched.direct.mbps.toFixed(1)} MB/s (${fetched.direct.seconds.toFixed(1)} s, peak RSS ${fetched.direct.peakMb.toFixed(0)} MB from ${fetched.direct.beforeMb.toFixed(0)} MB, CPU s Magpie ${fetched.direct.cpuMagpie.toFixed(1)} / endpoint ${fetched.direct.cpuTarget.toFixed(1)}); ` +
        `in a step: ${fetched.session.mbps.toFixed(1)} MB/s (whole ${fetched.session.whole.toFixed(1)} s − writing ${fetched.session.writeOnly.toFixed(1)} s), peak RSS ${fetched.session.peakMb.toFixed(0)} MB`,
    );

    console.log(`fan-out: ${HOSTS} targets at concurrency ${CONCURRENCY} through the CLI (load average ${loadText(loadavg())}) …`);
    const cli = cliPath();
    const fan = await fanOut(endpoints, password, scratch);
    console.log(
      `  ${fan.failure ? `FAILED (${fan.hosts - fan.completed} of ${fan.hosts} did not complete), ` : ''}${fan.seconds.toFixed(1)} s, ${fmt(fan.hostsPerMin, 1)} hosts/min, peak RSS ${fan.peakRssMb.toFixed(0)} MB; CPU s: Magpie ${fan.cpu.magpie.toFixed(1)}, targets ${fan.cpu.targets.toFixed(1)}, machine ${fan.cpu.machine.toFixed(1)} of ${fan.cpu.capacity.toFixed(1)}; open shells after ${fan.endpoint.openShells}; processes in the CLI's tree ${fan.cliProcesses}`,
    );
    load.after = loadavg();

    const { markdown, ok } = report({ step, fetch: fetched, fan, machine: machineLine(pwsh, step.pywinrm), load, cli, startCpu: pwshStartCpu(pwsh), endpoints: endpoints.ports.length });
    console.log('\n' + markdown);
    if (process.argv.includes('--write') || process.env.BENCH_WRITE) console.log(`updated ${writeSection('## Remote collection over WinRM', markdown)}`);
    if (fan.failure) {
      console.error(`\n*** NOT every host completed: ${fan.failure}`);
      process.exitCode = 1;
    } else if (!ok) console.log('Some figures miss their targets (see the table).');
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const at = process.argv.indexOf('--serve');
if (at >= 0) await serve(Number(process.argv[at + 1]));
else await main();
