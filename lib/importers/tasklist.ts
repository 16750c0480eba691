// `tasklist /fo csv` (with or without /v) and the default `tasklist /v` table.
import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.ts';
import { decodeText, nonEmpty, toInt } from './text.ts';
import type { Importer } from './types.ts';

function fromColumns(row: Record<string, string>) {
  return {
    pid: toInt(row['PID']),
    name: nonEmpty(row['Image Name']) ?? '',
    sessionName: nonEmpty(row['Session Name']),
    sessionId: toInt(row['Session#']),
    memoryKb: toInt((row['Mem Usage'] ?? '').replace(/\s*K$/i, '')),
    status: nonEmpty(row['Status']),
    user: nonEmpty(row['User Name']),
    cpuTime: nonEmpty(row['CPU Time']),
    windowTitle: nonEmpty(row['Window Title']),
  };
}

export const importTasklist: Importer = (buf, name) => {
  const text = decodeText(buf);
  const warnings: string[] = [];
  let rows: Record<string, string>[];
  const firstLine = text.split(/\r?\n/).find((l) => l.trim()) ?? '';
  if (firstLine.trim().startsWith('"')) {
    rows = parse(text, { columns: true, skip_empty_lines: true, relax_column_count: true, bom: true });
  } else {
    // The table: widths come from the ===== line under the header.
    const lines = text.split(/\r?\n/);
    const sep = lines.findIndex((l) => /^=+( =+)+\s*$/.test(l.trim()));
    if (sep < 1) throw new InputError('not tasklist output: neither CSV (/fo csv) nor the table with its ==== line', { file: name });
    const spans: [number, number][] = [];
    const re = /=+/g;
    for (let m; (m = re.exec(lines[sep])); ) spans.push([m.index, m.index + m[0].length]);
    const cut = (l: string, [a, b]: [number, number], last: boolean) => l.slice(a, last ? undefined : b).trim();
    const headers = spans.map((s, i) => cut(lines[sep - 1], s, i === spans.length - 1));
    rows = lines.slice(sep + 1).filter((l) => l.trim()).map((l) => Object.fromEntries(headers.map((h, i) => [h, cut(l, spans[i], i === spans.length - 1)])));
  }
  if (!rows.length || !('PID' in rows[0]) || !('Image Name' in rows[0])) throw new InputError('not tasklist output: no "Image Name" and "PID" columns', { file: name });
  const records: ReturnType<typeof fromColumns>[] = [];
  rows.forEach((r, i) => {
    const rec = fromColumns(r);
    if (rec.pid === null) warnings.push(`${name}: row ${i + 1} has no PID, skipped`);
    else records.push(rec);
  });
  return { kind: 'process', records, warnings };
};
