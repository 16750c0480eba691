// Loads rule files (built-in playbooks/rules/ and teams' folders) and compiles them.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { gatherInputErrors, InputError, InputErrors } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import { BUILTIN_DIR } from '../paths.ts';
import { parseYaml, validateYaml } from '../yaml-file.ts';
import { loadSigmaFile, resolveCorrelations, type SigmaLoad } from '../sigma/load.ts';
import { loadPipeline, type Pipeline } from '../sigma/pipeline.ts';
import { compileCondition, compileSelection, getField, RuleSyntaxError, type FieldAccess, type Predicate, type Rec } from './matcher.ts';
import type { Atom } from '../sigma/prefilter.ts';
import type { Correlation } from '../sigma/correlation.ts';
import { AllowlistDef, RuleDef } from './rule-def.ts';
import { RECORD_KINDS, type RecordKind } from '../definitions.ts';

export const BUILTIN_RULES = join(BUILTIN_DIR, 'rules');

export interface CompiledRule {
  def: RuleDef;
  file: string;
  sha256: string;
  match: Predicate;
  /** Set for a team allowlist (listed with the rules, hash and all, but never run as a rule). */
  allow?: AllowlistDef['allowlist'] & { title: string };
  /** A Sigma rule: one predicate per record kind its logsource maps to (lib/sigma/pipeline.ts). */
  targets?: Partial<Record<RecordKind, Predicate>>;
  /** A Sigma rule's event predicates by `channel#eventId` (lib/sigma/pipeline.ts eventKey), for the engine's index. */
  eventIndex?: { key: string; match: Predicate; bind: (field: string) => FieldAccess }[];
  /** Texts one of which every match has in its field (lib/sigma/prefilter.ts), for the rule index. */
  indexAtoms?: Atom[];
  /** How the rule reads each record kind's fields (shared by the rules of one mapping). */
  binders?: Partial<Record<RecordKind, (field: string) => FieldAccess>>;
  /** Runs only on hosts of this OS (a Sigma rule's logsource product). */
  os?: 'windows' | 'linux';
  sigma?: { license: string | null; logsource: string; notMapped?: string[]; name?: string };
  /** A Sigma correlation: judged over its base rules' matches when triage ends (lib/sigma/correlation.ts). */
  sigmaCorrelation?: Correlation;
  /** The correlations this rule's matches feed; `hidden`: it makes no finding of its own (Sigma's generate: false). */
  feeds?: CompiledRule[];
  hidden?: boolean;
}

/** An allowlist pattern: `*` and `?` are always wildcards (Windows paths cannot hold them), `\\` is a plain backslash. */
function globRe(glob: string): RegExp {
  const out = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${out}$`, 'i');
}

/** An allowlist file as a rule-list member: kept (file, hash) with the rules, used to suppress findings. */
export function compileAllowlist(def: AllowlistDef, file: string, text: string): CompiledRule {
  const rd: RuleDef = {
    title: def.title,
    id: def.id,
    status: 'stable',
    description: def.description,
    author: def.author,
    references: [],
    tags: ['allowlist'],
    level: 'informational',
    logsource: { category: 'autorun' },
    detection: { condition: 'allowlist' },
    falsepositives: [],
  };
  return { def: rd, file, sha256: sha256Text(text), match: () => false, allow: { ...def.allowlist, title: def.title } };
}

/** The first allowlist entry that covers this rule's finding on this record, if any. */
export function allowedBy(lists: CompiledRule[], ruleId: string, r: Rec): { list: string; entry: string } | undefined {
  const paths = [r.path, r.imagePath, ...((getField(r, 'facts.targets') as unknown[]) ?? [])].filter((v): v is string => typeof v === 'string' && v !== '');
  const hashes = [r.sha256, r.sha1, r.md5].filter((v): v is string => typeof v === 'string').map((h) => h.toLowerCase());
  const publisher = r.signed === true ? (getField(r, 'facts.publisher') as string | null) : null;
  const subject = r.signed === true && typeof r.signer === 'string' ? r.signer : null;
  for (const l of lists) {
    const a = l.allow!;
    if (a.rules.length && !a.rules.some((g) => globRe(g).test(ruleId))) continue;
    for (const h of a.hashes) if (hashes.includes(h.toLowerCase())) return { list: l.def.id, entry: `hash ${h}` };
    // Every program involved must be allowed: the image and what a launcher in front runs (cmd.exe /c X).
    const covering = paths.filter((x) => x.includes('\\')).map((x) => a.paths.find((p) => globRe(p).test(x.replace(/^file not found:\s*/i, ''))));
    if (covering.length && covering.every(Boolean)) return { list: l.def.id, entry: `path ${covering[0]}` };
    if (publisher || subject) for (const p of a.publishers) if ((publisher && globRe(p).test(publisher)) || (subject && globRe(p).test(subject))) return { list: l.def.id, entry: `publisher ${p}` };
  }
  return undefined;
}

export function compileRule(def: RuleDef, file: string, lineOf: (p: PropertyKey[]) => number | undefined = () => undefined, text = ''): CompiledRule {
  const selections = new Map<string, Predicate>();
  for (const [name, sel] of Object.entries(def.detection)) {
    if (name === 'condition') continue;
    try {
      selections.set(name, compileSelection(name, sel));
    } catch (e) {
      if (e instanceof RuleSyntaxError) throw new InputError(e.message, { file, line: lineOf(['detection', name]), field: `detection.${name}` });
      throw e;
    }
  }
  try {
    const match = compileCondition(def.detection.condition as string, selections);
    return { def, file, sha256: sha256Text(text), match };
  } catch (e) {
    if (e instanceof RuleSyntaxError) throw new InputError(e.message, { file, line: lineOf(['detection', 'condition']), field: 'detection.condition' });
    throw e;
  }
}

/** Every *.yml/*.yaml under the folders; a later folder's rule replaces an earlier one with the same id. */
export function loadRules(extraDirs: string[] = [], builtin = true): CompiledRule[] {
  return loadRuleSet(extraDirs, builtin).rules;
}

/**
 * The rules and what happened to the Sigma ones. A file is Magpie's own rule when its logsource
 * category is a record kind (strict: an unknown key is a typo and an error); anything else is a
 * Sigma rule, read as the specification writes it and skipped, with the reason, when Magpie
 * cannot run it. `sigma-pipeline-*.yaml` in a rules folder extends the field mapping.
 */
export function loadRuleSet(extraDirs: string[] = [], builtin = true): { rules: CompiledRule[]; sigma: SigmaLoad } {
  const dirs = [...(builtin ? [BUILTIN_RULES] : []), ...extraDirs.map((d) => resolve(d))];
  const byId = new Map<string, CompiledRule>();
  const errors: InputError[] = [];
  const sigma: SigmaLoad = { rules: [], skipped: [], failed: [], correlations: [] };
  const files: string[] = [];
  const pipelineFiles: string[] = [];
  const licences = new Map<string, string | null>();
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      errors.push(new InputError('rule folder does not exist', { file: dir }));
      continue;
    }
    for (const name of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
      if (!/\.ya?ml$/i.test(name)) continue;
      (/(^|[\\/])sigma-pipeline-[^\\/]*$/.test(name) ? pipelineFiles : files).push(join(dir, name));
    }
    licences.set(dir, folderLicence(dir));
  }
  let pipeline: Pipeline | undefined;
  const seen = new Map<string, string>();
  for (const file of files) {
    gatherInputErrors(errors, () => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new InputError(`cannot read: ${(e as Error).message}`, { file });
      }
      if (!isMagpieRule(text)) {
        pipeline ??= loadPipeline(pipelineFiles);
        const before = sigma.rules.length;
        const root = [...licences.keys()].find((d) => file.startsWith(d + sep));
        loadSigmaFile(file, text, pipeline, sigma, root ? licenceFor(file, root, licences) : null);
        for (const r of sigma.rules.slice(before)) byId.set(r.def.id, r);
        return;
      }
      const src = parseYaml(file, text);
      const isAllowlist = src.data !== null && typeof src.data === 'object' && 'allowlist' in (src.data as object);
      const def = isAllowlist ? validateYaml(src, AllowlistDef) : validateYaml(src, RuleDef);
      const earlier = seen.get(def.id);
      // A team's rule with a built-in rule's id replaces it (their own ranges, their own levels);
      // two of the team's own with one id are a mistake.
      const replacesBuiltin = earlier !== undefined && earlier.startsWith(BUILTIN_RULES + sep) && !file.startsWith(BUILTIN_RULES + sep);
      if (earlier && !replacesBuiltin) throw new InputError(`duplicate rule id "${def.id}" (also in ${earlier})`, { file, line: src.lineOf(['id']), field: 'id' });
      seen.set(def.id, file);
      byId.set(def.id, isAllowlist ? compileAllowlist(def as AllowlistDef, file, src.text) : compileRule(def as RuleDef, file, src.lineOf, src.text));
    });
  }
  if (errors.length) throw new InputErrors(errors);
  const before = sigma.rules.length;
  resolveCorrelations(sigma);
  for (const r of sigma.rules.slice(before)) byId.set(r.def.id, r);
  return { rules: [...byId.values()], sigma };
}

/** Sigma's logsource categories (its taxonomy appendix) that name no product by themselves. */
const SIGMA_CATEGORIES = new Set(['antivirus', 'application', 'database', 'dns', 'firewall', 'proxy', 'webserver', 'process_creation', 'network_connection', 'file_event', 'file_access', 'file_change', 'file_delete', 'file_rename', 'image_load', 'registry_set', 'registry_event', 'registry_add', 'registry_delete', 'dns_query', 'driver_load', 'pipe_created', 'process_access', 'create_remote_thread', 'ps_script', 'ps_module']);

/**
 * Magpie's own format (or an allowlist): one document whose logsource is a bare category that is
 * not Sigma's. A Sigma rule names a product or service, or one of Sigma's categories; anything
 * else is Magpie's and strictly checked (so a typo in a category is an error, not a skip).
 */
function isMagpieRule(text: string): boolean {
  if (/^---\s*$/m.test(text.replace(/^---\s*\n/, ''))) return false;
  if (/^allowlist\s*:/m.test(text)) return true;
  const m = /^logsource\s*:\s*(?:\{([^}]*)\}|\n((?:[ \t]+.*\n?)+))/m.exec(text);
  // No logsource: a Sigma correlation document (or a broken Sigma rule), else Magpie's own to check.
  if (!m) return !/^(detection|correlation)\s*:/m.test(text);
  const body = m[1] ?? m[2] ?? '';
  const cat = /category\s*:\s*['"]?([A-Za-z_]+)/.exec(body)?.[1];
  if (cat && (RECORD_KINDS as readonly string[]).includes(cat)) return true;
  return !/(^|[\s,{])(product|service)\s*:/.test(body) && !(cat && SIGMA_CATEGORIES.has(cat));
}

/**
 * The licence of a rule that does not name its own: from the nearest LICENSE file in its folder or
 * above it, up to the rules folder given (a vendored set of SigmaHQ rules inside a team's folder
 * has its own), else the rules folder's.
 */
function licenceFor(file: string, root: string, cache: Map<string, string | null>): string | null {
  for (let d = dirname(file); d.startsWith(root + sep); d = dirname(d)) {
    if (!cache.has(d)) cache.set(d, folderLicence(d, 0));
    const l = cache.get(d);
    if (l) return l;
  }
  return cache.get(root) ?? null;
}

/**
 * The licence of a folder of community rules, from a LICENSE file in it or up to `up` folders above
 * (a SigmaHQ checkout: the Detection Rule License).
 */
function folderLicence(dir: string, up = 2): string | null {
  for (const d of [dir, dirname(dir), dirname(dirname(dir))].slice(0, up + 1)) {
    let names: string[] = [];
    try {
      names = readdirSync(d).filter((n) => /^licen[cs]e/i.test(n));
    } catch {
      continue;
    }
    for (const n of names) {
      let text = '';
      try {
        text = readFileSync(join(d, n), 'utf8').slice(0, 20000);
      } catch {
        continue;
      }
      const drl = /Detection Rule License(?: \(DRL\))? ?([\d.]+)/i.exec(text);
      if (drl) return `DRL-${drl[1]}`;
    }
  }
  return null;
}
