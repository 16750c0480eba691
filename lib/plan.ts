// Playbook + parameters → Plan: every step resolved, every parameter bound and typed.
import { createHash } from 'node:crypto';
import { InputError, InputErrors } from './errors.ts';
import type { OsName, ParamDef, RecordKind } from './definitions.ts';
import { playbookParamRef, type Catalog, type ResponderModule, type StepScript } from './catalog.ts';
import { checkParam, parseParamText, type ParamValue } from './params.ts';

export interface PlannedStep {
  index: number;
  /** Unique within the plan; names the evidence folder `steps/NN-<id>`. */
  id: string;
  stepId: string;
  description: string;
  kind: RecordKind;
  timeoutSec: number;
  continueOnError: boolean;
  /** Skip, not fail, where the step's tools are not in the tools folder (playbook `when: tools-present`). */
  onlyWithTools?: boolean;
  admin: boolean;
  params: Record<string, ParamValue>;
  /** Parameters resolved on the responder just before the step runs (lib/selectors.ts). */
  selectors?: Record<string, 'flagged-processes'>;
  /** Helper programs the step runs, pinned by SHA-256; taken from the responder's tools folder. */
  tools: { name: string; sha256: string; description?: string; os?: OsName[] }[];
  /** Records the responder makes from a file the step wrote (step.yaml `records:`; lib/step-records.ts). */
  records?: { importer: 'autoruns'; file: string; utc: boolean };
  scripts: Partial<Record<OsName, StepScript>>;
  /** A zx module that runs on the responder and drives PowerShell on the target (lib/responder/), for the OSes in `os`. */
  responder?: ResponderModule & { os: OsName[] };
  source: string;
}

export interface Plan {
  playbook: { name: string; file: string; sha256: string; params: Record<string, ParamValue> };
  steps: PlannedStep[];
}

/** `--param name=value` for a playbook parameter, `--param step.name=value` for one step's. */
export function parseParamArgs(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new InputError(`--param "${arg}" must look like name=value or step.name=value`);
    out.set(arg.slice(0, eq), arg.slice(eq + 1));
  }
  return out;
}

export function buildPlan(catalog: Catalog, playbookName: string, cliParams = new Map<string, string>()): Plan {
  const book = catalog.playbooks.get(playbookName);
  if (!book) {
    const known = [...catalog.playbooks.keys()].sort().join(', ');
    throw new InputError(`unknown playbook "${playbookName}"; known playbooks: ${known}. Teams' playbooks come with --playbooks DIR.`);
  }
  const errors: InputError[] = [];
  const used = new Set<string>();
  const bind = (def: ParamDef, cliKey: string, fromBook: unknown, where: string, at: PropertyKey[]): ParamValue | undefined => {
    const text = cliParams.get(cliKey);
    if (text !== undefined) {
      used.add(cliKey);
      const r = parseParamText(def, text);
      if ('error' in r) errors.push(new InputError(`--param ${cliKey}: ${r.error}`));
      else return r.value;
      return undefined;
    }
    const value = fromBook !== undefined ? fromBook : def.default;
    if (value === undefined) {
      if (def.required) errors.push(new InputError(`required parameter "${def.name}" of ${where} has no value; pass --param ${cliKey}=VALUE or set it under params: here`, { file: book.file, line: book.lineOf(at) }));
      return undefined;
    }
    const r = checkParam(def, value);
    if ('error' in r) {
      errors.push(new InputError(`parameter "${def.name}" of ${where}: ${r.error}`, { file: book.file, line: book.lineOf(at) }));
      return undefined;
    }
    return r.value;
  };

  const bookParams: Record<string, ParamValue> = {};
  for (const [j, def] of book.def.parameters.entries()) {
    const v = bind(def, def.name, undefined, `playbook "${book.def.name}"`, ['parameters', j]);
    if (v !== undefined) bookParams[def.name] = v;
  }

  const steps: PlannedStep[] = book.def.steps.map((ref, i) => {
    const id = ref.id ?? ref.step!;
    const base = ref.step !== undefined ? catalog.steps.get(ref.step)! : undefined;
    const params: Record<string, ParamValue> = {};
    const selectors: NonNullable<PlannedStep['selectors']> = {};
    // An inline step declares its parameters beside its `run:`, like a step.yaml does.
    for (const def of base?.def.parameters ?? ref.parameters ?? []) {
      let fromBook = ref.params[def.name];
      const refName = playbookParamRef(fromBook);
      if (refName !== undefined) fromBook = bookParams[refName];
      const at = fromBook !== undefined ? ['steps', i, 'params', def.name] : ['steps', i];
      const v = bind(def, `${id}.${def.name}`, fromBook, `step "${id}"`, at);
      if (v !== undefined) params[def.name] = v;
      if (def.selector) selectors[def.name] = def.selector;
    }
    const inlineScripts: PlannedStep['scripts'] = {};
    if (ref.run !== undefined) {
      for (const os of ref.os ?? ['windows', 'linux']) inlineScripts[os] = { file: `${book.file}#steps.${i}.run`, body: ref.run };
    }
    return {
      index: i + 1,
      id,
      stepId: ref.step ?? id,
      description: ref.description ?? base?.def.description ?? 'inline step',
      kind: ref.kind ?? base?.def.kind ?? 'text',
      timeoutSec: ref.timeout ?? base?.def.timeout ?? 300,
      continueOnError: ref.continueOnError ?? true,
      ...(ref.when === 'tools-present' ? { onlyWithTools: true } : {}),
      admin: base?.def.admin ?? false,
      params,
      ...(Object.keys(selectors).length ? { selectors } : {}),
      tools: (base?.def.tools ?? []).map((t) => ({ name: t.name, sha256: t.sha256.toLowerCase(), ...(t.description ? { description: t.description } : {}), ...(t.os ? { os: t.os } : {}) })),
      ...(base?.def.records ? { records: base.def.records } : {}),
      scripts: base ? base.scripts : inlineScripts,
      ...(base?.responder ? { responder: { ...base.responder, os: base.def.os } } : {}),
      source: base ? base.file : book.file,
    };
  });

  for (const key of cliParams.keys()) {
    if (!used.has(key)) {
      const names = [...book.def.parameters.map((p) => p.name), ...steps.flatMap((s) => Object.keys(s.params).map((n) => `${s.id}.${n}`))];
      errors.push(new InputError(`--param ${key}: playbook "${book.def.name}" has no such parameter; it has: ${names.join(', ') || 'none'}`));
    }
  }
  if (errors.length) throw new InputErrors(errors);
  const sha256 = createHash('sha256').update(book.text).digest('hex');
  return { playbook: { name: book.def.name, file: book.file, sha256, params: bookParams }, steps };
}
