// Loads steps and playbooks from the built-in folder and teams' folders; later folders override.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BUILTIN_DIR } from './paths.ts';
import { gatherInputErrors, InputError, InputErrors } from './errors.ts';
import { OS_NAMES, PlaybookDef, StepDef, type OsName } from './definitions.ts';
import { checkParam } from './params.ts';
import { readYaml, validateYaml } from './yaml-file.ts';


export interface StepScript {
  file: string;
  body: string;
}

/** A responder-side zx module (step.yaml `responder:`): what runs, and the text `show` prints. */
export interface ResponderModule {
  file: string;
  source: string;
}

export interface CatalogStep {
  def: StepDef;
  file: string;
  scripts: Partial<Record<OsName, StepScript>>;
  responder?: ResponderModule;
}

export interface CatalogPlaybook {
  def: PlaybookDef;
  file: string;
  text: string;
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

export interface Catalog {
  dirs: string[];
  steps: Map<string, CatalogStep>;
  playbooks: Map<string, CatalogPlaybook>;
}

/** Reads every folder; collects all errors before throwing, so a team fixes them in one pass. */
export function loadCatalog(extraDirs: string[] = []): Catalog {
  const dirs = [BUILTIN_DIR, ...extraDirs.map((d) => resolve(d))];
  const catalog: Catalog = { dirs, steps: new Map(), playbooks: new Map() };
  const errors: InputError[] = [];
  const collect = (fn: () => void) => gatherInputErrors(errors, fn);
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      errors.push(new InputError('playbook folder does not exist; pass a folder that holds playbooks/*.yaml and steps/<id>/step.yaml', { file: dir }));
      continue;
    }
    const seenSteps = new Map<string, string>();
    const stepsDir = join(dir, 'steps');
    if (existsSync(stepsDir)) {
      for (const name of readdirSync(stepsDir).sort()) {
        const file = join(stepsDir, name, 'step.yaml');
        if (!existsSync(file)) continue;
        collect(() => {
          const step = loadStep(file);
          const earlier = seenSteps.get(step.def.id);
          if (earlier) throw new InputError(`duplicate step id "${step.def.id}" (also in ${earlier}); give one of them another id`, { file, field: 'id', line: 1 });
          seenSteps.set(step.def.id, file);
          catalog.steps.set(step.def.id, step);
        });
      }
    }
    const seenBooks = new Map<string, string>();
    for (const name of readdirSync(dir).sort()) {
      if (!/\.ya?ml$/i.test(name)) continue;
      const file = join(dir, name);
      collect(() => {
        const src = readYaml(file);
        const def = validateYaml(src, PlaybookDef);
        const earlier = seenBooks.get(def.name);
        if (earlier) throw new InputError(`duplicate playbook name "${def.name}" (also in ${earlier})`, { file, field: 'name', line: src.lineOf(['name']) });
        seenBooks.set(def.name, file);
        catalog.playbooks.set(def.name, { def, file, text: src.text, lineOf: src.lineOf });
      });
    }
  }
  for (const book of catalog.playbooks.values()) collect(() => checkPlaybook(catalog, book));
  if (errors.length) throw new InputErrors(errors);
  return catalog;
}

export function loadStep(file: string): CatalogStep {
  const src = readYaml(file);
  const def = validateYaml(src, StepDef);
  const folder = basename(dirname(file));
  const errors: InputError[] = [];
  if (def.id !== folder) errors.push(new InputError(`step id "${def.id}" must match its folder name "${folder}"`, { file, field: 'id', line: src.lineOf(['id']) }));
  def.parameters.forEach((p, i) => {
    if (p.default === undefined) return;
    const r = checkParam(p, p.default);
    if ('error' in r) errors.push(new InputError(`default ${r.error}`, { file, field: `parameters.${i}.default`, line: src.lineOf(['parameters', i, 'default']) }));
  });
  let responder: ResponderModule | undefined;
  if (def.responder !== undefined) {
    const moduleFile = join(dirname(file), def.responder);
    if (existsSync(moduleFile)) responder = { file: moduleFile, source: readFileSync(moduleFile, 'utf8').replace(/^\uFEFF/, '') };
    else errors.push(new InputError(`names the responder module ${def.responder}, which is not beside it; add the file or remove responder:`, { file, field: 'responder', line: src.lineOf(['responder']) }));
  }
  const scripts: CatalogStep['scripts'] = {};
  for (const os of OS_NAMES) {
    const scriptFile = join(dirname(file), `${os}.ps1`);
    const present = existsSync(scriptFile);
    const declared = def.os.includes(os);
    // A responder step's PowerShell is in its module; a script beside it is the module's to run.
    if (declared && !present && !responder) errors.push(new InputError(`declares os "${os}" but ${os}.ps1 is missing beside it; add the script or remove "${os}" from os`, { file, field: 'os', line: src.lineOf(['os']) }));
    if (!declared && present) errors.push(new InputError(`${os}.ps1 exists but os does not list "${os}"; add it to os`, { file, field: 'os', line: src.lineOf(['os']) }));
    if (declared && present) scripts[os] = { file: scriptFile, body: readFileSync(scriptFile, 'utf8').replace(/^\uFEFF/, '') };
  }
  if (errors.length) throw new InputErrors(errors);
  return { def, file, scripts, ...(responder ? { responder } : {}) };
}

/** Cross-file checks: every referenced step exists, parameters exist and have the right type. */
function checkPlaybook(catalog: Catalog, book: CatalogPlaybook): void {
  const errors: InputError[] = [];
  const at = (path: PropertyKey[], message: string) =>
    errors.push(new InputError(message, { file: book.file, line: book.lineOf(path), field: path.join('.') }));
  const ids = new Map<string, number>();
  const bookParams = new Map(book.def.parameters.map((p) => [p.name, p]));
  book.def.parameters.forEach((p, i) => {
    if (p.default === undefined) return;
    const r = checkParam(p, p.default);
    if ('error' in r) at(['parameters', i, 'default'], `default ${r.error}`);
  });
  book.def.steps.forEach((ref, i) => {
    const id = ref.id ?? ref.step!;
    if (ids.has(id)) at(['steps', i], `duplicate step id "${id}" (also step ${ids.get(id)! + 1}); give one an \`id:\` of its own`);
    ids.set(id, i);
    let params = ref.parameters ?? [];
    if (ref.run !== undefined) {
      params.forEach((p, j) => {
        if (p.default === undefined) return;
        const r = checkParam(p, p.default);
        if ('error' in r) at(['steps', i, 'parameters', j, 'default'], `default ${r.error}`);
      });
    } else {
      const step = catalog.steps.get(ref.step!);
      if (!step) {
        const known = [...catalog.steps.keys()].sort().join(', ');
        at(['steps', i, 'step'], `unknown step "${ref.step}"; known steps: ${known}`);
        return;
      }
      params = step.def.parameters;
    }
    const declared = new Map(params.map((p) => [p.name, p]));
    for (const [name, value] of Object.entries(ref.params)) {
      const def = declared.get(name);
      if (!def) {
        const hint = ref.run !== undefined ? 'declare it under `parameters:` of this inline step (name, type)' : `it has: ${[...declared.keys()].join(', ') || 'none'}`;
        at(['steps', i, 'params', name], `step "${id}" has no parameter "${name}"; ${hint}`);
        continue;
      }
      const refName = playbookParamRef(value);
      if (refName !== undefined) {
        const bp = bookParams.get(refName);
        if (!bp) at(['steps', i, 'params', name], `refers to playbook parameter "${refName}", which the playbook does not declare under parameters`);
        else if (bp.type !== def.type) at(['steps', i, 'params', name], `playbook parameter "${refName}" is ${bp.type} but step parameter "${name}" is ${def.type}`);
        continue;
      }
      const r = checkParam(def, value);
      if ('error' in r) at(['steps', i, 'params', name], r.error);
    }
  });
  if (errors.length) throw new InputErrors(errors);
}

/** A step parameter value of exactly `{{ name }}` takes the playbook parameter `name`. */
export function playbookParamRef(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /^\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}$/.exec(value)?.[1];
}
