// Why a local PowerShell does not answer: node-powershell frames every reply with a method call
// on [Console], which Constrained Language Mode (AppLocker/WDAC) refuses, so such a host never
// answers at all. When the host is slow to answer its first line, a separate PowerShell is asked
// the hello in plain statements (which that mode still runs): its language mode and version say
// whether to keep waiting or to give up now with the reason.
import { spawn } from 'node:child_process';
import { PWSH_ARGS, requirePwsh } from '../pwsh.ts';
import { helloProblem, HELLO_LINE, parseHello } from './powershell-lines.ts';
import { QUIET_ENV } from './pwsh-host.ts';

/** How long the host may take to answer before it is diagnosed (the answer itself may still come later). */
export const DIAGNOSE_AFTER_MS = 5_000;
const HELLO_DEADLINE_MS = 30_000;

/** The problem that stops a local PowerShell from running steps, with what to do; undefined when none was found. */
export async function localHelloProblem(): Promise<string | undefined> {
  const exe = requirePwsh();
  const out = await new Promise<string>((resolve) => {
    const child = spawn(exe, [...PWSH_ARGS, '-Command', '-'], { env: { ...process.env, ...QUIET_ENV }, stdio: ['pipe', 'pipe', 'ignore'] });
    let text = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), HELLO_DEADLINE_MS);
    child.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
    child.on('error', () => resolve(''));
    child.on('close', () => (clearTimeout(timer), resolve(text)));
    child.stdin.on('error', () => {});
    child.stdin.end(`${HELLO_LINE}\nexit\n`);
  });
  const hello = parseHello(out);
  if (!hello) return undefined; // nothing better to say than the host's own failure
  return helloProblem(hello, 'this machine', exe, '')?.message;
}
