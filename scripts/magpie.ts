#!/usr/bin/env -S npx tsx
// The CLI entry point, for Node (through bin/magpie.js) and Deno (`deno run -A scripts/magpie.ts`).
import { prestartHost, releaseWarmHost } from '../lib/session/warm-host.ts';

const argv = process.argv.slice(2);
// A local run will need PowerShell: start it now, while the rest of the CLI loads.
const local = !argv.some((a, i) => (a === '--transport' && argv[i + 1] !== 'local') || (a.startsWith('--transport=') && a !== '--transport=local'));
if (argv[0] === 'run' && local && !argv.some((a) => ['--dry-run', '--help', '-h'].includes(a))) prestartHost();
const { main } = await import('../lib/cli.ts');
process.exitCode = await main(argv);
await releaseWarmHost();
