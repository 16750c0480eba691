// Microsoft Defender, as responders export it: Get-MpThreatDetection | ConvertTo-Json, Defender
// Operational event-log JSON (1116/1117/1119 detections, 5001 real-time protection off, 5007
// configuration changes that add exclusions), Get-MpComputerStatus and Get-MpPreference JSON.
import { InputError } from '../errors.ts';
import { decodeText, nonEmpty, toIso } from './text.ts';
import type { Importer } from './types.ts';

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

const resource = (r: string) => r.replace(/^(file|process|regkey|containerfile|behavior|amsi_script):_/i, '');

function fromEvent(e: Obj): Obj[] {
  const id = Number(e.Id ?? e.EventID ?? e.EventId);
  const time = toIso(e.TimeCreated ?? e.TimeGenerated);
  const msg = String(e.Message ?? '');
  const f = messageFields(msg);
  if (id === 1116 || id === 1117 || id === 1119 || id === 1006 || id === 1015) {
    return [{
      type: 'threat', source: 'defender-event', eventId: id, time,
      threatName: nonEmpty(f['Name']), severity: nonEmpty(f['Severity']), category: nonEmpty(f['Category']),
      action: id === 1116 ? 'detected' : id === 1117 ? nonEmpty(f['Action']) ?? 'action taken' : 'action failed',
      resources: (f['Path'] ?? '').split(';').map((p) => resource(p.trim())).filter(Boolean),
      processName: nonEmpty(f['Process Name']), user: nonEmpty(f['User']), detectionSource: nonEmpty(f['Detection Source']),
    }];
  }
  if (id === 5001) return [{ type: 'protection-disabled', source: 'defender-event', eventId: id, time, detail: 'Real-time protection is disabled' }];
  if (id === 5007) {
    const newValue = f['New value'] ?? '';
    if (/\\Exclusions\\/i.test(newValue)) {
      return [{ type: 'exclusion', source: 'defender-event', eventId: id, time, detail: newValue.replace(/\s*=\s*0x0$/, '') }];
    }
  }
  return [];
}

function fromDetection(d: Obj): Obj {
  const resources = (Array.isArray(d.Resources) ? d.Resources : [d.Resources]).filter(Boolean).map((r) => resource(String(r)));
  return {
    type: 'threat', source: 'Get-MpThreatDetection',
    time: toIso(d.InitialDetectionTime), detectionId: nonEmpty(d.DetectionID),
    threatName: nonEmpty(d.ThreatName) ?? `ThreatID ${d.ThreatID}`, threatId: d.ThreatID ?? null,
    action: d.ActionSuccess === true ? 'remediated' : d.ActionSuccess === false ? 'remediation failed' : null,
    resources, processName: nonEmpty(d.ProcessName), user: nonEmpty(d.DomainUser),
    remediationTime: toIso(d.RemediationTime),
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

export const importDefender: Importer = (buf, name) => {
  let doc: unknown;
  try {
    doc = JSON.parse(decodeText(buf));
  } catch (e) {
    throw new InputError(`not JSON (export with ConvertTo-Json): ${(e as Error).message}`, { file: name });
  }
  const items = (Array.isArray(doc) ? doc : [doc]) as Obj[];
  const records: Obj[] = [];
  const warnings: string[] = [];
  items.forEach((o, i) => {
    if (o && typeof o === 'object' && ('Id' in o || 'EventID' in o) && ('Message' in o || 'TimeCreated' in o)) {
      const r = fromEvent(o);
      if (!r.length) warnings.push(`${name}: item ${i + 1} is Defender event ${o.Id ?? o.EventID}, which does not become a record`);
      records.push(...r);
    } else if (o && typeof o === 'object' && ('DetectionID' in o || 'ThreatID' in o)) records.push(fromDetection(o));
    else if (o && typeof o === 'object' && 'RealTimeProtectionEnabled' in o) records.push(...fromStatus(o));
    else if (o && typeof o === 'object' && ('ExclusionPath' in o || 'DisableRealtimeMonitoring' in o)) records.push(...fromPreference(o));
    else warnings.push(`${name}: item ${i + 1} is not a Defender detection, event, status or preference; skipped`);
  });
  if (!records.length && items.length && warnings.length === items.length) throw new InputError('no Defender detections, events, status or preferences in this JSON', { file: name });
  return { kind: 'detection', records, warnings };
};
