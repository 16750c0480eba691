// Helper programs (autorunsc, procdump, …) come from the responder's tools folder: Microsoft's
// binaries cannot be redistributed. Each is pinned by SHA-256 in step.yaml and checked here,
// before it goes anywhere near a target.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256File } from './evidence/hash.ts';

export type ResolvedTools = Record<string, { file: string; sha256: string }>;

export async function resolveTools(tools: { name: string; sha256: string }[], toolsDir = 'tools'): Promise<{ tools: ResolvedTools } | { error: string }> {
  const out: ResolvedTools = {};
  for (const t of tools) {
    const file = resolve(join(toolsDir, t.name));
    if (!existsSync(file)) {
      return { error: `needs the tool ${t.name} in ${resolve(toolsDir)} (SHA-256 ${t.sha256}); put the vendor's file there (Microsoft's tools cannot be shipped with Magpie), or pass --tools DIR` };
    }
    const actual = (await sha256File(file)).sha256;
    if (actual !== t.sha256) {
      return { error: `the tool ${file} has SHA-256 ${actual}, not the pinned ${t.sha256}: a different version or a tampered file; it was not run` };
    }
    out[t.name] = { file, sha256: actual };
  }
  return { tools: out };
}
