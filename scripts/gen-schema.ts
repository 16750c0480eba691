#!/usr/bin/env -S npx tsx
// Writes docs/manifest.schema.json from the zod schema that the writer and verifier use.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestJsonSchema } from '../lib/evidence/manifest.ts';
import { ROOT_DIR } from '../lib/paths.ts';

export const SCHEMA_FILE = join(ROOT_DIR, 'docs', 'manifest.schema.json');
writeFileSync(SCHEMA_FILE, JSON.stringify(manifestJsonSchema(), null, 2) + '\n');
console.log(`wrote ${SCHEMA_FILE}`);
