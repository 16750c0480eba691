// `magpie pack DIR`: one zip of a sealed evidence folder for hand-over, with its own SHA-256
// beside it in sha256sum's format. The folder is verified first and never changed.
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import yazl from 'yazl';
import { InputError } from '../errors.ts';
import { sha256File } from './hash.ts';
import { formatSums } from './sums.ts';
import { listFiles, verifyEvidence } from './verify.ts';

export interface PackResult {
  zip: string;
  sha256: string;
  size: number;
  files: number;
}

export async function packEvidence(dir: string, out?: string): Promise<PackResult> {
  const report = await verifyEvidence(dir);
  if (!report.ok) {
    const what = [...report.changed.map((f) => `changed ${f}`), ...report.missing.map((f) => `missing ${f}`), ...report.added.map((f) => `added ${f}`), ...report.problems].slice(0, 5).join('; ');
    throw new InputError(`does not verify, so it is not packed: ${what}. Run \`magpie verify\` for the full list.`, { file: dir });
  }
  const top = basename(dir);
  const zip = out ?? join(dirname(dir), `${top}.zip`);
  if (existsSync(zip) || existsSync(`${zip}.sha256`)) throw new InputError('already exists; packs are never overwritten (choose another --out)', { file: zip });
  // A folder that verified holds only files its sums list, plus the sums themselves.
  const files = listFiles(dir);
  const z = new yazl.ZipFile();
  // Paths inside the zip start with the folder's own name, so unpacking cannot scatter files.
  for (const f of files) z.addFile(join(dir, ...f.split('/')), `${top}/${f}`);
  z.end();
  const sink = createWriteStream(zip, { flags: 'wx' });
  z.outputStream.pipe(sink);
  await once(sink, 'close');
  const h = await sha256File(zip);
  writeFileSync(`${zip}.sha256`, formatSums([{ sha256: h.sha256, path: basename(zip) }]), { flag: 'wx' });
  return { zip, sha256: h.sha256, size: h.size, files: files.length };
}
