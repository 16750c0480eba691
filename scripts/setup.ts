#!/usr/bin/env -S npx tsx
// Provisions what Magpie needs on a responder workstation: PowerShell 7 from the .NET global tool.
// Also Wireshark's tshark, which triage reads captures with (said, not fatal, when it cannot be
// installed). With --test, what the test suite needs too: Debian's Chromium for the report test,
// libevtx-utils (evtxexport) for the .evtx import test, tcpdump for the capture test, yara for
// the yara-fetched example.
// Runs from `npm install` (postinstall), `npm test` (--test) and `npm run setup`; safe to run again.
import { existsSync } from 'node:fs';
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
  // Triage reads captures with tshark: wanted on every responder, but triage without captures
  // works without it, so its absence is said, not fatal (triage says it again per capture).
  const tshark = await ensureDebianTool('tshark', 'tshark', 'triage of packet captures');
  if (process.argv.includes('--test')) {
    const chromium = await ensureChromium();
    const evtx = await ensureDebianTool('evtxexport', 'libevtx-utils', 'the .evtx import test');
    const tcpdump = await ensureDebianTool('tcpdump', 'tcpdump', 'the traffic-capture test');
    const yara = await ensureDebianTool('yara', 'yara', 'the yara-fetched example\'s test');
    return chromium || evtx || tshark || tcpdump || yara;
  }
  return 0;
}

async function ensureChromium(): Promise<number> {
  const path = process.env.MAGPIE_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(path)) return 0;
  const root = process.getuid?.() === 0;
  const apt = (await $`which apt-get`.nothrow()).exitCode === 0;
  if (!root || !apt) {
    console.error(`magpie setup: the report test needs Chromium at ${path}. Install Debian's package (sudo apt-get install chromium) or set MAGPIE_CHROMIUM.`);
    return 1;
  }
  console.log('magpie setup: installing Chromium for the report test (apt-get install chromium)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await $({ env })`apt-get update`.nothrow();
  const r = await $({ env })`apt-get install -y --no-install-recommends chromium`.nothrow();
  if (r.exitCode !== 0 || !existsSync(path)) {
    console.error(`magpie setup: apt-get install chromium failed:\n${r.stderr.slice(-2000)}`);
    return 1;
  }
  return 0;
}

/**
 * A Debian package that provides `binary`, installed with apt-get where missing (as root). `why`
 * says what needs it. Returns 0 when the program is there afterwards, else 1 with what to run.
 */
async function ensureDebianTool(binary: string, pkg: string, why: string): Promise<number> {
  if ((await $`which ${binary}`.nothrow()).exitCode === 0) return 0;
  const root = process.getuid?.() === 0;
  const apt = (await $`which apt-get`.nothrow()).exitCode === 0;
  if (!root || !apt) {
    console.error(`magpie setup: ${why} needs ${binary}. Install Debian's package (sudo apt-get install ${pkg}) or your system's equivalent.`);
    return 1;
  }
  console.log(`magpie setup: installing ${binary} for ${why} (apt-get install ${pkg})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = await $({ env })`apt-get install -y --no-install-recommends ${pkg}`.nothrow();
  if (r.exitCode !== 0) {
    await $({ env })`apt-get update`.nothrow();
    r = await $({ env })`apt-get install -y --no-install-recommends ${pkg}`.nothrow();
  }
  if (r.exitCode !== 0 || (await $`which ${binary}`.nothrow()).exitCode !== 0) {
    console.error(`magpie setup: apt-get install ${pkg} failed:\n${r.stderr.slice(-2000)}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
