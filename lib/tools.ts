// Helper programs (autorunsc, procdump, …) come from the responder's tools folder: Microsoft's
// binaries cannot be redistributed. Each is pinned by SHA-256 in step.yaml and checked here,
// before it goes anywhere near a target.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { OsName } from './definitions.ts';
import { sha256File } from './evidence/hash.ts';

export type ResolvedTools = Record<string, { file: string; sha256: string }>;

export interface ToolPin {
  name: string;
  sha256: string;
  /** What the pin is for (vendor, version, where to get it); quoted in the messages. */
  description?: string;
  /** The OSes whose script runs it; every OS when absent. */
  os?: OsName[];
}

/** The tools a step needs on `os`: a tool for another OS's script is neither required nor pushed. */
export function toolsFor<T extends ToolPin>(tools: T[], os: OsName): T[] {
  return tools.filter((t) => !t.os || t.os.includes(os));
}

export async function resolveTools(tools: ToolPin[], toolsDir = 'tools'): Promise<{ tools: ResolvedTools } | { error: string; missing: boolean }> {
  const out: ResolvedTools = {};
  for (const t of tools) {
    const file = resolve(join(toolsDir, t.name));
    const pinned = t.sha256.toLowerCase();
    const what = t.description ? ` (${t.description.trim().replace(/\s+/g, ' ')})` : '';
    if (!existsSync(file)) {
      return { missing: true, error: `needs the tool ${t.name}${what} in ${resolve(toolsDir)} (SHA-256 ${pinned}); put the vendor's file there (Microsoft's tools cannot be shipped with Magpie), or pass --tools DIR` };
    }
    const actual = (await sha256File(file)).sha256;
    if (actual !== pinned) {
      return {
        missing: false,
        error:
          `the tool ${file} has SHA-256 ${actual}, not the pinned ${pinned}${what}: a different version or a tampered file; it was not run. ` +
          `Put the pinned version there, or, once you trust this file (its vendor signature checked), pin its SHA-256 under tools: in the step's step.yaml (a team step folder given with --playbooks overrides the built-in one)`,
      };
    }
    out[t.name] = { file, sha256: actual };
  }
  return { tools: out };
}
