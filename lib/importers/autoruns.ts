// autorunsc, in the shapes responders hold it:
// - CSV (-c, with or without -h hashes, -s signature checks, -t times), UTF-16 or UTF-8;
// - XML (-x): <autoruns><item><location/><itemname/><launchstring/><imagepath/><md5hash/>…;
// - the CSV after `Import-Csv | ConvertTo-Json` (an array of objects named by the CSV columns,
//   UTF-16 with BOM when PowerShell 5.1 wrote it);
// - Velociraptor's Windows.Sysinternals.Autoruns rows (the CSV columns, one JSON object a line).
import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.ts';
import { DateReader, hasZone } from './dates.ts';
import { decodeText, hashOrNull, jsonItems, nonEmpty } from './text.ts';
import type { Imported, ImportOptions, Importer } from './types.ts';
import { childText, parseXmlRoots as parseXml, XmlError } from '../xml.ts';

type Row = Record<string, unknown>;

/** autorunsc -x element names → the CSV column names. */
const XML_COLUMNS: Record<string, string> = {
  location: 'Entry Location', itemname: 'Entry', enabled: 'Enabled', launchstring: 'Launch String', profile: 'Profile',
  description: 'Description', company: 'Company', signer: 'Signer', version: 'Version', imagepath: 'Image Path', time: 'Time',
  md5hash: 'MD5', sha1hash: 'SHA-1', sha256hash: 'SHA-256', pesha1hash: 'PESHA-1', pesha256hash: 'PESHA-256', imphash: 'IMP', category: 'Category',
};

const str = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v));

/** Rows named by the CSV columns → autorun records (shared by every shape). */
export function autorunRecords(rows: Row[], name: string, opts: ImportOptions = {}, what = 'autorunsc'): Imported {
  const warnings: string[] = [];
  const dates = new DateReader(name, opts.dateOrder).decide(rows.map((r) => r['Time']));
  const records = [];
  let local = 0;
  // With -s, autorunsc leaves Signer blank for an image with no signature at all: blank then means
  // "not signed", not "unknown" (when no row has a signer, -s was not given and nothing is known).
  const checked = rows.some((r) => nonEmpty(r['Signer']));
  for (const [i, r] of rows.entries()) {
    // Rows with an empty Entry are headers naming a location (a registry key, a folder). An entry
    // literally named "n/a" (autorunsc's word for a nameless entry) is an entry and is kept.
    const entry = str(r['Entry']).trim();
    if (!entry) continue;
    const signerRaw = nonEmpty(r['Signer']);
    const verified = signerRaw ? /^\(Verified\)/i.test(signerRaw) : null;
    const enabled = nonEmpty(r['Enabled']);
    const time = dates.iso(r['Time'], `entry ${i + 1} "${entry}"`);
    if (time !== null && !hasZone(r['Time'])) local++;
    records.push({
      location: str(r['Entry Location']),
      entry,
      category: nonEmpty(r['Category']),
      enabled: enabled === null ? null : /^enabled?$/i.test(enabled),
      profile: nonEmpty(r['Profile']),
      description: nonEmpty(r['Description']),
      company: nonEmpty(r['Company']),
      signer: signerRaw ? signerRaw.replace(/^\((Not )?Verified\)\s*/i, '') || null : null,
      signed: signerRaw !== null ? verified : checked && nonEmpty(r['Image Path']) && !/^file not found/i.test(str(r['Image Path'])) ? false : null,
      imagePath: nonEmpty(r['Image Path']),
      version: nonEmpty(r['Version']),
      launchString: nonEmpty(r['Launch String']),
      time,
      md5: hashOrNull(r['MD5'], 32),
      sha1: hashOrNull(r['SHA-1'], 40),
      sha256: hashOrNull(r['SHA-256'], 64),
    });
  }
  const has = (col: string) => rows.some((r) => col in r);
  if (!has('Signer') || rows.every((r) => !nonEmpty(r['Signer']))) warnings.push(`no signer column values: ${what} ran without -s, so signatures are unknown`);
  if (!has('SHA-256')) warnings.push(`no hash columns: ${what} ran without -h`);
  if (local && !opts.timesUtc) warnings.push(`${name}: ${local} time${local === 1 ? ' was' : 's were'} written in the host's local time (${what} without -t), without a zone; read as UTC. ${what} -t writes UTC`);
  warnings.push(...dates.warnings());
  return { kind: 'autorun', records, warnings };
}

function fromXml(text: string, name: string): Row[] {
  let doc;
  try {
    doc = parseXml(text);
  } catch (e) {
    throw new InputError(`not autorunsc XML: ${(e as XmlError).message}`, { file: name });
  }
  const root = doc.children.find((c) => c.name.toLowerCase() === 'autoruns');
  if (!root) throw new InputError('not autorunsc XML: no <autoruns> element (run autorunsc -a * -x -h -s)', { file: name });
  return root.children
    .filter((c) => c.name.toLowerCase() === 'item')
    .map((item) => {
      const row: Row = {};
      for (const c of item.children) {
        const col = XML_COLUMNS[c.name.toLowerCase()];
        if (col) row[col] = childText(item, c.name) ?? '';
      }
      return row;
    });
}

function fromJson(text: string, name: string): Row[] {
  try {
    return jsonItems(text).filter((r): r is Row => !!r && typeof r === 'object');
  } catch (e) {
    throw new InputError(`not JSON (Import-Csv | ConvertTo-Json): ${(e as Error).message}`, { file: name });
  }
}

export const importAutoruns: Importer = (buf, name, opts = {}) => {
  const text = decodeText(buf);
  const head = text.trimStart();
  let rows: Row[];
  let shape = 'CSV';
  if (head.startsWith('<')) {
    rows = fromXml(text, name);
    shape = 'XML';
  } else if (head.startsWith('[') || head.startsWith('{')) {
    rows = fromJson(text, name);
    shape = 'JSON';
  } else {
    try {
      rows = parse(text, { columns: (h: string[]) => h.map((c) => c.trim()), skip_empty_lines: true, relax_column_count: true, relax_quotes: true, bom: true });
    } catch (e) {
      throw new InputError(`not autorunsc CSV: ${(e as Error).message}`, { file: name });
    }
  }
  if (!rows.length || !rows.some((r) => 'Entry Location' in r && 'Entry' in r)) {
    if (shape === 'XML') throw new InputError('not autorunsc XML: no <item> with <location> and <itemname>', { file: name });
    throw new InputError(`not autorunsc ${shape}: expected the columns "Entry Location" and "Entry" (run autorunsc -a * -c -h -s)`, { file: name });
  }
  return autorunRecords(rows, name, opts);
};
