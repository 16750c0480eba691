#!/usr/bin/env -S npx tsx
// Rewrites the golden files from the code as it is now: the importers' records
// (test/fixtures/import/expected) and the infected host's findings (test/fixtures/triage).
// The tests only compare with these files, so a wrong output can never bless itself on a test
// run: run this on purpose, then review `git diff test/fixtures` before committing.
// --import-only rewrites the importer goldens alone (no PowerShell needed, the triage golden untouched).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { pwshOrFail, ROOT, tempDir } from '../test/helpers.ts';
import { goldenRows, IMPORT_CASES, importFixture, importGoldenFile, infectedHostDirs, TRIAGE_GOLDEN } from '../test/fixtures/golden.ts';

function write(file: string, text: string): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`${before === undefined ? 'new      ' : before === text ? 'unchanged' : 'CHANGED  '} ${relative(ROOT, file)}`);
}

for (const [kind, file] of IMPORT_CASES) write(importGoldenFile(file), JSON.stringify(importFixture(kind, file), null, 2) + '\n');

if (process.argv.includes('--import-only')) {
  console.log('Review the changes (git diff test/fixtures/import) before committing them.');
  process.exit(0);
}

// The triage golden needs the recorded Windows host collected through real PowerShell.
pwshOrFail();
const rules = loadRules();
const findings = [];
for (const dir of await infectedHostDirs(tempDir())) findings.push(...(await triageFolder(dir, { rules })).findings);
write(TRIAGE_GOLDEN, JSON.stringify(goldenRows(findings), null, 1) + '\n');
console.log('Review the changes (git diff test/fixtures) before committing them.');
