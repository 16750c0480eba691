// The rule file format: Sigma's shape (logsource, detection, condition, level, tags) with a
// value_count correlation for aggregates such as "one process, SYN_SENT to port 445 on many hosts".
import { z } from 'zod';
import { RECORD_KINDS } from '../definitions.ts';

export const LEVELS = ['informational', 'low', 'medium', 'high', 'critical'] as const;
export type Level = (typeof LEVELS)[number];

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const fieldMap = z.record(z.string(), z.union([scalar, z.array(scalar)]));
const selection = z.union([fieldMap, z.array(fieldMap).min(1)]);

export const Threshold = z
  .strictObject({ gt: z.number().optional(), gte: z.number().optional(), lt: z.number().optional(), lte: z.number().optional() })
  .refine((t) => Object.values(t).some((v) => v !== undefined), 'give at least one of gt, gte, lt, lte');

export const Correlation = z.strictObject({
  type: z.literal('value_count'),
  'group-by': z.array(z.string()).min(1),
  field: z.string(),
  condition: Threshold,
  /** Attach the process whose pid is the group's `pid`. */
  join: z.literal('process').optional(),
});

export const RuleDef = z.strictObject({
  title: z.string().min(1),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,80}$/, 'letters, digits, dots, dashes (a UUID works)'),
  status: z.enum(['stable', 'test', 'experimental', 'deprecated']).default('stable'),
  description: z.string().min(1).describe('what it means and what the responder checks next'),
  author: z.string().optional(),
  references: z.array(z.string()).default([]),
  tags: z.array(z.string()).default([]),
  level: z.enum(LEVELS),
  logsource: z.strictObject({ category: z.enum(RECORD_KINDS), product: z.string().optional() }),
  detection: z.record(z.string(), z.union([selection, z.string()])).refine((d) => typeof d.condition === 'string', { message: 'detection needs a condition' }),
  correlation: Correlation.optional(),
  falsepositives: z.array(z.string()).default([]),
});
export type RuleDef = z.infer<typeof RuleDef>;

/**
 * A team allowlist: a YAML file in a rules folder whose top-level key is `allowlist`. A finding
 * of a rule on a process or autostart record is suppressed when the record's image matches an
 * entry: a publisher (only with a valid signature; the signer's CN or the whole subject), a path
 * (every program involved: the image and what a launcher in front of it runs) or a hash
 * (SHA-256, SHA-1 or MD5). In publishers and paths `*` and `?` are always wildcards and a
 * backslash is a backslash (`C:\Tools\*`).
 * `rules` limits it to those rule ids (wildcards); IOC hits are never suppressed.
 */
export const AllowlistDef = z.strictObject({
  title: z.string().min(1),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,80}$/, 'letters, digits, dots, dashes (a UUID works)'),
  description: z.string().min(1).describe('whose list it is and why these are trusted'),
  author: z.string().optional(),
  allowlist: z
    .strictObject({
      publishers: z.array(z.string().min(1)).default([]),
      paths: z.array(z.string().min(1)).default([]),
      hashes: z.array(z.string().regex(/^([A-Fa-f0-9]{32}|[A-Fa-f0-9]{40}|[A-Fa-f0-9]{64})$/, 'an MD5, SHA-1 or SHA-256 in hex')).default([]),
      rules: z.array(z.string().min(1)).default([]),
    })
    .refine((a) => a.publishers.length + a.paths.length + a.hashes.length > 0, 'give at least one of publishers, paths, hashes'),
});
export type AllowlistDef = z.infer<typeof AllowlistDef>;
