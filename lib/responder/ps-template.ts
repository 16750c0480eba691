// The `ps` tagged template of a responder step: its text becomes PowerShell source, and every
// interpolated value becomes a parameter that travels in the encoded context (lib/script.ts
// encodeContext), exactly like a step's $Params. No value is ever written into the source, so no
// quoting rule (PowerShell has five single quotes, U+0027 and U+2018–U+201B) can be got wrong.
import type { ParamValue } from '../params.ts';

export interface PsCall {
  /** The PowerShell that runs inside Invoke-MagpieStep: one assignment per value, then the template's text. */
  body: string;
  /** The values by name (a0, a1, …), as they travel to the target. */
  params: Record<string, ParamValue>;
}

/** The variable a value is read into on the target; `${…}` so that text right after it stays text. */
export const argVariable = (i: number) => `MagpieArg${i}`;

/**
 * The text as written (String.raw), so a Windows path keeps its backslashes; only the escapes a
 * JavaScript template needs for its own syntax (\` and \${) are undone.
 */
function templateText(raw: string): string {
  return raw.replace(/\\`/g, '`').replace(/\\\$\{/g, '${');
}

/** How one value travels, and the PowerShell that reads it back into its variable. */
function bind(name: string, value: unknown, where: string): { param?: ParamValue; read: string } {
  const fromParams = `$Params.${name}`;
  if (value === null || value === undefined) return { read: '$null' };
  if (typeof value === 'string' || typeof value === 'boolean') return { param: value, read: fromParams };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${where}: ${value} cannot travel to PowerShell; pass a finite number`);
    return { param: value, read: fromParams };
  }
  if (typeof value === 'bigint') return { param: value.toString(), read: `[bigint]${fromParams}` };
  if (value instanceof Date) return { param: value.toISOString(), read: `[datetime]::Parse(${fromParams}, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind)` };
  if (Array.isArray(value)) {
    // @(…) keeps a list of one a list on the target.
    if (value.every((v) => typeof v === 'string')) return { param: value as string[], read: `@(${fromParams})` };
    if (value.every((v) => typeof v === 'number' && Number.isInteger(v))) return { param: value.map(String), read: `[long[]]@(${fromParams})` };
    if (value.every((v) => typeof v === 'number' && Number.isFinite(v))) return { param: value.map(String), read: `[double[]]@(${fromParams} | ForEach-Object { [double]::Parse($_, [Globalization.CultureInfo]::InvariantCulture) })` };
  }
  if (typeof value === 'object') {
    // Anything else with a shape (an object, a mixed list) travels as JSON text, read back by ConvertFrom-Json.
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (e) {
      throw new TypeError(`${where}: the value cannot be written as JSON (${(e as Error).message})`);
    }
    if (json === undefined) throw new TypeError(`${where}: the value cannot be written as JSON`);
    return { param: json, read: `(${fromParams} | ConvertFrom-Json)` };
  }
  throw new TypeError(`${where}: a ${typeof value} cannot travel to PowerShell; pass a string, number, boolean, Date, list or plain object`);
}

/** `ps\`Get-Process -Id ${pid}\`` → the body and its parameters. */
export function composePsCall(pieces: TemplateStringsArray, values: unknown[]): PsCall {
  const params: Record<string, ParamValue> = {};
  const reads: string[] = [];
  let text = templateText(pieces.raw[0]);
  values.forEach((value, i) => {
    const name = `a${i}`;
    const { param, read } = bind(name, value, `value ${i + 1} of the ps template`);
    if (param !== undefined) params[name] = param;
    reads.push(`$${argVariable(i)} = ${read}`);
    text += `\${${argVariable(i)}}` + templateText(pieces.raw[i + 1]);
  });
  return { body: [...reads, text].join('\n'), params };
}
