// `magpie import KIND FILE... --host NAME`, and several kinds for one host at once:
//   magpie import --host WS-042 netstat:netstat.txt tasklist:tasklist.csv
//   magpie import --host WS-042 --kind netstat netstat.txt --kind tasklist tasklist.csv
// A positional KIND:FILE names its own kind; any other file takes the kind given last (the
// leading KIND of the single-kind form, or the last --kind before it).
import { statSync } from 'node:fs';
import { DATE_ORDERS, type DateOrder } from '../importers/dates.ts';
import { InputError } from '../errors.ts';
import { IMPORTERS, importSources, type ImportSource } from '../importers/import.ts';
import { safeLine } from '../text.ts';
import { parse, type Io } from './args.ts';

const kindsHelp = () => Object.entries(IMPORTERS).map(([k, v]) => `${k} (${v.what})`).join('; ');

/** Args → the sources in order; --kind is taken out here, since its place among the files matters. */
export function importSourcesFromArgs(args: string[]): { rest: string[]; sources: ImportSource[] } {
  const rest: string[] = [];
  const files: { file: string; kind: string | null }[] = [];
  let current: string | null = null;
  let positionals = 0;
  const takesValue = new Set(['--host', '--case', '--out', '--operator', '--date-order', '--playbooks']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      for (const f of args.slice(i + 1)) files.push({ file: f, kind: current });
      break;
    }
    if (a === '--kind' || a.startsWith('--kind=')) {
      const k = a === '--kind' ? args[++i] : a.slice('--kind='.length);
      if (!k || !IMPORTERS[k]) throw new InputError(`--kind ${k ?? ''}: unknown import kind; kinds: ${kindsHelp()}`);
      current = k;
      continue;
    }
    if (a.startsWith('-')) {
      rest.push(a);
      if (takesValue.has(a) && i + 1 < args.length) rest.push(args[++i]);
      continue;
    }
    positionals++;
    // The single-kind form: a bare kind name first.
    if (positionals === 1 && current === null && IMPORTERS[a]) {
      current = a;
      continue;
    }
    const m = /^([a-z][a-z-]*):(.+)$/.exec(a);
    if (m && IMPORTERS[m[1]]) files.push({ file: m[2], kind: m[1] });
    else files.push({ file: a, kind: current });
  }
  const sources: ImportSource[] = [];
  for (const { file, kind } of files) {
    if (!kind) {
      throw new InputError(`${file}: no kind for this file: give KIND FILE…, KIND:FILE, or --kind KIND before it; kinds: ${kindsHelp()}`);
    }
    sources.push({ kind, file });
  }
  return { rest, sources };
}

export async function cmdImport(args: string[], io: Io): Promise<number> {
  const { rest, sources } = importSourcesFromArgs(args);
  const { values, positionals } = parse(rest, {
    host: { type: 'string' },
    case: { type: 'string', default: 'adhoc' },
    out: { type: 'string', default: 'evidence' },
    operator: { type: 'string' },
    'date-order': { type: 'string' },
  });
  if (positionals.length) throw new InputError(`unexpected ${positionals.join(' ')}`);
  if (!sources.length) throw new InputError(`import takes a kind and one or more files (KIND FILE…, KIND:FILE…, or --kind KIND FILE…); kinds: ${kindsHelp()}`);
  if (!values.host) throw new InputError('import needs --host NAME: the host the files came from');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.case as string)) throw new InputError('--case must be 1-64 letters, digits, dots, dashes or underscores (it names a folder)');
  const dateOrder = values['date-order'] as string | undefined;
  if (dateOrder !== undefined && !DATE_ORDERS.includes(dateOrder as DateOrder)) throw new InputError(`--date-order ${dateOrder}: use dmy (day first, 13/02/2024) or mdy (month first, 02/13/2024)`);
  for (const { file } of sources) if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new InputError('no such file', { file });
  const r = await importSources(sources, {
    host: values.host as string,
    caseId: values.case as string,
    out: values.out as string,
    operator: values.operator as string | undefined,
    dateOrder: dateOrder as DateOrder | undefined,
  });
  for (const w of r.warnings) io.err.write(`magpie: warning: ${safeLine(w)}\n`);
  if (values.json) io.out.write(JSON.stringify(r) + '\n');
  else io.out.write(`imported ${r.records} records\n  evidence: ${safeLine(r.dir)}\n`);
  return 0;
}
