// `magpie import KIND FILE... --host NAME`.
import { statSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { IMPORTERS, importFiles } from '../importers/import.ts';
import { safeLine } from '../text.ts';
import { parse, type Io } from './args.ts';

export async function cmdImport(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    host: { type: 'string' },
    case: { type: 'string', default: 'adhoc' },
    out: { type: 'string', default: 'evidence' },
    operator: { type: 'string' },
  });
  const [kind, ...files] = positionals;
  if (!kind || !files.length) throw new InputError(`import takes a kind and one or more files; kinds: ${Object.entries(IMPORTERS).map(([k, v]) => `${k} (${v.what})`).join('; ')}`);
  if (!values.host) throw new InputError('import needs --host NAME: the host the files came from');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.case as string)) throw new InputError('--case must be 1-64 letters, digits, dots, dashes or underscores (it names a folder)');
  for (const f of files) if (!statSync(f, { throwIfNoEntry: false })?.isFile()) throw new InputError('no such file', { file: f });
  const r = await importFiles(kind, files, { host: values.host as string, caseId: values.case as string, out: values.out as string, operator: values.operator as string | undefined });
  for (const w of r.warnings) io.err.write(`magpie: warning: ${safeLine(w)}\n`);
  if (values.json) io.out.write(JSON.stringify(r) + '\n');
  else io.out.write(`imported ${r.records} records\n  evidence: ${safeLine(r.dir)}\n`);
  return 0;
}
