// report.html: one self-contained file (inline CSS, no script, a CSP that forbids every fetch).
// Everything that came from a host is HTML-escaped: a process may be named <img onerror=…>.
import type { Finding, TriageResult } from './engine.ts';
import { levelRank } from './engine.ts';
import { LEVELS, type Level } from './rule-def.ts';
import type { RecordRef } from '../records/reader.ts';
import { imagesOf, prioritise, type FindingGroup } from './prioritise.ts';

export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9;overflow-wrap:anywhere}
header{background:#1d232a;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}header div{color:#d5dae0;font-size:13px}
main{padding:16px 24px;max-width:1280px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px;margin:0 0 16px;min-width:0}
h2{font-size:16px;margin:0 0 8px}h3{font-size:15px;margin:0;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
#host table{table-layout:fixed}#host th{width:230px}#steps td:nth-child(2),#steps td:nth-child(6){word-break:break-word}
.lvl{display:inline-block;min-width:84px;padding:1px 6px;border-radius:4px;color:#fff;font-weight:600;text-transform:uppercase;font-size:11px;line-height:18px;text-align:center;vertical-align:1px}
.lvl.critical{background:#7a0019}.lvl.high{background:#b71c1c}.lvl.medium{background:#a84300}.lvl.low{background:#2e6b30}.lvl.informational{background:#4f5b66}
#summary table td{white-space:nowrap}
pre{background:#f3f4f6;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:4px 0;font-size:12px;max-height:420px;overflow-y:auto}
code,.path{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.finding{border-left:4px solid #b71c1c;padding:6px 12px;margin:10px 0;background:#fff}.finding.medium{border-color:#a84300}.finding.low{border-color:#2e6b30}.finding.informational{border-color:#4f5b66}.finding.critical{border-color:#7a0019}
.finding p{margin:4px 0}.finding p code{display:inline-block;max-width:100%}.finding .thing{font-size:15px}.finding .where{display:block;color:#3d4650;margin:2px 0 0 92px}
.count{display:inline-block;background:#1d232a;color:#fff;border-radius:10px;padding:0 7px;font-size:12px;font-weight:600;margin-left:4px}
.corr{display:inline-block;background:#fff3e0;color:#6d2c00;border:1px solid #f0c89a;border-radius:4px;padding:0 6px;font-size:12px;margin-left:4px}
.corr.ioc{background:#ffebee;color:#7a0019;border-color:#f3b6bf}
details{margin:4px 0}summary{cursor:pointer;color:#3d4650;font-size:13px}
#act{border:2px solid #b71c1c}#act ol{margin:0;padding-left:24px}#act li{margin:3px 0}
#act .row{display:flex;align-items:center;gap:8px;min-width:0}#act .lvl{flex:none}#act .thing{flex:0 1 auto;max-width:32%;font-weight:600;color:#1d232a;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#act .why{flex:1 1 0;min-width:0;color:#3d4650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}#act .more{flex:none;color:#6d2c00;font-size:12px}#act .at{flex:none;white-space:nowrap;word-break:normal;color:#5c6670}
.tree ul{list-style:none;margin:0;padding-left:18px;border-left:1px dotted #c4c9d0}.tree li{margin:1px 0}.flag{background:#ffebee;color:#7a0019;font-weight:600}
.muted{color:#5c6670}.ok{color:#2e6b30}.bad{color:#b71c1c}`;

function summary(findings: Finding[]): string {
  const counts = new Map<Level, number>();
  for (const f of findings) counts.set(f.rule.level, (counts.get(f.rule.level) ?? 0) + 1);
  const cells = [...LEVELS].reverse().map((l) => `<td><span class="lvl ${l}">${l}</span> ${counts.get(l) ?? 0}</td>`).join('');
  return `<section id="summary"><h2>Summary</h2><table><tr>${cells}</tr></table></section>`;
}

/** What makes a group rank above others of its level, in words. */
function corroborationHtml(g: FindingGroup): string {
  const parts: string[] = [];
  if (g.findings.length > 1) parts.push(`<span class="count" title="identical findings">×${g.findings.length}</span>`);
  if (g.ioc && g.first.rule.source !== 'ioc') parts.push('<span class="corr ioc">IOC hit</span>');
  if (g.virustotal && g.first.rule.source !== 'virustotal') parts.push('<span class="corr ioc">VirusTotal verdict</span>');
  const rules = g.alsoFlaggedBy.filter((t) => t !== 'IOC list' && t !== 'VirusTotal');
  if (rules.length) parts.push(`<span class="corr" title="${escapeHtml(rules.join('; '))}">also flagged by ${rules.length} other rule${rules.length > 1 ? 's' : ''}</span>`);
  return parts.join(' ');
}

const loc = (f: Finding) => `${f.location.file}:${f.location.line}`;

/** One line of the "act on these first" list: level, the thing, why, where. */
function actItem(e: ActEntry): string {
  const g = e.groups[0];
  const findings = e.groups.reduce((n, x) => n + x.findings.length, 0);
  const others = [...new Set(e.groups.slice(1).map((x) => (x.first.rule.source === 'ioc' ? 'IOC list' : x.first.rule.title.replace(/ \(\d+ distinct [^)]*\)$/, ''))))];
  const extra = [...new Set([...others, ...g.alsoFlaggedBy])].filter((t) => t !== g.first.rule.title);
  const more = extra.length ? `+ ${extra.length} more rule${extra.length > 1 ? 's' : ''}` : '';
  const full = [g.first.rule.title, ...extra].join('; ');
  const where = `${loc(g.first)}${findings > 1 ? ` (+${findings - 1})` : ''}`;
  return `<li><div class="row"><span class="lvl ${g.level}">${g.level}</span><a class="thing" href="#${escapeHtml(g.first.id)}" title="${escapeHtml(g.subject.detail)}">${escapeHtml(g.subject.name)}</a><span class="why" title="${escapeHtml(full)}">${escapeHtml(g.first.rule.title)}</span>${more ? `<span class="more">${more}</span>` : ''}<code class="at">${escapeHtml(where)}</code></div></li>`;
}

interface ActEntry {
  groups: FindingGroup[];
  images: Set<string>;
}

/** The top few things to act on: items that share an image or thing with a listed one join it. */
function actFirst(groups: FindingGroup[]): string {
  const entries: ActEntry[] = [];
  for (const g of groups) {
    if (levelRank(g.level) < levelRank('medium')) break;
    const images = new Set([`subject:${g.subject.key}`, ...g.findings.flatMap(imagesOf)]);
    const same = entries.find((e) => [...images].some((i) => e.images.has(i)));
    if (same) {
      same.groups.push(g);
      continue;
    }
    if (entries.length >= ACT_FIRST) continue;
    entries.push({ groups: [g], images });
  }
  if (!entries.length) return '';
  return `<section id="act"><h2>Act on these first</h2><ol>${entries.map(actItem).join('')}</ol></section>`;
}

function groupHtml(g: FindingGroup): string {
  const f = g.first;
  const group = f.group
    ? `<p>${f.group.count} records, ${f.group.distinct} distinct values by ${escapeHtml(JSON.stringify(f.group.by))}: ${f.group.values.slice(0, 20).map(escapeHtml).join(', ')}${f.group.distinct > 20 ? ', …' : ''}</p>
  <p class="muted">records at ${f.group.locations.slice(0, 10).map((l) => `<code>${escapeHtml(l.file)}:${l.line}</code>`).join(', ')}${f.group.count > 10 ? ', …' : ''}</p>`
    : '';
  const shown = g.findings.slice(0, LOCATIONS);
  const locations = shown.map((x) => `<code>${escapeHtml(loc(x))}</code>${x.kind === 'process' && x.record.pid !== undefined ? ` (pid ${escapeHtml(x.record.pid)})` : ''}`).join(', ');
  const more = g.findings.length > LOCATIONS ? `, and ${g.findings.length - LOCATIONS} more` : '';
  // Every finding id keeps an anchor (the process tree links to them).
  const anchors = g.findings.slice(1).map((x) => `<span id="${escapeHtml(x.id)}"></span>`).join('');
  const also = g.alsoFlaggedBy.length ? `<p class="muted">Also flagged: ${g.alsoFlaggedBy.map(escapeHtml).join('; ')}</p>` : '';
  // A connection whose process is flagged links to that process's findings.
  const related = [...new Map(g.findings.flatMap((x) => x.relatedTo ?? []).map((r) => [r.id, r])).values()];
  const owner = related.length ? `<p class="related">Its process is flagged: ${related.slice(0, 10).map((r) => `<a href="#${escapeHtml(r.id)}">${escapeHtml(r.id)}</a> ${escapeHtml(r.title)} (${escapeHtml(r.level)})`).join('; ')}</p>` : '';
  return `<div class="finding ${g.level}" id="${escapeHtml(f.id)}">${anchors}
  <h3><span class="lvl ${g.level}">${g.level}</span> <span class="thing">${escapeHtml(g.subject.name)}</span> ${corroborationHtml(g)}${g.subject.detail ? `<span class="where path">${escapeHtml(g.subject.detail)}</span>` : ''}</h3>
  <p><strong>${escapeHtml(f.rule.title)}</strong> <span class="muted">${g.findings.map((x) => escapeHtml(x.id)).slice(0, LOCATIONS).join(' ')} · ${escapeHtml(f.rule.id)}${f.rule.tags.length ? ` · ${f.rule.tags.map(escapeHtml).join(' ')}` : ''}</span></p>
  <p>${escapeHtml(f.rule.description)}</p>
  ${sigmaAttribution(f)}${also}${owner}${group}
  <p class="muted">${g.findings.length > 1 ? `${g.findings.length} times, at ` : 'evidence: '}${locations}${more} (${escapeHtml(f.kind)})</p>
  <details><summary>record</summary><pre>${escapeHtml(JSON.stringify(f.record, null, 2))}</pre></details>
</div>`;
}

/** A community rule's attribution, as its licence asks (SigmaHQ: the Detection Rule License). */
function sigmaAttribution(f: Finding): string {
  if (f.rule.source !== 'sigma') return '';
  const refs = (f.rule.references ?? []).slice(0, 5).map((r) => `<code>${escapeHtml(r)}</code>`).join(' ');
  const fps = (f.rule.falsepositives ?? []).map(escapeHtml).join('; ');
  return `<p class="muted">Sigma rule by ${escapeHtml(f.rule.author ?? 'unknown author')}${f.rule.license ? `, licence ${escapeHtml(f.rule.license)}` : ''}${fps ? ` · false positives: ${fps}` : ''}${refs ? ` · references: ${refs}` : ''}</p>
  `;
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

/** A report a person reads: at most this many items of one rule, tree nodes, locations per item, act-first items. */
const PER_RULE = 100;
const TREE_NODES = 5000;
const LOCATIONS = 12;
export const ACT_FIRST = 5;

export function renderReport(r: TriageResult, meta: { generated: string; tool: string; evidenceDir: string }): string {
  const groups = prioritise(r.findings);
  const perRule = new Map<string, number>();
  const shown = groups.filter((g) => {
    const n = (perRule.get(g.first.rule.id) ?? 0) + 1;
    perRule.set(g.first.rule.id, n);
    return n <= PER_RULE;
  });
  const cut = [...perRule].filter(([, n]) => n > PER_RULE).map(([id, n]) => `${escapeHtml(id)}: ${n - PER_RULE} more`);
  const problems = r.problems.length ? `<section id="problems"><h2>Records that could not be read</h2><pre>${escapeHtml(r.problems.slice(0, 200).join('\n'))}${r.problems.length > 200 ? `\n… ${r.problems.length - 200} more` : ''}</pre></section>` : '';
  const n = r.findings.length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<title>Magpie triage — ${escapeHtml(r.host)}</title><style>${CSS}</style></head>
<body><header><h1>Magpie triage — ${escapeHtml(r.host)}</h1><div>${escapeHtml(r.manifest.case)} · generated ${escapeHtml(meta.generated)} by ${escapeHtml(meta.tool)} · evidence <span class="path">${escapeHtml(meta.evidenceDir)}</span></div></header>
<main>
${actFirst(shown)}
${summary(r.findings)}
<section id="findings"><h2>Findings (${n}${shown.length !== n ? `, in ${shown.length} item${shown.length > 1 ? 's' : ''}` : ''})</h2>${n ? '<p class="muted">Most urgent first: level, then corroboration (other rules on the same image, an IOC hit, a VirusTotal verdict); identical findings (same rule, same thing) are one item with a count.</p>' : ''}${shown.length ? shown.map(groupHtml).join('\n') : '<p>No rule matched.</p>'}${cut.length ? `<p class="muted">Not shown here (all are in findings.json): ${cut.join('; ')}</p>` : ''}</section>
${hostFacts(r)}
${steps(r)}
${tree(r)}
${problems}
</main></body></html>
`;
}
