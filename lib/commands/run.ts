// `magpie run`: a playbook on the targets, with progress, Ctrl-C handling and a summary.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { custodyActor } from '../identity.ts';
import { loadCatalog } from '../catalog.ts';
import { collect, type HostResult, type RemoteOptions } from '../collect.ts';
import { gssAvailable } from '../session/winrm/gssapi.ts';
import { normalizePin } from '../session/winrm/tls.ts';
import { Credentials, terminalPrompt } from '../credentials.ts';
import { InputError } from '../errors.ts';
import { safeSegment, timestampName } from '../evidence/names.ts';
import { buildPlan, parseParamArgs } from '../plan.ts';
import { JsonReporter, PlainReporter, useColor, type Reporter } from '../progress.ts';
import { dedupeTargets, parseTarget, readTargetsFile, type RemoteTransport, type Target } from '../targets.ts';
import { safeLine } from '../text.ts';
import { parse, USAGE, type Io } from './args.ts';
import { formatSummary } from './run-summary.ts';

/** Fails before anything runs when --out (or the folder it would be made in) cannot be written. */
function checkWritable(out: string): void {
  let dir = resolve(out);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`the evidence folder cannot be written here: ${dir} is not writable${code === 'EROFS' ? ' (a read-only file system)' : ''}; choose another --out`, { file: out });
  }
}

function wholeNumber(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new InputError(`--${name} must be a whole number of ${min} or more, not "${safeLine(text, 20)}"`);
  return n;
}

/** The --winrm-* options, checked before anything runs. */
function winrmOptions(values: Record<string, unknown>): NonNullable<RemoteOptions['winrm']> {
  const auth = values['winrm-auth'] as string;
  if (auth !== 'ntlm' && auth !== 'basic' && auth !== 'kerberos') throw new InputError(`--winrm-auth must be ntlm, kerberos or basic, not "${safeLine(auth, 20)}"`);
  if (auth === 'kerberos') {
    try {
      gssAvailable();
    } catch (e) {
      throw new InputError(`--winrm-auth kerberos: ${(e as Error).message}`);
    }
  }
  if (auth === 'basic' && !values['winrm-https']) throw new InputError('--winrm-auth basic sends the password readable by anyone on the path unless over HTTPS: add --winrm-https (port 5986)');
  let ca: string | undefined;
  if (values['winrm-ca']) {
    const file = values['winrm-ca'] as string;
    try {
      ca = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InputError(`cannot read the CA file: ${(e as Error).message}`, { file });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new InputError('not a PEM certificate file (no BEGIN CERTIFICATE line)', { file });
  }
  let certSha256: string | undefined;
  if (values['winrm-cert-sha256']) {
    try {
      certSha256 = normalizePin(values['winrm-cert-sha256'] as string);
    } catch (e) {
      throw new InputError(`--winrm-cert-sha256: ${(e as Error).message}`);
    }
  }
  const kb = wholeNumber('winrm-max-envelope-kb', values['winrm-max-envelope-kb'] as string, 32);
  return { https: values['winrm-https'] as boolean, auth, ca, certSha256, maxEnvelopeSize: kb * 1024 };
}

export async function cmdRun(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    target: { type: 'string', multiple: true, default: [] },
    targets: { type: 'string' },
    transport: { type: 'string', default: 'local' },
    case: { type: 'string', default: 'adhoc' },
    out: { type: 'string', default: 'evidence' },
    concurrency: { type: 'string', default: '16' },
    param: { type: 'string', multiple: true, default: [] },
    operator: { type: 'string' },
    tools: { type: 'string', default: 'tools' },
    'dry-run': { type: 'boolean', default: false },
    resume: { type: 'boolean', default: false },
    'connect-retries': { type: 'string', default: '0' },
    identity: { type: 'string', short: 'i', multiple: true, default: [] },
    'known-hosts': { type: 'string' },
    'accept-new-host-key': { type: 'boolean', default: false },
    'remote-shell': { type: 'string' },
    'winrm-https': { type: 'boolean', default: false },
    'winrm-auth': { type: 'string', default: 'ntlm' },
    'winrm-ca': { type: 'string' },
    'winrm-cert-sha256': { type: 'string' },
    'winrm-max-envelope-kb': { type: 'string', default: '500' },
    'ask-password': { type: 'boolean', default: false },
    'password-env': { type: 'string' },
    'credential-file': { type: 'string' },
    sign: { type: 'string' },
  });
  if (values.help) return io.out.write(USAGE + '\n'), 0;
  if (positionals.length !== 1) throw new InputError(`run takes one playbook name, got ${positionals.length}\n\n${USAGE}`);
  const transport = values.transport as string;
  if (!['local', 'ssh', 'winrm'].includes(transport)) throw new InputError(`--transport must be local, ssh or winrm, not "${safeLine(transport, 40)}"`);
  const concurrency = wholeNumber('concurrency', values.concurrency as string, 1);
  const connectRetries = wholeNumber('connect-retries', values['connect-retries'] as string, 0);
  const given = [values['ask-password'], values['password-env'], values['credential-file']].filter(Boolean).length;
  if (given > 1) throw new InputError('give one of --ask-password, --password-env and --credential-file');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.case as string)) throw new InputError('--case must be 1-64 letters, digits, dots, dashes or underscores (it names a folder)');

  let targets: Target[] = [
    ...(values.target as string[]).map((t) => parseTarget(t, transport as RemoteTransport)),
    ...(values.targets ? readTargetsFile(values.targets as string, transport as RemoteTransport) : []),
  ];
  if (targets.length === 0) {
    if (transport !== 'local') throw new InputError(`--transport ${transport} needs --target HOST or --targets FILE`);
    targets.push(parseTarget('localhost', 'local'));
  }
  targets = dedupeTargets(targets);
  const winrm = targets.some((t) => t.transport === 'winrm') ? winrmOptions(values) : undefined;

  const catalog = loadCatalog(values.playbooks as string[]);
  const plan = buildPlan(catalog, positionals[0], parseParamArgs(values.param as string[]));

  if (values['dry-run']) {
    const lines = plan.steps.map((s) => `${String(s.index).padStart(2, '0')} ${s.id}  timeout ${s.timeoutSec}s  params ${JSON.stringify(s.params)}  os ${Object.keys(s.scripts).join(',')}${s.onlyWithTools ? '  when tools-present' : ''}`);
    io.out.write(`playbook ${plan.playbook.name} (sha256 ${plan.playbook.sha256})\ntargets: ${targets.map((t) => `${t.transport}:${safeLine(t.name, 80)}`).join(', ')}\n${lines.join('\n')}\n(dry run: nothing was run; \`magpie show ${plan.playbook.name}\` prints the scripts)\n`);
    return 0;
  }

  checkWritable(values.out as string);
  if (values.sign && !existsSync(values.sign as string)) throw new InputError('signing key not found (--sign)', { file: values.sign as string });
  const remote = targets.some((t) => t.transport !== 'local');
  const credentials = remote
    ? await Credentials.load(
        {
          passwordEnv: values['password-env'] as string | undefined,
          credentialFile: values['credential-file'] as string | undefined,
          askPassword: values['ask-password'] as boolean,
          identities: values.identity as string[],
          prompt: terminalPrompt(process.stdin, process.stderr),
        },
        targets,
      )
    : undefined;

  const controller = new AbortController();
  // One abort listener per running step (removed after it): at --concurrency 16 Node would warn at 11.
  setMaxListeners(Math.max(10, concurrency * 2 + 10), controller.signal);
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      io.err.write('\nmagpie: interrupted — stopping the current step and sealing what was collected (Ctrl-C again to quit at once)\n');
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const names = targets.map((t) => t.name);
  const reporter: Reporter = values.json
    ? new JsonReporter(io.out)
    : io.err.isTTY && useColor(io.err as NodeJS.WriteStream)
      ? names.length > 8
        ? new (await import('../progress-counter.ts')).CounterReporter(plan, names, io.err as NodeJS.WriteStream)
        : new (await import('../progress-tree.ts')).TreeReporter(plan, names)
      : new PlainReporter(io.err);
  const started = new Date();
  try {
    const results = await collect({
      plan,
      targets,
      transport: transport as RemoteTransport,
      out: values.out as string,
      caseId: values.case as string,
      concurrency,
      operator: values.operator as string | undefined,
      toolsDir: values.tools as string,
      signal: controller.signal,
      onEvent: (e) => reporter.onEvent(e),
      resume: values.resume as boolean,
      remote: {
        credentials,
        knownHostsFile: values['known-hosts'] as string | undefined,
        acceptNewHostKey: values['accept-new-host-key'] as boolean,
        remoteShell: values['remote-shell'] as string | undefined,
        connectRetries,
        winrm,
      },
    });
    await reporter.done();
    if (values.sign) {
      const { signHead } = await import('../evidence/sign.ts');
      for (const r of results) {
        if (!r.dir || r.state === 'resumed') continue;
        const s = await signHead(r.dir, values.sign as string, custodyActor(values.operator as string | undefined));
        io.err.write(`signed ${safeLine(r.dir)}: custody head ${s.head} with ${s.fingerprint}\n`);
      }
    }
    let summaryFile: string | null = null;
    try {
      summaryFile = saveRunSummary(values.out as string, values.case as string, started, plan.playbook.name, results);
    } catch (e) {
      // The evidence is sealed already; a full disk must not turn that into a crash.
      io.err.write(`magpie: the run summary could not be saved: ${safeLine((e as Error).message)}\n`);
    }
    const failed = results.filter((r) => (r.state !== 'complete' && r.state !== 'resumed') || r.failedSteps > 0);
    if (values.json) {
      io.out.write(JSON.stringify({ type: 'summary', file: summaryFile, hosts: results }) + '\n');
    } else {
      io.out.write(formatSummary(plan, results));
      if (summaryFile) io.out.write(`run summary: ${safeLine(summaryFile)}\n`);
      if (results.length === 1 && results[0].dir) io.out.write(`  next: magpie triage ${safeLine(results[0].dir)}   (magpie verify / magpie pack for hand-over)\n`);
      else if (results.some((r) => r.dir)) io.out.write(`  next: magpie triage ${safeLine(join(values.out as string, values.case as string))}   (every host of the case)\n`);
    }
    // 130 (128 + SIGINT) as shells and npx report an interrupted command.
    if (controller.signal.aborted) return 130;
    return failed.length ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** `<out>/<case>/runs/<stamp>.json`: the host × step table with each host's evidence folder, never overwritten. */
function saveRunSummary(out: string, caseId: string, started: Date, playbook: string, results: HostResult[]): string {
  const dir = join(out, safeSegment(caseId), 'runs');
  mkdirSync(dir, { recursive: true });
  const body = JSON.stringify({ schema: 'magpie.run/1', case: caseId, playbook, started: started.toISOString(), ended: new Date().toISOString(), hosts: results }, null, 2) + '\n';
  for (let n = 1; ; n++) {
    const file = join(dir, `${timestampName(started)}${n === 1 ? '' : `-${n}`}.json`);
    try {
      writeFileSync(file, body, { flag: 'wx' });
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
