#!/usr/bin/env -S npx tsx
// Bundles the CLI into dist/magpie.js (our code only; packages stay external) so `magpie`
// starts without compiling TypeScript on every run. Deno runs scripts/magpie.ts directly.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../lib/paths.ts';

// Chunk names carry hashes: start empty so no chunk of an older build lingers.
rmSync(join(ROOT_DIR, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(ROOT_DIR, 'scripts', 'magpie.ts')],
  outdir: join(ROOT_DIR, 'dist'),
  // The CLI loads in a second chunk, after the entry has started PowerShell.
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
