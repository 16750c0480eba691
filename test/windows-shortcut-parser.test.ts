// The autoruns step's .lnk reader (MS-SHLLINK, from the bytes) under real pwsh, against real
// shortcuts from LnkParse3's test samples and what LnkParse3 reads in them (fixtures/windows/lnk),
// and against damaged and hostile files: each gives an error for that file, never a crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, pwshOrFail, tempDir } from './helpers.ts';
import { BUILTIN_DIR } from '../lib/paths.ts';

const PWSH = pwshOrFail();
const LNK = join(FIXTURES, 'windows', 'lnk');
const expected: Record<string, { target: string | null; arguments: string | null; relativePath: string | null }> = JSON.parse(readFileSync(join(LNK, 'expected.json'), 'utf8'));

/** The parser's own lines, cut from the step script as it ships, run over `files`. */
function parse(files: string[]): Record<string, { target: string | null; arguments: string | null; relativePath: string | null; error: string | null }> {
  const src = readFileSync(join(BUILTIN_DIR, 'steps', 'autoruns', 'windows.ps1'), 'utf8');
  const start = src.indexOf('# ---- shortcuts (.lnk');
  const end = src.indexOf('# ---- end of shortcuts');
  assert.ok(start > 0 && end > start, 'the shortcut section is marked in autoruns/windows.ps1');
  const dir = tempDir('magpie-lnk-');
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(join(dir, 'parser.ps1'), src.slice(start, end));
  writeFileSync(
    join(dir, 'run.ps1'),
    [`. ${q(join(dir, 'parser.ps1'))}`, `$out = [ordered]@{}`, ...files.map((f) => `$out[${q(f)}] = ConvertFrom-MagpieShellLink ([IO.File]::ReadAllBytes(${q(f)}))`), `$out | ConvertTo-Json -Depth 3 -Compress`].join('\n'),
  );
  const r = spawnSync(PWSH, ['-NoProfile', '-NonInteractive', '-File', join(dir, 'run.ps1')], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('real shortcuts: target, arguments and relative path as LnkParse3 reads them (LinkInfo local and network paths, the environment block, the ID list, padded arguments)', () => {
  const names = readdirSync(LNK).filter((f) => f.endsWith('.lnk'));
  assert.ok(names.length >= 10, `${names.length} samples`);
  const got = parse(names.map((n) => join(LNK, n)));
  for (const n of names) {
    const want = expected[n.replace(/\.lnk$/, '')];
    const r = got[join(LNK, n)];
    assert.ok(want, `expected.json has ${n}`);
    assert.is(r.error, null, `${n}: ${r.error}`);
    assert.is(r.target, want.target, `${n}: target`);
    assert.is(r.arguments, want.arguments, `${n}: arguments`);
    assert.is(r.relativePath, want.relativePath, `${n}: relative path`);
  }
  // The padded shortcut: 260 characters of working folder are read, the real command follows.
  assert.match(got[join(LNK, 'padded_cli_arguments.lnk')].arguments!, /^\/c "set PATH=.*unzip\.exe/s);
});

test('damaged and hostile files: an error naming what is wrong, for that file only', () => {
  const dir = tempDir('magpie-lnk-bad-');
  const good = readFileSync(join(LNK, 'sample13.lnk'));
  const files: Record<string, Buffer> = {
    'empty.lnk': Buffer.alloc(0),
    'text.lnk': Buffer.from('[InternetShortcut]\r\nURL=http://example.test/\r\n'),
    'short.lnk': good.subarray(0, 60),
    'cut.lnk': good.subarray(0, 200),
  };
  // LinkInfo's local-path offset pointed far past the end of the file.
  const far = Buffer.from(good);
  const idSize = far.readUInt16LE(0x4c);
  far.writeUInt32LE(0x00fffff0, 0x4c + 2 + idSize + 16);
  files['far.lnk'] = far;
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  const got = parse([...Object.keys(files).map((n) => join(dir, n)), join(LNK, 'sample13.lnk')]);
  const err = (n: string) => got[join(dir, n)].error ?? '';
  assert.match(err('empty.lnk'), /not a shell link/);
  assert.match(err('text.lnk'), /not a shell link/);
  assert.match(err('short.lnk'), /cut short: 60 bytes/);
  assert.ok(err('cut.lnk') || got[join(dir, 'cut.lnk')].target === null, 'a file cut inside its ID list or LinkInfo gives an error or no target');
  assert.match(err('far.lnk'), /offset \(\d+\) points outside the file/, err('far.lnk'));
  assert.is(got[join(LNK, 'sample13.lnk')].target, 'C:\\Windows\\System32\\cmd.exe', 'the good file after them is still read');
});

test.run();
