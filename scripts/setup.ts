#!/usr/bin/env -S npx tsx
// Provisions what Magpie needs on a responder workstation: PowerShell 7 from the .NET global tool.
// Runs from `npm install` (postinstall) and `npm run setup`; safe to run again.
import { $ } from 'zx';
import { findPwsh, dotnetToolsDir, PWSH_VERSION, PWSH_ARGS } from '../lib/pwsh.ts';

$.verbose = false;
$.quiet = true;

async function main(): Promise<number> {
  if (process.env.MAGPIE_SKIP_SETUP) return 0;
  let pwsh = findPwsh();
  if (!pwsh) {
    const dotnet = await $`dotnet --version`.nothrow();
    if (dotnet.exitCode !== 0) {
      console.error(
        'magpie setup: PowerShell 7 is missing and the .NET SDK (`dotnet`) is not installed, so it cannot be provisioned.\n' +
          'Install the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux), then run `npm run setup`,\n' +
          'or install PowerShell 7 from your distribution and put `pwsh` on PATH.',
      );
      return 1;
    }
    console.log(`magpie setup: installing PowerShell ${PWSH_VERSION} (dotnet tool install --global PowerShell)…`);
    const r = await $`dotnet tool install --global PowerShell --version ${PWSH_VERSION}`.nothrow();
    // "already installed" at another version is not an error we can fix silently: say so.
    if (r.exitCode !== 0 && !/already installed/i.test(r.stdout + r.stderr)) {
      console.error(`magpie setup: \`dotnet tool install --global PowerShell --version ${PWSH_VERSION}\` failed:\n${r.stderr || r.stdout}`);
      return 1;
    }
    pwsh = findPwsh();
    if (!pwsh) {
      console.error(`magpie setup: PowerShell was installed but pwsh is not in ${dotnetToolsDir()}.`);
      return 1;
    }
  }
  const v = await $`${pwsh} ${PWSH_ARGS} -Command ${'$PSVersionTable.PSVersion.ToString()'}`.nothrow();
  if (v.exitCode !== 0) {
    console.error(`magpie setup: ${pwsh} does not start:\n${v.stderr}`);
    return 1;
  }
  console.log(`magpie setup: PowerShell ${v.stdout.trim()} at ${pwsh}`);
  return 0;
}

process.exitCode = await main();
