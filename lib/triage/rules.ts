// Loads rule files (built-in playbooks/rules/ and teams' folders) and compiles them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gatherInputErrors, InputError, InputErrors } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import { BUILTIN_DIR } from '../paths.ts';
import { readYaml, validateYaml } from '../yaml-file.ts';
import { compileCondition, compileSelection, getField, RuleSyntaxError, type Predicate, type Rec } from './matcher.ts';
import { AllowlistDef, RuleDef } from './rule-def.ts';

export const BUILTIN_RULES = join(BUILTIN_DIR, 'rules');

export interface CompiledRule {
  def: RuleDef;
  file: string;
  sha256: string;
  match: Predicate;
  /** Set for a team allowlist (listed with the rules, hash and all, but never run as a rule). */
  allow?: AllowlistDef['allowlist'] & { title: string };
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
  const dirs = [...(builtin ? [BUILTIN_RULES] : []), ...extraDirs.map((d) => resolve(d))];
  const byId = new Map<string, CompiledRule>();
  const errors: InputError[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      errors.push(new InputError('rule folder does not exist', { file: dir }));
      continue;
    }
    const seen = new Map<string, string>();
    for (const name of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
      if (!/\.ya?ml$/i.test(name)) continue;
      const file = join(dir, name);
      gatherInputErrors(errors, () => {
        const src = readYaml(file);
        const isAllowlist = src.data !== null && typeof src.data === 'object' && 'allowlist' in (src.data as object);
        const def = isAllowlist ? validateYaml(src, AllowlistDef) : validateYaml(src, RuleDef);
        const earlier = seen.get(def.id);
        if (earlier) throw new InputError(`duplicate rule id "${def.id}" (also in ${earlier})`, { file, line: src.lineOf(['id']), field: 'id' });
        seen.set(def.id, file);
        byId.set(def.id, isAllowlist ? compileAllowlist(def as AllowlistDef, file, src.text) : compileRule(def as RuleDef, file, src.lineOf, src.text));
      });
    }
  }
  if (errors.length) throw new InputErrors(errors);
  return [...byId.values()];
}
