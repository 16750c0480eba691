// `Get-Process | Export-Csv` and `Get-CimInstance Win32_Process | Export-Csv` (with the #TYPE line or without).
import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.ts';
import { decodeText, hashOrNull, nonEmpty, toInt, toIso } from './text.ts';
import type { Importer } from './types.ts';

export const importProcessCsv: Importer = (buf, name) => {
  const text = decodeText(buf).replace(/^#TYPE[^\n]*\n/, '');
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: true, skip_empty_lines: true, relax_column_count: true, bom: true });
  } catch (e) {
    throw new InputError(`not CSV: ${(e as Error).message}`, { file: name });
  }
  const cols = rows.length ? Object.keys(rows[0]) : [];
  const cim = cols.includes('ProcessId');
  const gp = cols.includes('Id') && (cols.includes('ProcessName') || cols.includes('Name'));
  if (!cim && !gp) throw new InputError('not a process export: expected Win32_Process (ProcessId) or Get-Process (Id, ProcessName) columns', { file: name });
  const warnings: string[] = [];
  if (rows.some((r) => /\d+\/\d+\/\d{4}/.test(r.StartTime ?? r.CreationDate ?? ''))) {
    warnings.push('start times were written in the target\'s local time without a zone; they are read as UTC (startTimeZone: "unknown")');
  }
  const records = rows.map((r) =>
    cim
      ? {
          pid: toInt(r.ProcessId),
          ppid: toInt(r.ParentProcessId),
          name: r.Name ?? '',
          path: nonEmpty(r.ExecutablePath),
          commandLine: nonEmpty(r.CommandLine),
          startTime: toIso(r.CreationDate),
          sessionId: toInt(r.SessionId),
          user: null,
          ...(/\//.test(r.CreationDate ?? '') ? { startTimeZone: 'unknown' } : {}),
        }
      : {
          pid: toInt(r.Id),
          ppid: null,
          name: /\.exe$/i.test(r.ProcessName ?? r.Name ?? '') || !nonEmpty(r.Path) ? (r.ProcessName ?? r.Name) : `${r.ProcessName ?? r.Name}.exe`,
          path: nonEmpty(r.Path),
          commandLine: nonEmpty(r.CommandLine),
          startTime: toIso(r.StartTime),
          company: nonEmpty(r.Company),
          user: nonEmpty(r.UserName),
          sha256: hashOrNull(r.Hash ?? r.SHA256, 64),
          ...(/\//.test(r.StartTime ?? '') ? { startTimeZone: 'unknown' } : {}),
        },
  );
  const valid = records.filter((r) => r.pid !== null);
  if (valid.length < records.length) warnings.push(`${records.length - valid.length} rows without a process id, skipped`);
  return { kind: 'process', records: valid, warnings };
};
