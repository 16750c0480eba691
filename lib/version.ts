// Identifies this tool in every manifest.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from './paths.ts';

export const TOOL_VERSION: string = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')).version;

export function runtimeName(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.versions.node}`;
}
