// Finds the PowerShell executable that hosts sessions and runs one-shot commands.
import { existsSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { delimiter, join } from 'node:path';

export const PWSH_VERSION = '7.6.9';
export const INSTALL_HINT =
  `PowerShell 7 was not found. Install it with \`npm run setup\` (runs ` +
  `\`dotnet tool install --global PowerShell --version ${PWSH_VERSION}\`), ` +
  `or set MAGPIE_PWSH to the path of pwsh (or powershell.exe on Windows).`;

export class PwshMissingError extends Error {
  constructor() {
    super(INSTALL_HINT);
    this.name = 'PwshMissingError';
  }
}

/** The folder where `dotnet tool install --global` puts its shims. */
export function dotnetToolsDir(): string {
  return process.env.DOTNET_TOOLS_DIR ?? join(homedir(), '.dotnet', 'tools');
}

function onPath(name: string): string | undefined {
  const exts = platform() === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, name + ext);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Resolves pwsh: MAGPIE_PWSH, then PATH, then the dotnet global-tool folder. Never guesses. */
export function findPwsh(): string | undefined {
  const override = process.env.MAGPIE_PWSH;
  if (override) return existsSync(override) ? override : undefined;
  const found = onPath('pwsh');
  if (found) return found;
  const tool = join(dotnetToolsDir(), platform() === 'win32' ? 'pwsh.exe' : 'pwsh');
  if (existsSync(tool)) return tool;
  if (platform() === 'win32') return onPath('powershell');
  return undefined;
}

export function requirePwsh(): string {
  const found = findPwsh();
  if (!found) throw new PwshMissingError();
  return found;
}

/** Arguments every PowerShell we start gets: no profile (a responder's profile is not evidence-safe), no prompts. */
export const PWSH_ARGS = ['-NoLogo', '-NoProfile', '-NonInteractive'];
