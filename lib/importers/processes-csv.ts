// `Get-Process | Export-Csv` and `Get-CimInstance Win32_Process | Export-Csv` (with the #TYPE line or without).
// PowerShell 7's Get-Process has a Parent property, which Export-Csv writes as the object's
// ToString(): "System.Diagnostics.Process (services)"; it becomes the record's parentName.
import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.ts';
import { DateReader } from './dates.ts';
import { decodeText, hashOrNull, nonEmpty, toInt } from './text.ts';
import type { Importer } from './types.ts';

/** Names of Windows processes that have no image file, so no ".exe" is added to them. */
const NO_IMAGE = new Set(['system', 'idle', 'registry', 'secure system', 'memory compression', 'vmmem', 'vmmemwsl']);

/** "System.Diagnostics.Process (services)" → "services.exe"; empty (the parent exited) → null. */
export function parentFromColumn(v: unknown): string | null {
  const s = nonEmpty(v);
  if (!s) return null;
  const m = /^System\.Diagnostics\.Process \((.*)\)$/.exec(s);
  const n = (m ? m[1] : s).trim();
  if (!n) return null;
  return /\.exe$/i.test(n) || NO_IMAGE.has(n.toLowerCase()) ? n : `${n}.exe`;
}

/** A locale date ("11/26/2025 9:15 AM", "26.11.2025 09:15"): the target's local time, no zone. */
const localShape = (v: unknown) => typeof v === 'string' && /^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b/.test(v.trim()) && !/^\d{4}-\d{2}-\d{2}/.test(v.trim());

export const importProcessCsv: Importer = (buf, name, opts = {}) => {
  const text = decodeText(buf).replace(/^\uFEFF?#TYPE[^\n]*\n/, '');
  let rows: Record<string, string>[];
  try {
    // Export-Csv -UseCulture writes the locale's list separator (";" in de-DE, fr-FR…).
    const header = text.split(/\r?\n/, 1)[0];
    const delimiter = header.split(';').length > header.split(',').length ? ';' : ',';
    rows = parse(text, { columns: true, skip_empty_lines: true, relax_column_count: true, bom: true, delimiter });
  } catch (e) {
    throw new InputError(`not CSV: ${(e as Error).message}`, { file: name });
  }
  const cols = rows.length ? Object.keys(rows[0]) : [];
  const cim = cols.includes('ProcessId');
  const gp = cols.includes('Id') && (cols.includes('ProcessName') || cols.includes('Name'));
  if (!cim && !gp) throw new InputError('not a process export: expected Win32_Process (ProcessId) or Get-Process (Id, ProcessName) columns', { file: name });
  const warnings: string[] = [];
  if (rows.some((r) => localShape(r.StartTime ?? r.CreationDate))) {
    warnings.push('start times were written in the target\'s local time without a zone; they are read as UTC (startTimeZone: "unknown")');
  }
  const dates = new DateReader(name, opts.dateOrder).decide(rows.map((r) => r.StartTime ?? r.CreationDate));
  const hasParent = cols.includes('Parent');
  const records = rows.map((r, i) =>
    cim
      ? {
          pid: toInt(r.ProcessId),
          ppid: toInt(r.ParentProcessId),
          name: r.Name ?? '',
          path: nonEmpty(r.ExecutablePath),
          commandLine: nonEmpty(r.CommandLine),
          startTime: dates.iso(r.CreationDate, `row ${i + 1}`),
          sessionId: toInt(r.SessionId),
          user: null,
          ...(localShape(r.CreationDate) ? { startTimeZone: 'unknown' } : {}),
        }
      : {
          pid: toInt(r.Id),
          ppid: null,
          name: /\.exe$/i.test(r.ProcessName ?? r.Name ?? '') || !nonEmpty(r.Path) ? (r.ProcessName ?? r.Name) : `${r.ProcessName ?? r.Name}.exe`,
          path: nonEmpty(r.Path),
          commandLine: nonEmpty(r.CommandLine),
          startTime: dates.iso(r.StartTime, `row ${i + 1}`),
          company: nonEmpty(r.Company),
          user: nonEmpty(r.UserName),
          sha256: hashOrNull(r.Hash ?? r.SHA256, 64),
          ...(hasParent ? { parentName: parentFromColumn(r.Parent) } : {}),
          ...(localShape(r.StartTime) ? { startTimeZone: 'unknown' } : {}),
        },
  );
  const valid = records.filter((r) => r.pid !== null);
  if (valid.length < records.length) warnings.push(`${records.length - valid.length} rows without a process id, skipped`);
  warnings.push(...dates.warnings());
  return { kind: 'process', records: valid, warnings };
};
