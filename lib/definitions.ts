// Schemas of the files teams write: step.yaml and playbook YAML. Strict: an unknown key is a typo.
import { z } from 'zod';

export const OS_NAMES = ['windows', 'linux'] as const;
export type OsName = (typeof OS_NAMES)[number];
export const Os = z.enum(OS_NAMES);

/** The record kinds are the contract between collection and triage. */
export const RECORD_KINDS = ['host', 'process', 'connection', 'autorun', 'detection', 'dump', 'file', 'text', 'event', 'capture', 'flow', 'dns', 'beacon'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

const identifier = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must be a PowerShell-friendly name: a letter, then letters, digits or _');
const stepId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (it names a folder)');

export const ParamDef = z.strictObject({
  name: identifier,
  type: z.enum(['string', 'int', 'number', 'bool', 'list']),
  default: z.unknown().optional(),
  required: z.boolean().default(false),
  description: z.string().default(''),
  /** flagged-processes: items `flagged:LEVEL` become, just before the step, the PIDs of processes this run's records flag at LEVEL or above (lib/selectors.ts). */
  selector: z.enum(['flagged-processes']).optional(),
});
export type ParamDef = z.infer<typeof ParamDef>;

export const ToolDef = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/, 'a file name in the tools folder (letters, digits, dots, dashes)'),
  sha256: z.string().regex(/^[A-Fa-f0-9]{64}$/, 'must be the SHA-256 of the tool, 64 hex digits'),
  description: z.string().default(''),
  /** The OSes whose script runs the tool (memory-dump: procdump on Windows only); every OS of the step when absent. */
  os: z.array(Os).min(1).optional(),
});

/**
 * Records made on the responder, after the fetch, from a file the step wrote into its files/ by
 * one of `magpie import`'s readers: the same code gives the same records from a tool's output
 * whether Magpie ran the tool or a responder imports a copy (autorunsc's CSV).
 */
export const StepRecordsDef = z.strictObject({
  importer: z.enum(['autoruns']),
  file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/, 'a file name in the step\'s files/ folder'),
  /** Times without a zone are UTC (the tool was told to write UTC, e.g. autorunsc -t). */
  utc: z.boolean().default(false),
});

export const StepDef = z.strictObject({
  id: stepId,
  description: z.string().min(1),
  kind: z.enum(RECORD_KINDS),
  os: z.array(Os).min(1),
  admin: z.boolean().default(false),
  timeout: z.number().positive().max(86400),
  parameters: z.array(ParamDef).default([]),
  tools: z.array(ToolDef).default([]),
  records: StepRecordsDef.optional(),
  /**
   * A zx module beside step.yaml (responder.mjs, .js or .ts) that runs on the responder and drives
   * PowerShell on the target through the step's session (lib/responder/). The per-OS .ps1 files
   * are then optional: `os` says which targets the module supports.
   */
  responder: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.(mjs|js|ts|mts)$/, 'a module file beside step.yaml: responder.mjs, .js or .ts').optional(),
  produces: z.array(z.string()).default([]),
  references: z.array(z.string()).default([]),
});
export type StepDef = z.infer<typeof StepDef>;

export const PlaybookStepRef = z
  .strictObject({
    step: stepId.optional(),
    id: stepId.optional(),
    run: z.string().min(1).optional(),
    description: z.string().optional(),
    kind: z.enum(RECORD_KINDS).optional(),
    os: z.array(Os).min(1).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    /** Typed parameters of an inline `run:` step (a catalog step declares them in its step.yaml). */
    parameters: z.array(ParamDef).optional(),
    timeout: z.number().positive().max(86400).optional(),
    continueOnError: z.boolean().optional(),
    /**
     * A precondition. tools-present: run only where the step's pinned tools are in the responder's
     * tools folder, else skip it saying which are missing (a file there with another hash still
     * fails the step: that is a tampered or unvetted tool, not an absent one).
     */
    when: z.enum(['tools-present']).optional(),
  })
  .refine((s) => (s.step === undefined) !== (s.run === undefined), {
    message: 'a playbook step needs exactly one of `step:` (the id of a step) or `run:` (inline PowerShell)',
  })
  .refine((s) => s.run === undefined || s.id !== undefined, {
    message: 'an inline `run:` step needs an `id:`',
  })
  .refine((s) => s.when === undefined || s.step !== undefined, {
    message: '`when: tools-present` belongs to a catalog step that declares tools in its step.yaml',
    path: ['when'],
  })
  .refine((s) => s.parameters === undefined || s.run !== undefined, {
    message: '`parameters:` belongs to inline `run:` steps; a catalog step declares its parameters in its step.yaml',
    path: ['parameters'],
  });
export type PlaybookStepRef = z.infer<typeof PlaybookStepRef>;

export const PlaybookDef = z.strictObject({
  name: stepId,
  description: z.string().min(1),
  parameters: z.array(ParamDef).default([]),
  steps: z.array(PlaybookStepRef).min(1),
});
export type PlaybookDef = z.infer<typeof PlaybookDef>;
