#!/usr/bin/env node
// Node entry. Runs the bundle (dist/magpie.js, made by `npm run build`, which `npm install`
// runs) unless a source file is newer than it; then it runs the TypeScript through tsx, so a
// stale bundle can never run in place of the code in front of you.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// A password named by --password-env leaves the environment before anything (tsx's esbuild, a
// warm PowerShell) can start a child process that would inherit it; lib/credentials.ts takes it
// from here.
const at = process.argv.findIndex((a) => a === '--password-env' || a.startsWith('--password-env='));
const envName = at < 0 ? undefined : process.argv[at].includes('=') ? process.argv[at].slice(15) : process.argv[at + 1];
if (envName && process.env[envName] !== undefined) {
  globalThis[Symbol.for('magpie.password-env')] = { name: envName, value: process.env[envName] };
  delete process.env[envName];
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'magpie.js');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= Math.max(newestSource(join(root, 'lib')), statSync(join(root, 'scripts', 'magpie.ts')).mtimeMs);
if (fresh) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../scripts/magpie.ts');
}
