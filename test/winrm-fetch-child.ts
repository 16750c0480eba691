// Run by test/winrm-run.test.ts in a process of its own, so that Magpie's memory is measured
// alone: the test endpoint (and every suite before) lives in the test's process. Opens a WinRM
// session (argv: port, password through the environment), runs one step, and prints the result,
// the progress reports and the process's resident memory at start and at peak (VmHWM).
import { readFileSync } from 'node:fs';
import { preludeSource } from '../lib/script.ts';
import { WinrmSession } from '../lib/session/winrm/index.ts';

const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
const [port, stageDir, body] = process.argv.slice(2);
const s = await WinrmSession.open({ host: '127.0.0.1', port: Number(port), credentials: { user: 'responder', password: process.env.MAGPIE_TEST_WINRM_PW! }, operationTimeoutSec: 5 });
const startKb = kb('VmRSS');
const progress: { file: string; done: number; total: number }[] = [];
try {
  const r = await s.run(`${preludeSource()}\nInvoke-MagpieStep {\n${body}\n}\n`, {}, { timeoutMs: 300_000, stageDir, onProgress: (p) => progress.push(p) });
  process.stdout.write(JSON.stringify({ status: r.summary?.status, fetchError: r.fetchError, hostOutput: r.hostOutput, files: r.summary?.files, progress, startKb, peakKb: kb('VmHWM') }) + '\n');
} finally {
  await s.close();
}
