// Typed parameters: checks values from YAML and converts values typed on the command line.
import type { ParamDef } from './definitions.ts';

export type ParamValue = string | number | boolean | string[];

/** Checks a value from YAML or JSON against its declared type; returns an error text or the value. */
export function checkParam(def: ParamDef, value: unknown): { value: ParamValue } | { error: string } {
  switch (def.type) {
    case 'string':
      return typeof value === 'string' ? { value } : { error: `expected a string, got ${describe(value)}` };
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? { value } : { error: `expected an integer, got ${describe(value)}` };
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? { value } : { error: `expected a number, got ${describe(value)}` };
    case 'bool':
      return typeof value === 'boolean' ? { value } : { error: `expected true or false, got ${describe(value)}` };
    case 'list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? { value: value as string[] }
        : { error: `expected a list of strings, got ${describe(value)}` };
  }
}

/** Converts a command-line text (`--param name=text`) to the declared type. */
export function parseParamText(def: ParamDef, text: string): { value: ParamValue } | { error: string } {
  switch (def.type) {
    case 'string':
      return { value: text };
    case 'int':
      return /^-?\d+$/.test(text.trim()) ? { value: Number(text) } : { error: `expected an integer, got "${text}"` };
    case 'number': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? { value: n } : { error: `expected a number, got "${text}"` };
    }
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(t)) return { value: true };
      if (['false', 'no', '0', 'off'].includes(t)) return { value: false };
      return { error: `expected true or false, got "${text}"` };
    }
    case 'list':
      if (text.trim().startsWith('[')) {
        try {
          return checkParam(def, JSON.parse(text));
        } catch {
          return { error: `expected a JSON list or comma-separated values, got "${text}"` };
        }
      }
      return { value: text === '' ? [] : text.split(',').map((s) => s.trim()) };
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
