// Where the project's own files are, from source (lib/) or from the bundle (dist/): both sit
// one level below the project root.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUILTIN_DIR = join(ROOT_DIR, 'playbooks');
export const POWERSHELL_DIR = join(ROOT_DIR, 'lib', 'powershell');
