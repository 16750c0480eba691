// Loads rule files (built-in playbooks/rules/ and teams' folders) and compiles them.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gatherInputErrors, InputError, InputErrors } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import { BUILTIN_DIR } from '../paths.ts';
import { readYaml, validateYaml } from '../yaml-file.ts';
import { compileCondition, compileSelection, RuleSyntaxError, type Predicate } from './matcher.ts';
import { RuleDef } from './rule-def.ts';

export const BUILTIN_RULES = join(BUILTIN_DIR, 'rules');

export interface CompiledRule {
  def: RuleDef;
  file: string;
  sha256: string;
  match: Predicate;
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
        const def = validateYaml(src, RuleDef);
        const earlier = seen.get(def.id);
        if (earlier) throw new InputError(`duplicate rule id "${def.id}" (also in ${earlier})`, { file, line: src.lineOf(['id']), field: 'id' });
        seen.set(def.id, file);
        byId.set(def.id, compileRule(def, file, src.lineOf, src.text));
      });
    }
  }
  if (errors.length) throw new InputErrors(errors);
  return [...byId.values()];
}
