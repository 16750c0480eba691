#!/usr/bin/env -S npx tsx
// The CLI entry point, for Node (through bin/magpie.js) and Deno (`deno run -A scripts/magpie.ts`).
import { prestartHost, releaseWarmHost } from '../lib/session/warm-host.ts';

const argv = process.argv.slice(2);
// A local run will need PowerShell: start it now, while the rest of the CLI loads.
// Any other transport, a targets file or a named target (ssh://, winrm://, a host) means remote hosts.
const remote = (a: string, next: string | undefined) =>
  (a === '--transport' && next !== 'local') ||
  (a.startsWith('--transport=') && a !== '--transport=local') ||
  a === '--targets' ||
  a.startsWith('--targets=') ||
  (a === '--target' && next !== 'localhost') ||
  (a.startsWith('--target=') && a !== '--target=localhost');
const local = !argv.some((a, i) => remote(a, argv[i + 1]));
if (argv[0] === 'run' && local && !argv.some((a) => ['--dry-run', '--help', '-h'].includes(a))) prestartHost();
const { main } = await import('../lib/cli.ts');
process.exitCode = await main(argv);
await releaseWarmHost();
