// Reads a YAML file keeping positions, so schema errors can name the line of the bad field.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { InputError, InputErrors } from './errors.ts';

export interface YamlSource {
  file: string;
  text: string;
  data: unknown;
  /** Line (1-based) of the value at `path`, or of its closest existing parent. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

export function parseYaml(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new InputErrors(
      doc.errors.map((e) => {
        const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
        return new InputError(`invalid YAML: ${e.message.split('\n')[0]}. Fix the syntax at this line.`, { file, line });
      }),
    );
  }
  const lineOf = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { file, text, data: doc.toJS(), lineOf };
}

export function readYaml(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file });
  }
  return parseYaml(file, text);
}

/** Validates with a zod schema; every issue becomes an InputError at its line. */
export function validateYaml<T>(src: YamlSource, schema: z.ZodType<T>): T {
  const r = schema.safeParse(src.data);
  if (r.success) return r.data;
  throw new InputErrors(
    r.error.issues.flatMap((issue) => {
      // An unknown key is reported at the key itself, not at the mapping (a list item) holding it.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => {
          const path = [...issue.path, key];
          return new InputError(`unknown key "${key}" (a typo, or a key this file does not take)`, { file: src.file, line: src.lineOf(path), field: path.map(String).join('.') });
        });
      }
      const field = issue.path.map(String).join('.') || undefined;
      return [new InputError(issue.message, { file: src.file, line: src.lineOf(issue.path), field })];
    }),
  );
}
