// What an importer gives back: records of one kind, and what it had to pass over.
import type { RecordKind } from '../definitions.ts';

export interface Imported {
  kind: RecordKind;
  records: Record<string, unknown>[];
  warnings: string[];
}

export type Importer = (buf: Buffer, name: string) => Imported;
