#!/usr/bin/env -S npx tsx
// npm run bench:ssh: the SSH fan-out of issue 6. Real sshd processes on loopback addresses
// (127.0.0.2 …) whose sessions run real pwsh; the real CLI collects a 3-step playbook from every
// one of them at several concurrencies (wall time, hosts per minute, peak RSS of Magpie's Node
// process, CPU time of each side); then the per-step overhead of SshSession against the same
// invocation line typed into one `ssh host pwsh`. Prints the figures and a Markdown section;
// BENCH_WRITE=1 (or --write) puts the section into docs/benchmarks.md.
//
//   BENCH_SSH_HOSTS=200            targets
//   BENCH_SSH_CONCURRENCY=1,16,64  concurrencies to run
//   BENCH_SSH_C1_HOSTS=30          at concurrency 1, collect only this many of them (a run of all
//                                  200 one by one takes long, and says nothing more per host)
//   BENCH_SSH_STEP_RUNS=30         interleaved pairs for the per-step overhead (first 3 dropped)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { buildPlan } from '../lib/plan.ts';
import { ROOT_DIR } from '../lib/paths.ts';
import { PWSH_ARGS, requirePwsh } from '../lib/pwsh.ts';
import { composeScript, invocationLine, RECORD_DEPTH } from '../lib/script.ts';
import { SshSession } from '../lib/session/ssh/index.ts';
import { shellCommand } from '../lib/session/ssh/shell-command.ts';
import { SHELL_SETUP } from '../lib/session/powershell-lines.ts';
import { startSshd, type Sshd } from '../test/sshd.ts';
import { CLK_TCK, cliPath, fmt, machineCpu, median, procTimes, pwshStartCpu, writeSection } from './bench-common.ts';

const HOSTS = Number(process.env.BENCH_SSH_HOSTS ?? 200);
const CONCURRENCY = (process.env.BENCH_SSH_CONCURRENCY ?? '1,16,64').split(',').map((s) => Number(s.trim()));
const C1_HOSTS = Number(process.env.BENCH_SSH_C1_HOSTS ?? 30);
const STEP_RUNS = Number(process.env.BENCH_SSH_STEP_RUNS ?? 30);
const WARMUP = 3;
const RUN_TIMEOUT_MS = 60 * 60_000;
// OpenSSH's sshd takes at most 16 listen sockets (MAX_LISTEN_SOCKS in sshd.c; the 17th is fatal
// at start), so 200 addresses need 13 sshd processes of 16 addresses each.
const PER_SSHD = 16;
const PLAYBOOK = 'bench-ssh';

if (!Number.isInteger(HOSTS) || HOSTS < 1) throw new Error(`BENCH_SSH_HOSTS must be a whole number of 1 or more, not ${process.env.BENCH_SSH_HOSTS}`);
if (CONCURRENCY.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`BENCH_SSH_CONCURRENCY must list whole numbers of 1 or more, not ${process.env.BENCH_SSH_CONCURRENCY}`);

const pwsh = requirePwsh();
const magpie = join(ROOT_DIR, 'bin', 'magpie.js');
const scratch = mkdtempSync(join(tmpdir(), 'magpie-bench-ssh-'));
/** The magpie CLI running now, stopped with the bench on Ctrl-C or SIGTERM. */
let runningCli: ChildProcess | undefined;

/** Loopback addresses 127.0.0.2, 127.0.0.3, … (never .0 or .255 in the last octet); loopback only. */
function loopbackAddresses(n: number): string[] {
  const out: string[] = [];
  for (let i = 2; out.length < n; i++) {
    if ((i & 255) === 0 || (i & 255) === 255) continue;
    if (i >= 1 << 24) throw new Error('more targets than 127.0.0.0/8 holds');
    out.push(`127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  }
  return out;
}

// ---- CPU accounting from /proc ----

interface CpuSnapshot {
  machine: { busy: number; total: number };
  /** This process's reaped children: the magpie CLI once it has exited and been waited for. */
  selfReaped: number;
  /** Every sshd listener with what it has reaped: connections, and their PowerShell, once finished. */
  targets: number;
}

function snapshot(servers: Sshd[]): CpuSnapshot {
  return {
    machine: machineCpu(),
    selfReaped: procTimes('self').reaped,
    targets: servers.reduce((sum, s) => {
      const t = procTimes(s.pid);
      return sum + t.own + t.reaped;
    }, 0),
  };
}

function hwmMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function connectionsGone(servers: Sshd[], ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (servers.some((s) => s.connectionPids().length)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

// ---- the fan-out through the real CLI ----

interface FanOut {
  concurrency: number;
  hosts: number;
  seconds: number;
  /** Hosts that completed with every step ok. */
  completed: number;
  /** Completed hosts per minute of wall time. */
  hostsPerMin: number;
  peakRssMb: number;
  /** Set when some host did not complete: how many, by failure, and the first reason. */
  failure?: string;
  /** CPU seconds, over the run (until the targets' sessions were gone). */
  cpu: { magpie: number; targets: number; machine: number; capacity: number };
  exitCode: number | null;
}

async function fanOut(concurrency: number, targets: string[], servers: Sshd[], book: string, knownHosts: string, key: string): Promise<FanOut> {
  const targetsFile = join(scratch, `targets-${concurrency}.txt`);
  writeFileSync(targetsFile, `# ${targets.length} loopback targets for the SSH benchmark\n${targets.join('\n')}\n`);
  const out = join(scratch, `out-${concurrency}`);
  const args = ['run', PLAYBOOK, '--playbooks', book, '--transport', 'ssh', '--targets', targetsFile, '--known-hosts', knownHosts, '-i', key, '--out', out, '--concurrency', String(concurrency), '--json'];
  const before = snapshot(servers);
  const t0 = performance.now();
  const child = spawn(process.execPath, [magpie, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  runningCli = child;
  // Only the last line matters (the summary): the events before it are not kept.
  let partial = '';
  let lastLine = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) lastLine = l;
  });
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, hwmMb(child.pid!))), 200);
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  runningCli = undefined;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  clearTimeout(killer);
  // The targets' sessions end after Magpie closes them: wait, so their CPU time is counted here.
  await connectionsGone(servers, 30_000);
  const after = snapshot(servers);

  let summary: { type: string; hosts: { target: string; state: string; failure: string | null; error: string | null; failedSteps: number; steps: { id: string; status: string; reason: string | null }[] }[] } | undefined;
  try {
    summary = JSON.parse(partial.trim() || lastLine);
  } catch {
    summary = undefined;
  }
  if (!summary || summary.type !== 'summary') {
    throw new Error(`concurrency ${concurrency}: magpie exited ${code} without a JSON summary line.\nlast stdout: ${(partial.trim() || lastLine).slice(0, 2000)}\nstderr: ${stderr.slice(-4000)}`);
  }
  const bad = summary.hosts.filter((h) => h.state !== 'complete' || h.failedSteps > 0 || h.steps.length !== 3 || h.steps.some((s) => s.status !== 'ok'));
  const missing = targets.length - summary.hosts.length;
  let failure: string | undefined;
  if (missing || bad.length || code !== 0) {
    const kinds = new Map<string, number>();
    for (const h of bad) kinds.set(h.failure ?? h.state, (kinds.get(h.failure ?? h.state) ?? 0) + 1);
    const first = bad[0] ? `${bad[0].error ?? bad[0].steps.map((s) => `${s.id}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`).join(', ')}` : `exit ${code}`;
    failure = `${bad.length + missing} of ${targets.length} hosts did not complete (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}${missing ? `, ${missing} missing from the summary` : ''}); first reason: ${first.trim().replace(/\s+/g, ' ').slice(0, 300)}`;
    const lines = bad.slice(0, 10).map((h) => `  ${h.target}: ${h.state}${h.failure ? ` (${h.failure})` : ''} ${h.error ?? ''} ${h.steps.map((s) => `${s.id}=${s.status}${s.reason ? ` [${s.reason}]` : ''}`).join(' ')}`);
    console.error(
      `\n*** concurrency ${concurrency}: NOT every host completed — exit ${code}, ${summary.hosts.length} of ${targets.length} hosts in the summary, ${bad.length} not complete:\n${lines.join('\n')}${bad.length > 10 ? `\n  … and ${bad.length - 10} more` : ''}\nstderr: ${stderr.slice(-2000)}\n`,
    );
  }
  rmSync(out, { recursive: true, force: true });
  const cpuS = (j: number) => j / CLK_TCK;
  return {
    concurrency,
    hosts: targets.length,
    seconds,
    completed: targets.length - missing - bad.length,
    hostsPerMin: ((targets.length - missing - bad.length) / seconds) * 60,
    peakRssMb: peak,
    failure,
    cpu: {
      magpie: cpuS(after.selfReaped - before.selfReaped),
      targets: cpuS(after.targets - before.targets),
      machine: cpuS(after.machine.busy - before.machine.busy),
      capacity: cpuS(after.machine.total - before.machine.total),
    },
    exitCode: code,
  };
}

// ---- per-step overhead: SshSession against one `ssh host pwsh` typed into by hand ----

/** One OpenSSH client running the target's pwsh on stdin, fed a line at a time; a reply ends at a marker. */
class HandTypedPwsh {
  private buf = '';
  private seq = 0;
  private waiting?: { marker: string; resolve: (out: string) => void; reject: (e: Error) => void };
  private child;

  constructor(host: string, port: number, key: string, knownHosts: string) {
    this.child = spawn(
      'ssh',
      ['-F', '/dev/null', '-T', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-p', String(port), `root@${host}`, shellCommand('linux', 'pwsh')],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buf += d;
      const w = this.waiting;
      if (!w) return;
      const i = this.buf.indexOf(w.marker);
      if (i < 0) return;
      const out = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + w.marker.length);
      this.waiting = undefined;
      w.resolve(out);
    });
    this.child.stderr.on('data', () => undefined);
    this.child.on('close', (code) => {
      this.waiting?.reject(new Error(`ssh ${host} pwsh ended (exit ${code}) while a line ran`));
      this.waiting = undefined;
    });
  }

  call(line: string): Promise<string> {
    const id = String(++this.seq);
    return new Promise((resolve, reject) => {
      this.waiting = { marker: `MAGPIE-END-${id}`, resolve, reject };
      // The marker is concatenated on the target, so the echo of the input can never match it.
      this.child.stdin.write(`${line}\n'MAGPIE-END-' + '${id}'\n`);
    });
  }

  end(): Promise<void> {
    return new Promise((r) => {
      this.child.once('close', () => r());
      this.child.stdin.end('exit\n');
    });
  }
}

interface StepOverhead {
  runs: number;
  session: number;
  floor: number;
  diff: number;
}

async function stepOverhead(server: Sshd, host: string, book: string, knownHosts: string, key: string): Promise<StepOverhead> {
  const plan = buildPlan(loadCatalog([book]), PLAYBOOK);
  const step = plan.steps.find((s) => s.id.endsWith('tiny')) ?? plan.steps.at(-1)!;
  const script = composeScript(step, 'linux')!;
  const s = await SshSession.open({ host, port: server.port, user: 'root', auth: { type: 'key', file: key }, knownHostsFile: knownHosts });
  const hand = new HandTypedPwsh(host, server.port, key, knownHosts);
  // By hand: the same line, with a stage folder made once (the target is this machine).
  const stage = mkdtempSync(join(scratch, 'floor-stage-'));
  const line = invocationLine(script, { params: step.params, stage, depth: RECORD_DEPTH, target: { user: s.info.user, admin: s.info.admin } });
  try {
    await hand.call(SHELL_SETUP);
    // The sessions' bash skipped ~/.bashrc (SHLVL=1 from test/sshd.ts): pyenv is not on their PATH.
    const path = await hand.call("'PATH=' + $env:PATH");
    if (path.includes('.pyenv')) throw new Error(`the targets' sessions still read ~/.bashrc: ${path.trim()}`);
    const sessionMs: number[] = [];
    const floorMs: number[] = [];
    // Interleaved, compared by median: other work on the machine hits both alike.
    for (let i = 0; i < STEP_RUNS + WARMUP; i++) {
      const stageDir = mkdtempSync(join(scratch, 'step-'));
      let t0 = performance.now();
      const r = await s.run(script, step.params, { timeoutMs: 60_000, stageDir });
      const a = performance.now() - t0;
      if (r.outcome !== 'completed' || r.summary?.status !== 'ok' || r.fetchError) throw new Error(`SshSession step failed: ${r.outcome} ${r.fetchError ?? ''} ${r.hostOutput}`);
      rmSync(stageDir, { recursive: true, force: true });
      t0 = performance.now();
      const out = await hand.call(line);
      const b = performance.now() - t0;
      if (!out.includes('MAGPIE-SUMMARY:')) throw new Error(`the hand-typed line printed no summary: ${out.slice(0, 500)}`);
      if (i >= WARMUP) {
        sessionMs.push(a);
        floorMs.push(b);
      }
    }
    return { runs: STEP_RUNS, session: median(sessionMs), floor: median(floorMs), diff: median(sessionMs.map((a, i) => a - floorMs[i])) };
  } finally {
    await hand.end();
    await s.close();
  }
}

// ---- the report ----

function machineLine(): string {
  const psVersion = spawnSync(pwsh, [...PWSH_ARGS, '-Command', '$PSVersionTable.PSVersion.ToString()'], { encoding: 'utf8' }).stdout.trim();
  const sshd = (spawnSync('/usr/sbin/sshd', ['-V'], { encoding: 'utf8' }).stderr.trim().split(/[,\s]/)[0] || 'sshd').replace('_', ' ');
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.versions.node}, ${psVersion} pwsh, ${sshd}`;
}

function report(runs: FanOut[], step: StepOverhead, machine: string, servers: number, load: { before: number[] }, cli: string, startCpu: number): { markdown: string; ok: boolean } {
  const at = (c: number) => runs.find((r) => r.concurrency === c);
  const one = at(1);
  const top = at(64) ?? runs.at(-1)!;
  const failed = runs.filter((r) => r.failure);
  // From completed hosts only: a run where some failed still says how fast the others went.
  const ratio = one && top !== one && one.hostsPerMin > 0 ? top.hostsPerMin / one.hostsPerMin : undefined;
  const rows = runs.map((r) => {
    const busy = (r.cpu.machine / r.cpu.capacity) * 100;
    const sub = r.concurrency === 1 && r.hosts < HOSTS ? ` (first ${r.hosts} of ${HOSTS})` : '';
    const done = r.failure ? ` — **${r.hosts - r.completed} did not complete**` : '';
    return `| ${r.concurrency} | ${r.hosts}${sub}${done} | ${r.seconds.toFixed(1)} s | **${fmt(r.hostsPerMin, 1)}** | **${r.peakRssMb.toFixed(0)} MB** | ${fmt(busy)} % | ${(r.cpu.magpie / r.hosts).toFixed(2)} s | ${(r.cpu.targets / r.hosts).toFixed(2)} s | ${Math.max(0, r.cpu.machine - r.cpu.magpie - r.cpu.targets).toFixed(0)} s |`;
  });
  const cores = cpus().length;
  const perHost = (r: FanOut) => ({ targets: r.cpu.targets / r.hosts, magpie: r.cpu.magpie / r.hosts });
  // The cheapest a host was (least contention): the most these cores can finish, at best.
  const ref = [...runs].sort((x, y) => perHost(x).targets + perHost(x).magpie - perHost(y).targets - perHost(y).magpie)[0];
  const perHostTarget = perHost(ref).targets;
  const perHostMagpie = Math.min(...runs.map((r) => perHost(r).magpie));
  const ceilingHere = (cores * 60) / (perHostTarget + perHost(ref).magpie);
  const ceilingMagpie = (cores * 60) / perHostMagpie;
  const busy = (r: FanOut) => (r.cpu.machine / r.cpu.capacity) * 100;
  const other = (r: FanOut) => Math.max(0, r.cpu.machine - r.cpu.magpie - r.cpu.targets);
  // Other work: what the machine's busy time holds beyond Magpie and the targets, over all runs.
  const otherCpu = runs.reduce((sum, r) => sum + other(r), 0);
  const capacity = runs.reduce((sum, r) => sum + r.cpu.capacity, 0);
  const loaded = otherCpu / capacity > 0.05 || load.before[0] > 0.5;
  const ok = !failed.length && ratio !== undefined && ratio >= 20 && top.peakRssMb <= 300 && step.diff <= 50;
  const byConcurrency = [...runs].sort((x, y) => x.concurrency - y.concurrency);
  const list = (f: (r: FanOut) => string) => byConcurrency.map(f).join(' → ');
  const atOne = one
    ? busy(one) < 50
      ? `At concurrency 1 a host mostly waits (PowerShell starting, round trips): the cores were ${fmt(busy(one))} % busy, so ${fmt(one.hostsPerMin, 1)} hosts/min is a latency figure and more hosts at once have idle cores to use.`
      : `At concurrency 1 the cores were already ${fmt(busy(one))} % busy${
          other(one) > 0.1 * one.cpu.capacity ? ` (${fmt((other(one) / one.cpu.capacity) * 100)} % of their time other work on the machine)` : ''
        }: one host at a time already used ${(one.cpu.targets / one.seconds).toFixed(1)} of the ${cores} cores on average for the targets' side alone (its PowerShell starting, the probe, prelude and steps, and its sshd), so more hosts at once have little idle capacity to use.`
    : '';
  const startTimeouts = failed.filter((r) => /did not answer a plain PowerShell statement/.test(r.failure!));

  const markdown = `## Remote collection over SSH (${new Date().toISOString().slice(0, 10)})

Machine: ${machine}

scripts/bench-ssh.ts: ${HOSTS} targets on loopback addresses 127.0.0.2 … (${servers} OpenSSH sshd processes of up to ${PER_SSHD} addresses each, as sshd takes at most 16 listen sockets; every session runs real pwsh on this same machine, and gets SHLVL=1 so that root's bash skips ~/.bashrc: here that file runs \`pyenv init\`, whose rehash lock made concurrent sessions queue for up to 60 s each, and at concurrency 16 hosts failed their 60 s PowerShell start deadline), a 3-step playbook of inline steps (host facts; \`Get-Process | Select-Object Id,ProcessName -First 50\`; one tiny object), collected by the real CLI (\`magpie run … --transport ssh --targets FILE --json\`; it ran ${cli}). ${failed.length ? `Whether every host completed with every step ok is checked from the JSON summary: **not every host did at concurrency ${failed.map((r) => r.concurrency).join(' and ')}** (below).` : 'Every host completed with every step ok in every run (checked from the JSON summary).'} Peak RSS is VmHWM of Magpie's Node process sampled every 200 ms. CPU seconds per host from /proc: Magpie's Node process (its rusage once reaped), the targets' side (every sshd with the sessions and PowerShell processes it reaped), and the rest of the machine (busy time in /proc/stat minus both).

| concurrency | hosts | wall time | hosts/min (completed) | peak RSS (Node) | both cores busy | Magpie CPU / host | targets' CPU / host | other CPU (whole run) |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

| measure | result | target |
|---|---|---|
| throughput at concurrency ${top.concurrency} / at concurrency 1 | **${ratio === undefined ? 'not measured' : `${ratio.toFixed(1)}×`}**${top.failure || one?.failure ? ` (completed hosts only; not every host completed)` : ''} | ≥ 20× |
| peak RSS of Magpie (Node) at concurrency ${top.concurrency}, ${top.hosts} hosts | **${top.peakRssMb.toFixed(0)} MB** | ≤ 300 MB |
| overhead per step over SSH: \`SshSession.run\` of a tiny step against the same invocation line typed into one \`ssh host pwsh\` (median of ${step.runs} interleaved pairs) | **${step.diff.toFixed(1)} ms** (median of the pairs' differences; medians ${step.session.toFixed(1)} ms against ${step.floor.toFixed(1)} ms) | ≤ 50 ms |
${failed.map((r) => `\n**Concurrency ${r.concurrency} failed**: ${r.failure}`).join('\n')}${
    startTimeouts.length
      ? `
These are loopback targets: ${startTimeouts[0].concurrency} PowerShell processes start at once on the same ${cores} cores (one pwsh start alone costs ${startCpu.toFixed(2)} CPU-seconds here, so ${startTimeouts[0].concurrency} of them need ${fmt(startTimeouts[0].concurrency * startCpu)} CPU-seconds, ${fmt((startTimeouts[0].concurrency * startCpu) / cores)} s of both cores, before any other work on the machine),
sharing the cores evenly, so a start can take longer than Magpie's fixed 60 s deadline for a PowerShell start (not settable from the CLI). A host that misses
it is abandoned, but its PowerShell goes on starting (its channel is closed, the process is not stopped), so the hosts after it start on busier cores.
`
      : ''
  }
What bounds the throughput here: the targets are not other machines. Each host's sshd and
PowerShell (start-up, the identification probe, the prelude and the three steps) run on the same
${cores} cores as Magpie. At its cheapest (concurrency ${ref.concurrency}) a host cost the targets' side ${perHostTarget.toFixed(2)} CPU-seconds and
Magpie ${perHost(ref).magpie.toFixed(2)}; one bare \`pwsh -NoProfile -Command 1\` alone costs ${startCpu.toFixed(2)} here. So ${cores} cores finish at most
${cores} × 60 / ${(perHostTarget + perHost(ref).magpie).toFixed(2)} ≈ **${fmt(ceilingHere)} hosts/min**, however many hosts run at once. ${atOne}${
    byConcurrency.length > 1
      ? `
By concurrency (${list((r) => String(r.concurrency))}): a host's CPU on the targets' side ${list((r) => perHost(r).targets.toFixed(2))} s, throughput ${list((r) => fmt(r.hostsPerMin, 1))} hosts/min${
          byConcurrency.at(-1)!.hostsPerMin < byConcurrency[0].hostsPerMin ? `: past what the cores can serve, more hosts at once only add contention (that many .NET runtimes starting and collecting garbage side by side), and the rate falls` : ''
        }.`
      : ''
  }${one ? ` 20× the rate at concurrency 1 would be ${fmt(one.hostsPerMin * 20)} hosts/min, ${((one.hostsPerMin * 20) / ceilingHere).toFixed(1)}× what these ${cores} cores can run even uncontended.` : ''}
The target is a statement about real remote hosts, where each PowerShell runs on its own machine
and only Magpie's share stays here (${perHostMagpie.toFixed(2)} CPU-seconds a host, ${list((r) => perHost(r).magpie.toFixed(2))} by concurrency): a ceiling of
≈ ${fmt(ceilingMagpie)} hosts/min on this machine's ${cores} cores, which this loopback set-up cannot show.${
    loaded
      ? `
**Load**: other work shared the machine during these runs (load average ${load.before.map((l) => l.toFixed(1)).join(' / ')} before the
bench; ${fmt(otherCpu)} CPU-seconds of other work over the runs, ${fmt((otherCpu / capacity) * 100)} % of the cores' time, the "other CPU" column), so these
figures are noisy and the throughput lower than on an idle machine.`
      : ''
  }
`;
  return { markdown, ok };
}

async function main() {
  const load = { before: loadavg() };
  const addresses = loopbackAddresses(HOSTS);
  const servers: Sshd[] = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    if (runningCli && runningCli.exitCode === null) runningCli.kill('SIGKILL');
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log(`starting ${Math.ceil(HOSTS / PER_SSHD)} sshd for ${HOSTS} loopback targets …`);
    // One user key for every target, and the same host keys: the first server's.
    for (let i = 0; i < addresses.length; i += PER_SSHD) servers.push(await startSshd({ addresses: addresses.slice(i, i + PER_SSHD), keys: servers[0] }));
    const key = servers[0].userKey;
    const knownHosts = join(scratch, 'known_hosts');
    writeFileSync(knownHosts, servers.flatMap((s) => s.addresses.map((a) => s.knownHostsLine('ed25519', a))).join('\n') + '\n');
    // Round robin over the servers, so concurrent hosts do not all queue on one sshd's accept loop.
    const targets: string[] = [];
    for (let j = 0; j < PER_SSHD; j++) for (const s of servers) if (s.addresses[j]) targets.push(`root@${s.addresses[j]}:${s.port}`);

    const book = join(scratch, 'playbooks');
    mkdirSync(book);
    const steps = [
      {
        id: 'facts',
        run: "[pscustomobject]@{ host = [Environment]::MachineName; os = [Environment]::OSVersion.VersionString; ps = $PSVersionTable.PSVersion.ToString(); user = [Environment]::UserName; cpus = [Environment]::ProcessorCount; boot = [DateTime]::UtcNow.AddMilliseconds(-[Environment]::TickCount64).ToString('o') }",
      },
      { id: 'processes', run: 'Get-Process | Select-Object Id,ProcessName -First 50' },
      { id: 'tiny', run: '[pscustomobject]@{ n = 1 }' },
    ];
    writeFileSync(join(book, `${PLAYBOOK}.yaml`), JSON.stringify({ name: PLAYBOOK, description: 'SSH fan-out benchmark: host facts, 50 processes, one object', steps }, null, 2));

    console.log(`per-step overhead over SSH (${STEP_RUNS} interleaved pairs after ${WARMUP} warm-up) …`);
    const [h0, p0] = targets[0].slice('root@'.length).split(':');
    const step = await stepOverhead(servers.find((s) => s.port === Number(p0))!, h0, book, knownHosts, key);
    console.log(`  SshSession ${step.session.toFixed(1)} ms, by hand ${step.floor.toFixed(1)} ms, median difference ${step.diff.toFixed(1)} ms`);

    const cli = cliPath();
    const runs: FanOut[] = [];
    for (const c of CONCURRENCY) {
      const n = c === 1 ? Math.min(HOSTS, C1_HOSTS) : HOSTS;
      console.log(`concurrency ${c}: ${n} hosts${n < HOSTS ? ` (a subset of ${HOSTS}; hosts/min from these)` : ''} …`);
      const r = await fanOut(c, targets.slice(0, n), servers, book, knownHosts, key);
      runs.push(r);
      console.log(
        `  ${r.failure ? `FAILED (${r.hosts - r.completed} of ${r.hosts} hosts did not complete), ` : ''}${r.seconds.toFixed(1)} s, ${fmt(r.hostsPerMin, 1)} hosts/min, peak RSS ${r.peakRssMb.toFixed(0)} MB; CPU s: Magpie ${r.cpu.magpie.toFixed(1)}, targets ${r.cpu.targets.toFixed(1)}, machine ${r.cpu.machine.toFixed(1)} of ${r.cpu.capacity.toFixed(1)}`,
      );
    }
    const { markdown, ok } = report(runs, step, machineLine(), servers.length, load, cli, pwshStartCpu(pwsh));
    console.log('\n' + markdown);
    if (process.argv.includes('--write') || process.env.BENCH_WRITE) console.log(`updated ${writeSection('## Remote collection over SSH', markdown)}`);
    const failed = runs.filter((r) => r.failure);
    if (failed.length) {
      console.error(`\n*** NOT every host completed: ${failed.map((r) => `concurrency ${r.concurrency}: ${r.failure}`).join('\n*** ')}`);
      process.exitCode = 1;
    } else if (!ok) console.log('Some figures miss their targets (see the table).');
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

await main();
