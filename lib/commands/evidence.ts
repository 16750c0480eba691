// `magpie verify` and `pack`: checking a folder, and handing it over.
import { InputError } from '../errors.ts';
import { custodyActor } from '../identity.ts';
import { verifyEvidence } from '../evidence/verify.ts';
import { safeLine } from '../text.ts';
import { parse, USAGE, type Io } from './args.ts';

export async function cmdPack(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' } });
  if (positionals.length !== 1) throw new InputError(`pack takes one evidence folder\n\n${USAGE}`);
  const { packEvidence } = await import('../evidence/pack.ts');
  const r = await packEvidence(positionals[0], values.out as string | undefined);
  if (values.json) io.out.write(JSON.stringify(r) + '\n');
  else io.out.write(`packed ${r.files} files into ${safeLine(r.zip)} (${r.size} bytes)\n  sha256 ${r.sha256} (also in ${safeLine(r.zip)}.sha256)\n`);
  return 0;
}

/** `magpie sign DIR... --key KEY`: signs each sealed folder's custody head with an SSH private key. */
export async function cmdSign(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { key: { type: 'string' } });
  if (positionals.length === 0 || !values.key) throw new InputError(`sign takes one or more evidence folders and --key PRIVATE_KEY\n\n${USAGE}`);
  const { signHead } = await import('../evidence/sign.ts');
  for (const dir of positionals) {
    const r = await signHead(dir, values.key as string, custodyActor());
    io.out.write(values.json ? JSON.stringify({ dir, ...r }) + '\n' : `signed ${safeLine(dir)}: head ${r.head} with ${r.fingerprint}\n`);
  }
  return 0;
}

export async function cmdVerify(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { key: { type: 'string' } });
  if (positionals.length === 0) throw new InputError(`verify takes one or more evidence folders\n\n${USAGE}`);
  let bad = 0;
  for (const dir of positionals) {
    const ora = !values.json && io.err.isTTY ? (await import('ora')).default : undefined;
    const spinner = ora ? ora({ text: `verifying ${dir}`, stream: io.err as NodeJS.WriteStream }).start() : undefined;
    const report = await verifyEvidence(dir, (done, total) => spinner && (spinner.text = `verifying ${dir} ${done}/${total}`));
    spinner?.stop();
    if (values.key) {
      // A signature by the key the responder trusts, over the seal head: the folder is as sealed.
      const { checkSignatures } = await import('../evidence/sign.ts');
      const sig = checkSignatures(dir, values.key as string);
      report.problems.push(...sig.problems);
      report.ok &&= sig.problems.length === 0;
      if (sig.valid) report.notes.push(`custody head signed by ${sig.fingerprint}: signature verifies`);
    }
    if (!report.ok) bad++;
    if (values.json) {
      io.out.write(JSON.stringify(report) + '\n');
      continue;
    }
    io.out.write(`${report.ok ? 'OK' : 'FAILED'} ${safeLine(dir)}: ${report.checked} files checked\n`);
    for (const f of report.changed) io.out.write(`  changed: ${safeLine(f)}\n`);
    for (const f of report.missing) io.out.write(`  missing: ${safeLine(f)}\n`);
    for (const f of report.added) io.out.write(`  added:   ${safeLine(f)}\n`);
    for (const p of report.problems) io.out.write(`  problem: ${safeLine(p)}\n`);
    for (const n of report.notes) io.out.write(`  note:    ${safeLine(n)}\n`);
    for (const t of report.triageRuns) io.out.write(`  triage:  ${safeLine(t.dir)} (${t.time})\n`);
    if (report.sealHead && report.sealHead !== report.head) io.out.write(`  sealed:  ${report.sealHead} (custody head when collection ended)\n`);
    if (report.head) io.out.write(`  head:    ${report.head} (custody chain head: note it in the ticket; any rewrite of the folder changes it)\n`);
  }
  return bad ? 1 : 0;
}
