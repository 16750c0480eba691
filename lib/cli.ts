// The `magpie` command: dispatches to lib/commands/, maps outcomes to exit codes
// 0 (all ok), 1 (some step or host failed), 2 (bad usage or invalid input).
import { isInputError, InputError } from './errors.ts';
import { PwshMissingError } from './pwsh.ts';
import { safeLine } from './text.ts';
import { TOOL_VERSION } from './version.ts';
import { USAGE, type Io } from './commands/args.ts';

export type { Io };

export async function main(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await (await import('./commands/run.ts')).cmdRun(rest, io);
      case 'list':
        return (await import('./commands/catalog.ts')).cmdList(rest, io);
      case 'show':
        return (await import('./commands/catalog.ts')).cmdShow(rest, io);
      case 'validate':
        return await (await import('./commands/catalog.ts')).cmdValidate(rest, io);
      case 'verify':
        return await (await import('./commands/evidence.ts')).cmdVerify(rest, io);
      case 'sign':
        return await (await import('./commands/evidence.ts')).cmdSign(rest, io);
      case 'pack':
        return await (await import('./commands/evidence.ts')).cmdPack(rest, io);
      case 'triage':
        return await (await import('./commands/triage.ts')).cmdTriage(rest, io);
      case 'import':
        return await (await import('./commands/import.ts')).cmdImport(rest, io);
      case '--version':
      case 'version':
        io.out.write(`${TOOL_VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out.write(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new InputError(`unknown command "${safeLine(command, 40)}"\n\n${USAGE}`);
    }
  } catch (e) {
    if (isInputError(e)) {
      io.err.write(`magpie: ${e.toString().replace(/^InputErrors?: /, '')}\n`);
      return 2;
    }
    if (e instanceof PwshMissingError) {
      io.err.write(`magpie: ${e.message}\n`);
      return 2;
    }
    io.err.write(`magpie: ${safeLine((e as Error).stack ?? String(e), 4000)}\n`);
    return 1;
  }
}

