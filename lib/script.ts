// Builds exactly what runs on a host: the fixed prelude + the step body, and the one-line invocation.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { POWERSHELL_DIR } from './paths.ts';
import type { OsName } from './definitions.ts';
import type { PlannedStep } from './plan.ts';
import type { ParamValue } from './params.ts';
import { stripConsoleModes } from './text.ts';

const PRELUDE_FILE = join(POWERSHELL_DIR, 'prelude.ps1');
let prelude: string | undefined;
export function preludeSource(): string {
  prelude ??= readFileSync(PRELUDE_FILE, 'utf8').replace(/\r\n/g, '\n');
  return prelude;
}

/** JSON depth for records: deep enough for nested objects, bounded so a cyclic object cannot blow up. */
export const RECORD_DEPTH = 5;

/** The script file that runs for `step` on `os`; it is saved verbatim as evidence. */
export function composeScript(step: PlannedStep, os: OsName): string | undefined {
  const script = step.scripts[os];
  if (!script) return undefined;
  const origin = script.file.startsWith('/') || /^[A-Za-z]:/.test(script.file) ? relative(process.cwd(), script.file) : script.file;
  return withPrelude(`step ${step.id} (${step.stepId}, ${os}) from ${origin}`, script.body);
}

/** The prelude, a one-line header saying what follows, and `body` run inside Invoke-MagpieStep. */
export function withPrelude(header: string, body: string): string {
  const text = body.replace(/\r\n/g, '\n').replace(/\s+$/, '');
  return preludeSource() + `\n# ---- ${header.replace(/[\r\n]/g, ' ')} ----\n` + `Invoke-MagpieStep {\n${text}\n}\n`;
}

export interface InvocationContext {
  params: Record<string, ParamValue>;
  /** Folder on the target where the step writes records, logs and files. */
  stage: string;
  depth: number;
  /** What the session's probe learned, for steps that cannot ask the same way on every OS. */
  target: { user: string; admin: boolean };
  /** Helper programs already on the target: name → path there. */
  tools?: Record<string, string>;
  /**
   * The session's own connection as `RESPONDER-ADDRESS TARGET-ADDRESS TARGET-PORT` (TCP), for steps
   * that must leave it out (traffic-capture); absent for the local host.
   */
  management?: string;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function encodeValue(v: ParamValue | undefined): string {
  if (typeof v === 'string') return `s:${b64(v)}`;
  if (typeof v === 'boolean') return `b:${v ? 1 : 0}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `i:${b64(String(v))}` : `n:${b64(String(v))}`;
  // '-' stands for an empty item (base64 never yields it); no items at all is an empty field.
  if (Array.isArray(v)) return `l:${v.map((x) => (x === '' ? '-' : b64(x))).join(',')}`;
  return 's:';
}

/**
 * The context as `name=type:base64;…`: only [A-Za-z0-9+/=;:,.-] travels, so nothing in a value
 * can be read as PowerShell; the prelude's ConvertFrom-MagpieContext decodes it.
 */
export function encodeContext(ctx: InvocationContext): string {
  const parts = [`stage=${encodeValue(ctx.stage)}`, `depth=${encodeValue(ctx.depth)}`, `user=${encodeValue(ctx.target.user)}`, `admin=${encodeValue(ctx.target.admin)}`];
  if (ctx.management) parts.push(`mgmt=${encodeValue(ctx.management)}`);
  for (const [name, value] of Object.entries(ctx.params)) parts.push(`p.${name}=${encodeValue(value)}`);
  for (const [name, path] of Object.entries(ctx.tools ?? {})) parts.push(`t.${b64(name).replace(/=/g, '')}=${encodeValue(path)}`);
  return parts.join(';');
}

/**
 * PowerShell source as one line: it travels base64, which has no character PowerShell treats as
 * code or quote, and a single line cannot stall pwsh's stdin reader. `.` runs it in the caller's
 * scope (definitions stay), `&` in its own.
 */
export function scriptBlockLine(source: string, call: '&' | '.' = '&'): string {
  return `${call} ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${b64(source)}'))))`;
}

/** The line that runs a composed step script with its context (see encodeContext). */
export function invocationLine(script: string, ctx: InvocationContext): string {
  return `${scriptBlockLine(script)} -MagpieContext '${encodeContext(ctx)}'`;
}

/** Decodes the summary line the prelude prints last; undefined when the step never got that far. */
export interface StepSummary {
  status: 'ok' | 'failed';
  records: number;
  errors: number;
  message: string | null;
  files: { path: string; size: number; sha256: string }[];
  psVersion?: string;
  psEdition?: string;
}

export function parseSummary(stdout: string): { summary?: StepSummary; rest: string } {
  const text = stripConsoleModes(stdout);
  const matches = [...text.matchAll(/MAGPIE-SUMMARY:([A-Za-z0-9+/=]+)/g)];
  const last = matches.at(-1);
  if (!last) return { rest: text.trim() };
  const raw = JSON.parse(Buffer.from(last[1], 'base64').toString('utf8'));
  const files = raw.files == null ? [] : Array.isArray(raw.files) ? raw.files : [raw.files];
  const rest = text.slice(0, last.index) + text.slice(last.index! + last[0].length);
  return { summary: { ...raw, files }, rest: rest.trim() };
}
