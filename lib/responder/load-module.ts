// Loads a responder step's module: .mjs/.js as they are; .ts/.mts through tsx under Node (Deno
// reads TypeScript itself). The module exports one async function that takes the context.
import { pathToFileURL } from 'node:url';
import type { ResponderContext } from './context.ts';

export type ResponderFunction = (ctx: ResponderContext) => unknown;

export async function loadResponderModule(file: string): Promise<ResponderFunction> {
  const url = pathToFileURL(file).href;
  const deno = 'Deno' in globalThis;
  let mod: Record<string, unknown>;
  try {
    if (/\.m?ts$/.test(file) && !deno) {
      const { tsImport } = await import('tsx/esm/api');
      mod = await tsImport(url, import.meta.url);
    } else {
      mod = await import(url);
    }
  } catch (e) {
    throw new Error(`the responder module ${file} could not be loaded: ${(e as Error).message}`);
  }
  // tsx may hand a CommonJS-shaped namespace: the function is then under default.default.
  const fromDefault = typeof mod.default === 'function' ? mod.default : (mod.default as Record<string, unknown> | undefined)?.default;
  if (typeof fromDefault === 'function') return fromDefault as ResponderFunction;
  const fns = Object.values(mod).filter((v) => typeof v === 'function');
  if (fns.length === 1) return fns[0] as ResponderFunction;
  throw new Error(`the responder module ${file} must export one async function (export default async function (ctx) { … }); it exports ${fns.length ? `${fns.length} functions and no default` : 'no function'}`);
}
