#!/usr/bin/env -S npx tsx
// The CLI entry point, for Node (through bin/magpie.js) and Deno (`deno run -A scripts/magpie.ts`).
import { main } from '../lib/cli.ts';

process.exitCode = await main(process.argv.slice(2));
