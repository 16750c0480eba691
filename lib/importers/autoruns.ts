// autorunsc -c (with or without -h hashes and -s signature checks), UTF-16 or UTF-8.
import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.ts';
import { decodeText, hashOrNull, nonEmpty, toIso } from './text.ts';
import type { Importer } from './types.ts';

export const importAutoruns: Importer = (buf, name) => {
  const text = decodeText(buf);
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: (h: string[]) => h.map((c) => c.trim()), skip_empty_lines: true, relax_column_count: true, relax_quotes: true, bom: true });
  } catch (e) {
    throw new InputError(`not autorunsc CSV: ${(e as Error).message}`, { file: name });
  }
  if (!rows.length || !('Entry Location' in rows[0]) || !('Entry' in rows[0])) {
    throw new InputError('not autorunsc CSV: expected the columns "Entry Location" and "Entry" (run autorunsc -a * -c -h -s)', { file: name });
  }
  const warnings: string[] = [];
  const records = [];
  for (const r of rows) {
    // Rows with an empty Entry are headers naming a location (a registry key, a folder).
    if (!nonEmpty(r['Entry'])) continue;
    const signerRaw = nonEmpty(r['Signer']);
    const verified = signerRaw ? /^\(Verified\)/i.test(signerRaw) : null;
    const signed = signerRaw === null ? null : verified;
    const image = nonEmpty(r['Image Path']);
    records.push({
      location: r['Entry Location'],
      entry: r['Entry'],
      category: nonEmpty(r['Category']),
      enabled: nonEmpty(r['Enabled']) === null ? null : /^enabled$/i.test(r['Enabled'].trim()),
      profile: nonEmpty(r['Profile']),
      description: nonEmpty(r['Description']),
      company: nonEmpty(r['Company']),
      signer: signerRaw ? signerRaw.replace(/^\((Not )?Verified\)\s*/i, '') || null : null,
      signed,
      imagePath: image,
      version: nonEmpty(r['Version']),
      launchString: nonEmpty(r['Launch String']),
      time: toIso(r['Time']),
      md5: hashOrNull(r['MD5'], 32),
      sha1: hashOrNull(r['SHA-1'], 40),
      sha256: hashOrNull(r['SHA-256'], 64),
    });
  }
  if (!('Signer' in rows[0]) || rows.every((r) => !nonEmpty(r['Signer']))) warnings.push('no signer column values: autorunsc ran without -s, so signatures are unknown');
  if (!('SHA-256' in rows[0])) warnings.push('no hash columns: autorunsc ran without -h');
  return { kind: 'autorun', records, warnings };
};
