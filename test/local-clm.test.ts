// A local PowerShell in Constrained Language Mode (what AppLocker/WDAC make of a responder's own
// Windows box) never answers node-powershell, whose reply framing calls a [Console] method that
// mode refuses: Magpie used to wait two minutes and say "did not start". Here a PowerShell put in
// that mode stands in (the mode is the same on Linux), and the run must fail fast with the reason.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, pwshOrFail, tempDir } from './helpers.ts';

test('a local PowerShell in Constrained Language Mode fails the host within seconds, naming the mode and what to do', () => {
  const dir = tempDir('magpie-clm-');
  const wrapper = join(dir, 'pwsh');
  // Whatever arguments it is given, the session it opens runs in ConstrainedLanguage and reads commands from stdin.
  writeFileSync(wrapper, `#!/bin/sh\nexec '${pwshOrFail()}' -NoLogo -NoProfile -NonInteractive -NoExit -Command '$ExecutionContext.SessionState.LanguageMode = "ConstrainedLanguage"'\n`);
  chmodSync(wrapper, 0o755);
  const started = Date.now();
  const r = cli(['run', 'triage', '--out', join(dir, 'evidence')], { env: { MAGPIE_PWSH: wrapper }, timeoutMs: 100_000 });
  const seconds = (Date.now() - started) / 1000;
  assert.is.not(r.code, 0, r.stdout);
  assert.match(r.stdout + r.stderr, /ConstrainedLanguage language mode \(AppLocker\/WDAC policy\).*use an account the policy exempts/);
  assert.ok(seconds < 60, `gave up after ${seconds.toFixed(1)} s, not the two minutes of a host that does not start`);
});

test.run();
