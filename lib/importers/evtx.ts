// Windows event logs (.evtx) → `event` records, through libyal's evtxexport (Debian package
// libevtx-utils): `evtxexport -f xml FILE` prints a banner line ("evtxexport 20181227"), blank lines,
// and one <Event xmlns=…>…</Event> per record. Its output is read as it comes (an .evtx can be
// gigabytes): cut into <Event> blocks, each parsed on its own with lib/xml.ts, never the whole text.
// Values are kept as evtxexport gives them (GUIDs in braces, CR LF inside values), except that
// HexInt32/HexInt64 values, which evtxexport pads to 8/16 digits (0x00000000000003e7), are written
// as Windows renders them and Sigma rules are written (0x3e7).
// A missing evtxexport, an unreadable file, evtxexport failing (exit code ≠ 0) or a file without a
// single event is an InputError naming the file: nothing is half-imported.
import { spawn } from 'node:child_process';
import { InputError } from '../errors.ts';
import type { EventRecord } from '../records/schemas.ts';
import { childByLocalName, parseXml, XmlError, type XmlElement } from '../xml.ts';

export const EVTXEXPORT_INSTALL = 'apt-get install libevtx-utils';

export interface EvtxOptions {
  /** The evtxexport program: MAGPIE_EVTXEXPORT, else `evtxexport` on PATH. */
  evtxexport?: string;
  /** Events passed over (no EventID or no TimeCreated) are said here, in one line per kind of problem. */
  warnings?: string[];
}

const evtxexportPath = (opts: EvtxOptions) => opts.evtxexport ?? process.env.MAGPIE_EVTXEXPORT ?? 'evtxexport';

/** "2025-11-26T05:11:27.9276930Z" (100 ns ticks) → "2025-11-26T05:11:27.927Z"; null when not such a time. */
export function evtxTime(s: string | undefined): string | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s?.trim() ?? '');
  return m ? `${m[1]}.${((m[2] ?? '') + '000').slice(0, 3)}Z` : null;
}

/** evtxexport's zero-padded HexInt32/HexInt64 (0x00000000 / 0x0000000000085527) as Windows renders them (0x0 / 0x85527). */
const unpadHex = (v: string) => (/^0x(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{16})$/.test(v) ? '0x' + v.slice(2).replace(/^0+(?=.)/, '') : v);

const int = (s: string | undefined): number | null => (s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : null);

/** Leaf elements under el, depth first, by local name (a repeated name gets 2, 3…). */
function flattenLeaves(el: XmlElement, out: Record<string, string | null>): void {
  for (const c of el.children) {
    if (c.children.length) flattenLeaves(c, out);
    else {
      let name = c.name;
      for (let n = 2; name in out; n++) name = `${c.name}${n}`;
      out[name] = unpadHex(c.text);
    }
  }
}

/**
 * One <Event>…</Event> block of evtxexport's XML → an event record; null when it has no EventID
 * or TimeCreated (the caller counts those). Throws XmlError on XML it cannot read.
 */
export function parseEvtxEvent(block: string): (EventRecord & { data: Record<string, string | null> }) | null {
  const ev = parseXml(block);
  const sys = childByLocalName(ev, 'System');
  const eventId = int(childByLocalName(sys, 'EventID')?.text);
  const time = evtxTime(childByLocalName(sys, 'TimeCreated')?.attrs.SystemTime);
  if (eventId === null || time === null) return null;
  const text = (name: string) => {
    const t = childByLocalName(sys, name)?.text.trim();
    return t ? t : null;
  };
  const data: Record<string, string | null> = {};
  const eventData = childByLocalName(ev, 'EventData');
  if (eventData) {
    let unnamed = 0;
    for (const d of eventData.children) {
      if (d.name === 'Data') {
        let name = d.attrs.Name ?? `Data${++unnamed}`;
        for (let n = 2; name in data; n++) name = `${d.attrs.Name ?? 'Data'}${n}`;
        data[name] = unpadHex(d.text);
      } else data[d.name] = d.children.length ? null : unpadHex(d.text); // <Binary>…</Binary>
    }
  }
  const userData = childByLocalName(ev, 'UserData');
  if (userData) flattenLeaves(userData, data);
  const execution = childByLocalName(sys, 'Execution')?.attrs ?? {};
  const rec: EventRecord & { data: Record<string, string | null> } = {
    channel: text('Channel') ?? '',
    provider: childByLocalName(sys, 'Provider')?.attrs.Name ?? childByLocalName(sys, 'Provider')?.attrs.EventSourceName ?? '',
    eventId,
    time,
    computer: text('Computer'),
    recordId: int(text('EventRecordID') ?? undefined),
    level: int(text('Level') ?? undefined),
    user: childByLocalName(sys, 'Security')?.attrs.UserID ?? null,
    processId: int(execution.ProcessID),
    threadId: int(execution.ThreadID),
    data,
  };
  return rec;
}

/** Cuts text into <Event …>…</Event> blocks; what lies between them (banner, blank lines, messages) goes to `other`. */
export class EventBlockSplitter {
  private buf = '';
  other = '';

  /** The complete blocks in buf after appending chunk; an unfinished one waits for the next chunk. */
  push(chunk: string): string[] {
    this.buf += chunk;
    const blocks: string[] = [];
    for (;;) {
      const start = /<Event[\s>]/.exec(this.buf);
      if (!start) {
        // Keep a possible start of "<Event" cut by the chunk boundary; the rest is between events.
        const lt = this.buf.lastIndexOf('<');
        const keep = lt < 0 ? this.buf.length : lt;
        this.other = (this.other + this.buf.slice(0, keep)).slice(-4000);
        this.buf = this.buf.slice(keep);
        return blocks;
      }
      if (start.index > 0) {
        this.other = (this.other + this.buf.slice(0, start.index)).slice(-4000);
        this.buf = this.buf.slice(start.index);
      }
      const end = this.buf.indexOf('</Event>');
      if (end < 0) return blocks;
      blocks.push(this.buf.slice(0, end + 8));
      this.buf = this.buf.slice(end + 8);
    }
  }

  /** What is left at the end of the output: an unterminated event, or nothing. */
  rest(): string {
    const r = this.buf;
    this.buf = '';
    return r;
  }
}

/**
 * The events of one .evtx file, one record at a time, as evtxexport writes them: the generator
 * reads evtxexport's output only as fast as the caller takes records. Throws InputError (naming
 * the file) when evtxexport is missing or fails, the output is not event XML, or there is no event
 * — after the records already yielded, so a caller that must not half-import stages them first.
 */
export async function* readEvtx(file: string, opts: EvtxOptions = {}): AsyncGenerator<EventRecord, number> {
  const program = evtxexportPath(opts);
  const child = spawn(program, ['-f', 'xml', file.startsWith('-') ? `./${file}` : file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const fail = (why: string) => new InputError(why, { file });
  const splitter = new EventBlockSplitter();
  let count = 0;
  let skipped = 0;
  let done = false;
  try {
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout as AsyncIterable<string>) {
      for (const block of splitter.push(chunk)) {
        let rec;
        try {
          rec = parseEvtxEvent(block);
        } catch (e) {
          if (e instanceof XmlError) throw fail(`evtxexport's record ${count + skipped + 1} is not event XML: ${e.message}`);
          throw e;
        }
        if (!rec) {
          skipped++;
          continue;
        }
        count++;
        yield rec;
      }
    }
    const { code, signal, error } = await exited;
    if (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw fail(`cannot read .evtx: ${program} (libyal's evtxexport) is not installed: ${EVTXEXPORT_INSTALL} (Debian/Ubuntu, as root), or set MAGPIE_EVTXEXPORT to it`);
      throw fail(`cannot run ${program}: ${error.message}`);
    }
    const said = [stderr.trim(), splitter.other.replace(/^evtxexport \d+\s*$/m, '').trim()].filter(Boolean).join('\n');
    if (code !== 0) throw fail(`not a readable .evtx: evtxexport ${signal ? `was killed (${signal})` : `exited with code ${code}`}: ${said || '(it said nothing)'}`);
    const rest = splitter.rest().trim();
    if (rest) throw fail(`not a readable .evtx: evtxexport's output ends inside an event: ${rest.slice(0, 200)}`);
    if (!count) throw fail(`not a readable .evtx: evtxexport found no events${said ? `: ${said}` : ''}`);
    if (skipped) opts.warnings?.push(`${file}: ${skipped} event(s) without an EventID or TimeCreated passed over`);
    done = true;
    return count;
  } finally {
    // The caller stopped early, or something failed: do not leave evtxexport running.
    if (!done && child.exitCode === null && child.signalCode === null) child.kill();
  }
}

/** Every event of an .evtx handed to onRecord in order (awaited: a slow sink slows evtxexport down); the count and warnings. */
export async function importEvtx(
  file: string,
  onRecord: (r: EventRecord) => void | Promise<void>,
  opts: EvtxOptions = {},
): Promise<{ kind: 'event'; count: number; warnings: string[] }> {
  const warnings: string[] = opts.warnings ?? [];
  let count = 0;
  for await (const r of readEvtx(file, { ...opts, warnings })) {
    await onRecord(r);
    count++;
  }
  return { kind: 'event', count, warnings };
}
