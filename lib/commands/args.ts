// What every command shares: the usage text, option parsing that turns mistakes into exit 2,
// and the output streams.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../errors.ts';
import { TOOL_VERSION } from '../version.ts';

export const USAGE = `magpie ${TOOL_VERSION} — incident-response playbooks through PowerShell

Usage:
  magpie run PLAYBOOK [--target HOST]... [--targets FILE] [--transport local|ssh|winrm]
                      [--case ID] [--out DIR] [--concurrency N] [--param k=v]...
                      [--playbooks DIR]... [--tools DIR] [--operator NAME] [--dry-run] [--json]
                      [--resume] [--connect-retries N] [--sign PRIVATE_KEY]
                      SSH: [--identity KEY]... [--known-hosts FILE] [--accept-new-host-key]
                           [--remote-shell EXE]
                      WinRM: [--winrm-https] [--winrm-auth ntlm|kerberos|basic] [--winrm-ca PEM]
                           [--winrm-cert-sha256 HEX] [--winrm-max-envelope-kb N] [--remote-shell EXE]
                      passwords: [--ask-password | --password-env NAME | --credential-file FILE]
                      (targets: host, host:port, user@host:port, ssh://user@host:port,
                       winrm://DOMAIN\\user@host (HTTP 5985, NTLM-encrypted), winrms://user@host (HTTPS 5986))
  magpie list     [--playbooks DIR]... [--json]
  magpie show     PLAYBOOK [--os windows|linux] [--param k=v]... [--playbooks DIR]...
  magpie validate [--playbooks DIR]...
  magpie verify   DIR... [--key PUBLIC_KEY] [--json]
  magpie sign     DIR... --key PRIVATE_KEY     (signs the custody head; SSH or PEM key)
  magpie pack     DIR [--out FILE.zip] [--json]
  magpie triage   DIR... [--rules DIR]... [--ioc FILE]... [--strict-ioc] [--vt] [--offline]
                  [--vt-rate N] [--vt-cache DIR] [--json]
  magpie import   KIND FILE... --host NAME [--case ID] [--out DIR] [--date-order dmy|mdy]
  magpie import   --host NAME KIND:FILE... | --kind KIND FILE... [--kind KIND FILE...]
                  (KIND: autoruns, netstat, tasklist, processes-csv, defender, velociraptor)

Exit codes: 0 all ok, 1 some step or host failed, 2 bad usage or invalid input, 130 interrupted.
Parameters: --param Name=value for a playbook parameter, --param step.Name=value for one step's.`;

const COMMON = {
  playbooks: { type: 'string', multiple: true, default: [] as string[] },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new InputError(`${(e as Error).message}\n\n${USAGE}`);
  }
}

