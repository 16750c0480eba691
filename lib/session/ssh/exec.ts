// One-shot commands on a second channel (stopping a step's process tree), each with a deadline.
import type { Client, ClientChannel } from 'ssh2';

const OUTPUT_LIMIT = 64 * 1024;

export function openExec(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => (err ? reject(err) : resolve(channel)));
    } catch (e) {
      // ssh2 throws synchronously when the connection is already gone.
      reject(e);
    }
  });
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` to completion, output bounded; rejects when `ms` passes first (and closes the channel). */
export async function execCollect(client: Client, command: string, ms: number, stdin?: string, limit = OUTPUT_LIMIT): Promise<ExecResult> {
  const channel = await openExec(client, command);
  channel.end(stdin);
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let code: number | null = null;
    const timer = setTimeout(() => {
      channel.close();
      reject(new Error(`no answer within ${ms / 1000} s`));
    }, ms);
    channel.setEncoding('utf8');
    channel.stderr.setEncoding('utf8');
    channel.on('data', (d: string) => (stdout = (stdout + d).slice(0, limit)));
    channel.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(0, limit)));
    channel.on('exit', (c: number | null) => (code = c));
    channel.on('close', () => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
