// Microsoft Defender, as responders export it:
// - Get-MpThreatDetection | ConvertTo-Json, Get-MpComputerStatus and Get-MpPreference JSON;
// - Defender Operational events, from Get-WinEvent | ConvertTo-Json (Id, TimeCreated, Message),
//   from evtx parsers' JSON (evtx_dump, python-evtx, Velociraptor: Event.System.EventID,
//   Event.EventData as named fields or as a Data list; JSON, JSONL, or evtx_dump's "Record N"
//   form), and from `wevtutil qe … /f:xml` (<Event> elements one after another).
// Events that become records: detections (1006/1007/1008/1015/1116/1117/1118/1119), protection
// turned off or failing (5001, 5010, 5012, 3002, 5008, and 5007 changes that set a Disable* value
// to 1), exclusions added (5007). Every other event is counted in one warning, by id.
import { InputError } from '../errors.ts';
import { DateReader } from './dates.ts';
import { decodeText, jsonItems, nonEmpty } from './text.ts';
import type { Importer } from './types.ts';
import { childByLocalName as child, parseXmlRoots as parseXml, type XmlElement } from '../xml.ts';

type Obj = Record<string, unknown>;

/** "Name: Trojan:Win32/X\n Severity: Severe" → { Name: …, Severity: … } (first colon splits). */
function messageFields(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of message.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z][A-Za-z ]{1,40}):\s*(.*)$/.exec(line);
    if (m && !(m[1].trim() in out)) out[m[1].trim()] = m[2].trim();
  }
  return out;
}

const resource = (r: string) => r.replace(/^(file|process|regkey|containerfile|behavior|amsi_script|webfile):_/i, '');

/** One Defender event, whatever it was exported as: its id, raw time, and named fields. */
interface DefenderEvent {
  id: number;
  time: unknown;
  /** EventData names ("Threat Name") and rendered-message names ("Name") alike. */
  fields: Record<string, string>;
}

const THREAT = new Set([1006, 1007, 1008, 1015, 1116, 1117, 1118, 1119]);
const DISABLED: Record<number, string> = {
  5001: 'Real-time protection is disabled',
  5010: 'Scanning for malware and other potentially unwanted software is disabled',
  5012: 'Scanning for viruses is disabled',
  3002: 'Real-time protection encountered an error and failed',
  5008: 'The antimalware engine terminated unexpectedly',
};
const DISABLING_SETTING = /\\(DisableRealtimeMonitoring|DisableAntiSpyware|DisableAntiVirus|DisableBehaviorMonitoring|DisableIOAVProtection|DisableOnAccessProtection|DisableScanOnRealtimeEnable|DisableBlockAtFirstSeen|DisableScriptScanning)\s*=\s*0x1\b/i;

function fromEvent(e: DefenderEvent, time: string | null): Obj[] {
  const { id, fields } = e;
  const f = (...keys: string[]) => {
    for (const k of keys) {
      const v = nonEmpty(fields[k]);
      if (v !== null) return v;
    }
    return null;
  };
  if (THREAT.has(id)) {
    const action = id === 1116 || id === 1006 || id === 1015 ? 'detected' : id === 1117 || id === 1007 ? (f('Action Name', 'Action') ?? 'action taken') : 'action failed';
    return [{
      type: 'threat', source: 'defender-event', eventId: id, time,
      threatName: f('Threat Name', 'Name'), severity: f('Severity Name', 'Severity'), category: f('Category Name', 'Category'),
      action,
      resources: (f('Path') ?? '').split(';').map((p) => resource(p.trim())).filter(Boolean),
      processName: f('Process Name'), user: f('Detection User', 'User'), detectionSource: f('Source Name', 'Detection Source'),
    }];
  }
  if (id in DISABLED) return [{ type: 'protection-disabled', source: 'defender-event', eventId: id, time, detail: DISABLED[id] }];
  if (id === 5007) {
    const newValue = f('New Value', 'New value') ?? '';
    if (/\\Exclusions\\/i.test(newValue)) {
      return [{ type: 'exclusion', source: 'defender-event', eventId: id, time, detail: newValue.replace(/\s*=\s*0x0$/, '') }];
    }
    if (DISABLING_SETTING.test(newValue)) return [{ type: 'protection-disabled', source: 'defender-event', eventId: id, time, detail: newValue }];
  }
  return [];
}

function fromDetection(d: Obj, dates: DateReader, i: number): Obj {
  const resources = (Array.isArray(d.Resources) ? d.Resources : [d.Resources]).filter(Boolean).map((r) => resource(String(r)));
  return {
    type: 'threat', source: 'Get-MpThreatDetection',
    time: dates.iso(d.InitialDetectionTime, `item ${i + 1} InitialDetectionTime`), detectionId: nonEmpty(d.DetectionID),
    threatName: nonEmpty(d.ThreatName) ?? `ThreatID ${d.ThreatID}`, threatId: d.ThreatID ?? null,
    action: d.ActionSuccess === true ? 'remediated' : d.ActionSuccess === false ? 'remediation failed' : null,
    resources, processName: nonEmpty(d.ProcessName), user: nonEmpty(d.DomainUser),
    remediationTime: dates.iso(d.RemediationTime, `item ${i + 1} RemediationTime`),
  };
}

function fromStatus(s: Obj): Obj[] {
  const out: Obj[] = [];
  for (const key of ['RealTimeProtectionEnabled', 'AntivirusEnabled', 'BehaviorMonitorEnabled', 'IoavProtectionEnabled', 'OnAccessProtectionEnabled']) {
    if (s[key] === false) out.push({ type: 'protection-disabled', source: 'Get-MpComputerStatus', detail: `${key} is false` });
  }
  out.push({ type: 'status', source: 'Get-MpComputerStatus', engineVersion: nonEmpty(s.AMEngineVersion), signatureVersion: nonEmpty(s.AntivirusSignatureVersion), signatureAge: s.AntivirusSignatureAge ?? null, realTimeProtection: s.RealTimeProtectionEnabled ?? null });
  return out;
}

function fromPreference(p: Obj): Obj[] {
  const out: Obj[] = [];
  for (const key of ['ExclusionPath', 'ExclusionExtension', 'ExclusionProcess', 'ExclusionIpAddress']) {
    for (const v of (Array.isArray(p[key]) ? p[key] : [p[key]]) as unknown[]) {
      if (nonEmpty(v)) out.push({ type: 'exclusion', source: 'Get-MpPreference', exclusionType: key, detail: String(v) });
    }
  }
  if (p.DisableRealtimeMonitoring === true) out.push({ type: 'protection-disabled', source: 'Get-MpPreference', detail: 'DisableRealtimeMonitoring is true' });
  return out;
}

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
/** A value as evtx parsers write it: plain, {"#text": v}, {"Value": v}, {"#attributes": …, "#text": v}. */
const textOf = (v: unknown): unknown => (isObj(v) ? (v['#text'] ?? v.Value ?? v.value ?? v['$'] ?? null) : v);

/** Get-WinEvent | ConvertTo-Json: Id, TimeCreated, Message (rendered). */
function fromWinEvent(o: Obj): DefenderEvent {
  return { id: Number(o.Id ?? o.EventID ?? o.EventId), time: o.TimeCreated ?? o.TimeGenerated, fields: messageFields(String(o.Message ?? '')) };
}

/** evtx parsers: { Event: { System: { EventID, TimeCreated: { #attributes: { SystemTime } } }, EventData } }, or the inner object. */
function fromEvtxJson(o: Obj): DefenderEvent | null {
  const ev = isObj(o.Event) ? o.Event : o;
  const sys = ev.System;
  if (!isObj(sys) || !('EventID' in sys)) return null;
  const tc = sys.TimeCreated;
  const attrs = isObj(tc) ? (isObj(tc['#attributes']) ? tc['#attributes'] : tc) : {};
  const time = isObj(tc) ? (attrs.SystemTime ?? attrs['@SystemTime'] ?? null) : tc;
  const fields: Record<string, string> = {};
  const data = ev.EventData;
  if (isObj(data)) {
    const list = data.Data;
    if (Array.isArray(list)) {
      // python-evtx / xmltodict: [{"@Name": "Threat Name", "#text": "…"}]
      for (const d of list) if (isObj(d)) fields[String(d['@Name'] ?? d.Name ?? (isObj(d['#attributes']) ? d['#attributes'].Name : ''))] = String(textOf(d) ?? '');
    } else {
      for (const [k, v] of Object.entries(data)) if (k !== '#attributes') fields[k] = v === null || v === undefined ? '' : String(textOf(v) ?? '');
    }
  }
  const rendered = isObj(ev.RenderingInfo) ? ev.RenderingInfo.Message : ev.Message;
  if (typeof rendered === 'string') for (const [k, v] of Object.entries(messageFields(rendered))) fields[k] ??= v;
  return { id: Number(textOf(sys.EventID)), time, fields };
}

/** wevtutil qe … /f:xml (or /f:RenderedXml): one <Event> after another. */
function fromWevtutil(doc: XmlElement): DefenderEvent[] {
  const events = doc.children.filter((c) => c.name === 'Event');
  const out: DefenderEvent[] = [];
  for (const ev of events) {
    const sys = child(ev, 'System');
    const fields: Record<string, string> = {};
    for (const d of child(ev, 'EventData')?.children ?? []) if (d.name === 'Data' && d.attrs.Name) fields[d.attrs.Name] = d.text.trim();
    const msg = child(child(ev, 'RenderingInfo'), 'Message')?.text;
    if (msg) for (const [k, v] of Object.entries(messageFields(msg))) fields[k] ??= v;
    out.push({ id: Number(child(sys, 'EventID')?.text.trim()), time: child(sys, 'TimeCreated')?.attrs.SystemTime ?? null, fields });
  }
  return out;
}

export const importDefender: Importer = (buf, name, opts = {}) => {
  const text = decodeText(buf);
  const records: Obj[] = [];
  const warnings: string[] = [];
  const skipped = new Map<number, number>();
  let events: DefenderEvent[] = [];
  const others: Obj[] = [];
  let unknown: number[] = [];
  let total = 0;

  if (text.trimStart().startsWith('<')) {
    let doc: XmlElement;
    try {
      doc = parseXml(text);
    } catch (e) {
      throw new InputError(`not wevtutil XML: ${(e as Error).message}`, { file: name });
    }
    events = fromWevtutil(doc);
    if (!events.length) throw new InputError('not wevtutil XML: no <Event> elements (wevtutil qe "Microsoft-Windows-Windows Defender/Operational" /f:xml)', { file: name });
  } else {
    let items: unknown[];
    try {
      items = jsonItems(text);
    } catch (e) {
      throw new InputError(`not JSON (export with ConvertTo-Json, or an evtx parser's JSON) nor wevtutil XML: ${(e as Error).message}`, { file: name });
    }
    total = items.length;
    items.forEach((o, i) => {
      if (!isObj(o)) return unknown.push(i + 1);
      const evtx = fromEvtxJson(o);
      if (evtx) events.push(evtx);
      else if (('Id' in o || 'EventID' in o) && ('Message' in o || 'TimeCreated' in o)) events.push(fromWinEvent(o));
      else others.push(Object.assign(o, { ['#item']: i }));
    });
  }

  const dates = new DateReader(name, opts.dateOrder).decide([...events.map((e) => e.time), ...others.flatMap((o) => [o.InitialDetectionTime, o.RemediationTime])]);
  for (const e of events) {
    const r = fromEvent(e, dates.iso(e.time, `event ${e.id}`));
    if (!r.length) skipped.set(e.id, (skipped.get(e.id) ?? 0) + 1);
    records.push(...r);
  }
  for (const o of others) {
    const i = o['#item'] as number;
    delete o['#item'];
    if ('DetectionID' in o || 'ThreatID' in o) records.push(fromDetection(o, dates, i));
    else if ('RealTimeProtectionEnabled' in o) records.push(...fromStatus(o));
    else if ('ExclusionPath' in o || 'DisableRealtimeMonitoring' in o) records.push(...fromPreference(o));
    else unknown.push(i + 1);
  }
  unknown = unknown.sort((a, b) => a - b);
  if (skipped.size) {
    const n = [...skipped.values()].reduce((a, b) => a + b, 0);
    const ids = [...skipped].sort(([a], [b]) => a - b).map(([id, c]) => (c > 1 ? `${id} ×${c}` : String(id))).join(', ');
    warnings.push(`${name}: ${n} Defender event${n === 1 ? ' does' : 's do'} not become a record (health reports, updates, settings other than exclusions or protection turned off): ${ids}`);
  }
  if (unknown.length) warnings.push(`${name}: ${unknown.length} item${unknown.length === 1 ? ' is' : 's are'} not a Defender detection, event, status or preference, skipped (item ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''})`);
  warnings.push(...dates.warnings());
  if (!records.length && !events.length && unknown.length === total) throw new InputError('no Defender detections, events, status or preferences in this file', { file: name });
  return { kind: 'detection', records, warnings };
};
