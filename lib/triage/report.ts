// report.html: one self-contained file (inline CSS, no script, a CSP that forbids every fetch).
// Everything that came from a host is HTML-escaped: a process may be named <img onerror=…>.
import type { Finding, TriageResult } from './engine.ts';
import { levelRank } from './engine.ts';
import { LEVELS, type Level } from './rule-def.ts';
import type { RecordRef } from '../records/reader.ts';

export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:1200px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 8px}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
.lvl{display:inline-block;min-width:84px;padding:1px 6px;border-radius:4px;color:#fff;font-weight:600;text-transform:uppercase;font-size:11px;text-align:center}
.lvl.critical{background:#7a0019}.lvl.high{background:#c62828}.lvl.medium{background:#ef6c00}.lvl.low{background:#2e7d32}.lvl.informational{background:#546e7a}
pre{background:#f3f4f6;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:4px 0;font-size:12px}
.finding{border-left:4px solid #c62828;padding:4px 12px;margin:8px 0}.finding.medium{border-color:#ef6c00}.finding.low,.finding.informational{border-color:#546e7a}.finding.critical{border-color:#7a0019}
.tree ul{list-style:none;margin:0;padding-left:18px;border-left:1px dotted #c4c9d0}.tree li{margin:1px 0}.flag{background:#ffebee;color:#7a0019;font-weight:600}
.muted{color:#66707a}.ok{color:#2e7d32}.bad{color:#c62828}code{font-size:12px}`;

function summary(findings: Finding[]): string {
  const counts = new Map<Level, number>();
  for (const f of findings) counts.set(f.rule.level, (counts.get(f.rule.level) ?? 0) + 1);
  const cells = [...LEVELS].reverse().map((l) => `<td><span class="lvl ${l}">${l}</span> ${counts.get(l) ?? 0}</td>`).join('');
  return `<section id="summary"><h2>Summary</h2><table><tr>${cells}</tr></table></section>`;
}

function findingHtml(f: Finding): string {
  const group = f.group
    ? `<p>${f.group.count} records, ${f.group.distinct} distinct values by ${escapeHtml(JSON.stringify(f.group.by))}: ${f.group.values.slice(0, 20).map(escapeHtml).join(', ')}${f.group.distinct > 20 ? ', …' : ''}</p>
       <p class="muted">records at ${f.group.locations.slice(0, 10).map((l) => `${escapeHtml(l.file)}:${l.line}`).join(', ')}${f.group.count > 10 ? ', …' : ''}</p>`
    : '';
  return `<div class="finding ${f.rule.level}" id="${escapeHtml(f.id)}">
  <p><span class="lvl ${f.rule.level}">${f.rule.level}</span> <strong>${escapeHtml(f.rule.title)}</strong> <span class="muted">${escapeHtml(f.id)} · ${escapeHtml(f.rule.id)} · ${f.rule.tags.map(escapeHtml).join(' ')}</span></p>
  <p>${escapeHtml(f.rule.description)}</p>
  ${group}
  <p class="muted">evidence: <code>${escapeHtml(f.location.file)}:${f.location.line}</code> (${escapeHtml(f.kind)})</p>
  <pre>${escapeHtml(JSON.stringify(f.record, null, 2))}</pre>
</div>`;
}

function hostFacts(r: TriageResult): string {
  const h = r.hostRecord ?? {};
  const t = r.manifest.target;
  const rows: [string, unknown][] = [
    ['hostname', h.hostname ?? t.hostname ?? t.name],
    ['fqdn', h.fqdn],
    ['OS', [h.osName ?? t.os, h.osVersion, h.build].filter(Boolean).join(' ')],
    ['boot time (UTC)', h.bootTime],
    ['host clock at collection (UTC)', h.clockUtc],
    ['time zone', h.timezone],
    ['collected as', `${t.user ?? ''}${t.admin ? ' (administrator)' : ''}`],
    ['transport', t.transport],
    ['case', r.manifest.case],
    ['playbook', `${r.manifest.playbook.name} (${r.manifest.playbook.sha256.slice(0, 12)}…)`],
    ['collection', `${r.manifest.started} → ${r.manifest.ended ?? '…'} (${r.manifest.state})`],
    ['clock skew (ms)', r.manifest.clockSkewMs],
    ['operator', `${r.manifest.operator} on ${r.manifest.workstation.hostname}`],
  ];
  return `<section id="host"><h2>Host</h2><table>${rows.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table></section>`;
}

function steps(r: TriageResult): string {
  const rows = r.manifest.steps
    .map((s) => `<tr><td>${s.index}</td><td>${escapeHtml(s.id)}</td><td class="${s.status === 'ok' ? 'ok' : 'bad'}">${s.status}${s.partial ? ' (partial)' : ''}</td><td>${s.records}</td><td>${s.durationMs} ms</td><td>${escapeHtml(s.reason ?? '')}</td></tr>`)
    .join('');
  return `<section id="steps"><h2>Collection steps</h2><table><tr><th>#</th><th>step</th><th>status</th><th>records</th><th>time</th><th>note</th></tr>${rows}</table></section>`;
}

/** Process tree: roots are processes whose parent is not in the table (or is a reused PID). */
function tree(r: TriageResult): string {
  const flags = new Map<RecordRef['record'], Finding[]>();
  for (const f of r.findings) {
    if (f.kind !== 'process') continue;
    const list = flags.get(f.record);
    if (list) list.push(f);
    else flags.set(f.record, [f]);
  }
  const byPid = new Map(r.processes.map((p) => [p.record.pid as number, p]));
  const children = new Map<number, RecordRef[]>();
  const roots: RecordRef[] = [];
  for (const p of r.processes) {
    const ppid = p.record.ppid as number | null | undefined;
    const parent = typeof ppid === 'number' && ppid !== p.record.pid ? byPid.get(ppid) : undefined;
    if (parent && p.record.parentName !== undefined) {
      const list = children.get(ppid!);
      if (list) list.push(p);
      else children.set(ppid!, [p]);
    } else roots.push(p);
  }
  const seen = new Set<number>();
  const node = (p: RecordRef, depth: number): string => {
    const pid = p.record.pid as number;
    if (seen.has(pid) || depth > 64 || seen.size >= TREE_NODES) return '';
    seen.add(pid);
    const fs = flags.get(p.record) ?? [];
    const label = `${escapeHtml(p.record.name)} <span class="muted">pid ${pid}${p.record.user ? ` · ${escapeHtml(p.record.user)}` : ''}${p.record.path ? ` · ${escapeHtml(p.record.path)}` : ''}</span>`;
    const flagged = fs.length ? `<span class="flag" title="${escapeHtml(fs.map((f) => f.rule.title).join('; '))}">${label} ⚑ ${fs.map((f) => `<a href="#${escapeHtml(f.id)}">${escapeHtml(f.id)}</a>`).join(' ')}</span>` : label;
    const kids = (children.get(pid) ?? []).map((c) => node(c, depth + 1)).join('');
    return `<li>${flagged}${kids ? `<ul>${kids}</ul>` : ''}</li>`;
  };
  const items = roots.map((p) => node(p, 0)).join('');
  const more = r.processes.length > seen.size ? `<p class="muted">${r.processes.length - seen.size} more processes are in the records.</p>` : '';
  return `<section id="tree" class="tree"><h2>Process tree</h2><ul>${items}</ul>${more}</section>`;
}

/** A report a person reads: at most this many findings of one rule, and this many tree nodes. */
const PER_RULE = 100;
const TREE_NODES = 5000;

export function renderReport(r: TriageResult, meta: { generated: string; tool: string; evidenceDir: string }): string {
  const all = [...r.findings].sort((a, b) => levelRank(b.rule.level) - levelRank(a.rule.level));
  const perRule = new Map<string, number>();
  const findings = all.filter((f) => {
    const n = (perRule.get(f.rule.id) ?? 0) + 1;
    perRule.set(f.rule.id, n);
    return n <= PER_RULE;
  });
  const cut = [...perRule].filter(([, n]) => n > PER_RULE).map(([id, n]) => `${escapeHtml(id)}: ${n - PER_RULE} more`);
  const problems = r.problems.length ? `<section id="problems"><h2>Records that could not be read</h2><pre>${escapeHtml(r.problems.slice(0, 200).join('\n'))}${r.problems.length > 200 ? `\n… ${r.problems.length - 200} more` : ''}</pre></section>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<title>Magpie triage — ${escapeHtml(r.host)}</title><style>${CSS}</style></head>
<body><header><h1>Magpie triage — ${escapeHtml(r.host)}</h1><div>${escapeHtml(r.manifest.case)} · generated ${escapeHtml(meta.generated)} by ${escapeHtml(meta.tool)} · evidence ${escapeHtml(meta.evidenceDir)}</div></header>
<main>
${summary(findings)}
<section id="findings"><h2>Findings (${all.length})</h2>${findings.length ? findings.map(findingHtml).join('\n') : '<p>No rule matched.</p>'}${cut.length ? `<p class="muted">Not shown here (all are in findings.json): ${cut.join('; ')}</p>` : ''}</section>
${hostFacts(r)}
${steps(r)}
${tree(r)}
${problems}
</main></body></html>
`;
}
