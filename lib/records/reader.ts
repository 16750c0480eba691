// Streams the records of an evidence folder, validated against their kind's schema. A record
// that does not validate is reported with its file and line, and reading goes on.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RecordKind } from '../definitions.ts';
import { InputError } from '../errors.ts';
import { Manifest } from '../evidence/manifest.ts';
import { RECORD_SCHEMAS } from './schemas.ts';

export interface Located {
  file: string;
  line: number;
}

export interface RecordRef extends Located {
  kind: RecordKind;
  record: Record<string, unknown>;
}

export function readManifest(dir: string): Manifest {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) throw new InputError('no manifest.json here: give the folder of one host run (evidence/<case>/<host>/<stamp>)', { file: dir });
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new InputError(`manifest.json does not match the schema: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { file });
  return parsed.data;
}

/** Records of the given kinds, step by step in manifest order; problems go to `onProblem`. */
export async function* readRecords(dir: string, manifest: Manifest, kinds: readonly RecordKind[], onProblem: (p: string) => void): AsyncGenerator<RecordRef> {
  for (const step of manifest.steps) {
    if (!kinds.includes(step.kind)) continue;
    const rel = `${step.dir}/records.jsonl`;
    const file = join(dir, ...rel.split('/'));
    if (!existsSync(file)) continue;
    const schema = RECORD_SCHEMAS[step.kind];
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
    let line = 0;
    for await (const text of lines) {
      line++;
      if (!text.trim()) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        onProblem(`${rel}:${line}: not JSON; skipped`);
        continue;
      }
      const r = schema.safeParse(value);
      if (!r.success) {
        const i = r.error.issues[0];
        onProblem(`${rel}:${line}: not a valid ${step.kind} record: ${i.path.join('.') || '(record)'}: ${i.message}; skipped`);
        continue;
      }
      yield { kind: step.kind, record: value as Record<string, unknown>, file: rel, line };
    }
  }
}
