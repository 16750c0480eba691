// Triage's third pass: each capture a run collected (the manifest's files of its capture steps,
// which verify has hashed, never a path a host wrote into a record) becomes flow, dns and beacon
// records in the triage folder, each evaluated by the rules as it is written.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Manifest } from '../evidence/manifest.ts';
import type { RecordRef } from '../records/reader.ts';
import { JsonlFile } from '../records/jsonl-file.ts';
import { RECORD_SCHEMAS } from '../records/schemas.ts';
import { ConnectionIndex, deriveTraffic, type TrafficRecord } from './derive.ts';
import { findTshark, TSHARK_MISSING } from './tshark.ts';

const CAPTURE = /\.(pcapng|pcap|cap)$/i;

export async function triageCaptures(
  dir: string,
  manifest: Manifest,
  owners: ConnectionIndex,
  out: { abs: string; rel: string } | undefined,
  evaluate: (ref: RecordRef) => void,
  problem: (p: string) => void,
): Promise<void> {
  let tshark: string | undefined | null = null;
  for (const step of manifest.steps) {
    if (step.kind !== 'capture') continue;
    for (const f of manifest.files) {
      if (!f.path.startsWith(`${step.dir}/files/`)) continue;
      if (/\.etl$/i.test(f.path)) {
        problem(`${f.path}: an ETW trace (netsh trace), which tshark cannot read: convert it on Windows with Microsoft's etl2pcapng (https://github.com/microsoft/etl2pcapng), then magpie import pcap the result`);
        continue;
      }
      if (!CAPTURE.test(f.path)) continue;
      if (tshark === null) tshark = findTshark();
      if (!tshark) {
        problem(`${f.path}: not analysed: ${TSHARK_MISSING}`);
        continue;
      }
      const files = new Map<string, JsonlFile>();
      const fileFor = (kind: TrafficRecord['kind']): JsonlFile | undefined => {
        if (!out) return undefined;
        let lf = files.get(kind);
        if (!lf) {
          const sub = join(out.abs, basename(step.dir));
          mkdirSync(sub, { recursive: true });
          const name = `${basename(f.path)}.${kind}.jsonl`;
          files.set(kind, (lf = new JsonlFile(join(sub, name), `${out.rel}/${basename(step.dir)}/${name}`)));
        }
        return lf;
      };
      const virtual = new Map<string, number>();
      try {
        await deriveTraffic(tshark, join(dir, ...f.path.split('/')), f.path, owners, ({ kind, record }) => {
          // Derived here, but held to the same schema as collected records: a dissector's odd
          // output must not reach the rules unchecked.
          const ok = RECORD_SCHEMAS[kind].safeParse(record);
          const lf = fileFor(kind);
          const line = lf ? lf.write(record) : (virtual.set(kind, (virtual.get(kind) ?? 0) + 1), virtual.get(kind)!);
          const file = lf?.rel ?? `${f.path}#${kind}`;
          if (!ok.success) {
            const i = ok.error.issues[0];
            problem(`${file}:${line}: not a valid ${kind} record: ${i.path.join('.') || '(record)'}: ${i.message}; skipped`);
            return;
          }
          evaluate({ kind, record, file, line });
        });
      } catch (e) {
        problem(`${f.path}: ${(e as Error).message}`);
      } finally {
        for (const lf of files.values()) lf.close();
      }
    }
  }
}
