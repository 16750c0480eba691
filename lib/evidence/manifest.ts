// manifest.json: what was collected, from where, by whom, how, and every file with its hash.
// This zod schema is the source; docs/manifest.schema.json is generated from it (npm run schema).
import { z } from 'zod';
import { Os, RECORD_KINDS } from '../definitions.ts';

export const STEP_STATUSES = ['ok', 'failed', 'timeout', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

const iso = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'ISO 8601 UTC');
const sha256 = z.string().regex(/^[a-f0-9]{64}$/);
const paramValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);

export const ManifestFile = z.strictObject({
  path: z.string().describe('relative to the evidence folder, / separated'),
  size: z.number().int().nonnegative(),
  sha256,
  /** The name the host gave, when it had to be made safe. */
  originalName: z.string().optional(),
  /** SHA-256 the target computed before the fetch; differs from sha256 only if the copy changed it. */
  targetSha256: sha256.optional(),
});

export const ManifestStep = z.strictObject({
  index: z.number().int().positive(),
  id: z.string(),
  stepId: z.string(),
  dir: z.string(),
  kind: z.enum(RECORD_KINDS),
  status: z.enum(STEP_STATUSES),
  reason: z.string().nullable(),
  partial: z.boolean(),
  os: Os.nullable(),
  params: z.record(z.string(), paramValue),
  scriptSha256: sha256.nullable(),
  started: iso.nullable(),
  ended: iso.nullable(),
  durationMs: z.number().int().nonnegative(),
  records: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  /** A responder step: its module's file name (kept beside params.json; scriptSha256 is its hash). */
  responder: z.string().optional(),
  /** A responder step: how many PowerShell calls it made on the target (steps/NN-id/invocations/NNN). */
  invocations: z.number().int().nonnegative().optional(),
});

export const Manifest = z.strictObject({
  schema: z.literal('magpie.manifest/1'),
  state: z.enum(['running', 'complete', 'interrupted', 'failed']).describe('running in a left-behind .partial folder means the run crashed'),
  tool: z.strictObject({ name: z.literal('magpie'), version: z.string(), runtime: z.string() }),
  case: z.string(),
  playbook: z.strictObject({ name: z.string(), file: z.string(), sha256, params: z.record(z.string(), paramValue) }),
  operator: z.string(),
  workstation: z.strictObject({ hostname: z.string(), platform: z.string(), user: z.string() }),
  target: z.strictObject({
    name: z.string(),
    hostname: z.string().nullable(),
    os: Os.nullable(),
    osVersion: z.string().nullable(),
    psVersion: z.string().nullable(),
    psEdition: z.string().nullable(),
    user: z.string().nullable(),
    admin: z.boolean().nullable(),
    adminFiltered: z.boolean().optional().describe('Windows: the account is in Administrators, but UAC filtered its token on this network logon (LocalAccountTokenFilterPolicy)'),
    transport: z.enum(['local', 'ssh', 'winrm', 'import']),
    startupScript: z.string().optional().describe('set only when Windows-only commands were stood in for (tests)'),
    connection: z
      .strictObject({
        address: z.string(),
        port: z.number().int(),
        user: z.string(),
        authMethod: z.string(),
        hostKeySha256: z.string().optional(),
        hostKeyTrust: z.enum(['known_hosts', 'accepted-new']).optional(),
        shell: z.string().optional(),
        scheme: z.string().optional(),
        endpoint: z.string().optional().describe('WinRM: the WS-Management URL'),
        security: z.enum(['http-message-encryption', 'https']).optional().describe('WinRM: NTLM-sealed messages over HTTP, or TLS'),
        certificateSha256: z.string().optional().describe('WinRM over HTTPS: SHA-256 of the server certificate (DER)'),
      })
      .optional()
      .describe('how a remote target was reached (never a secret)'),
  }),
  error: z.string().nullable().describe('why the host could not be collected, when it could not'),
  imported: z
    .strictObject({
      kind: z.string(),
      files: z.array(z.strictObject({ name: z.string(), size: z.number().int().nonnegative(), sha256, kind: z.string().optional() })),
      capturedSeparately: z.boolean().optional().describe('several sources of one host, taken at different times: a PID in one may have been reused before another was taken'),
    })
    .optional()
    .describe('set when the records come from existing tool output (magpie import), not from a live collection'),
  started: iso,
  ended: iso.nullable(),
  clockSkewMs: z.number().int().nullable().describe('target clock minus workstation clock'),
  steps: z.array(ManifestStep),
  files: z.array(ManifestFile).describe('every collected file except manifest.json, SHA256SUMS and custody.jsonl (a hash chain whose seal entry holds the hashes of manifest.json and SHA256SUMS)'),
});
export type Manifest = z.infer<typeof Manifest>;
export type ManifestStep = z.infer<typeof ManifestStep>;
export type ManifestFile = z.infer<typeof ManifestFile>;

export function manifestJsonSchema(): unknown {
  return { $id: 'https://magpie.invalid/schemas/manifest-1.json', title: 'Magpie evidence manifest', ...z.toJSONSchema(Manifest, { target: 'draft-7' }) };
}
