// What an importer gives back: records of one kind, and what it had to pass over.
import type { RecordKind } from '../definitions.ts';
import type { DateOrder } from './dates.ts';

export interface Imported {
  kind: RecordKind;
  records: Record<string, unknown>[];
  warnings: string[];
}

export interface ImportOptions {
  /** Day/month order of "a/b/yyyy" dates (--date-order); decided from the file's values when absent. */
  dateOrder?: DateOrder;
  /** Times without a zone are UTC: the tool was told to write UTC (autorunsc -t), so no local-time warning. */
  timesUtc?: boolean;
}

export type Importer = (buf: Buffer, name: string, opts?: ImportOptions) => Imported;
