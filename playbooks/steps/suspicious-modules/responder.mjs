// Loaded modules of the processes this run flags: a team step written as a zx module. The
// choice of processes (triage findings) and of what to hash (outside the system folder) is made
// here, on the responder; listing and hashing happen on the target through `ps`.

const LINUX_SYSTEM = ['/usr/', '/lib/', '/lib32/', '/lib64/', '/bin/', '/sbin/'];

function inSystemFolder(path, os, systemRoot) {
  if (os === 'windows') return path.toLowerCase().startsWith(`${systemRoot.replace(/\\+$/, '')}\\system32\\`.toLowerCase());
  return LINUX_SYSTEM.some((p) => path.startsWith(p));
}

async function listModules(ps, os, pid) {
  if (os === 'windows') {
    return ps`
$p = Get-Process -Id ${pid} -ErrorAction Stop
$root = $env:SystemRoot
foreach ($m in $p.Modules) {
    [pscustomobject]@{ path = $m.FileName; module = $m.ModuleName; process = $p.ProcessName; systemRoot = $root; baseAddress = ('0x{0:x}' -f [long]$m.BaseAddress); memorySize = $m.ModuleMemorySize }
}`;
  }
  return ps`
$name = [IO.File]::ReadAllText("/proc/${pid}/comm").Trim()
$seen = @{}
foreach ($line in [IO.File]::ReadAllLines("/proc/${pid}/maps")) {
    $parts = $line -split '\s+', 6
    if ($parts.Count -lt 6 -or -not $parts[5].StartsWith('/') -or $seen.ContainsKey($parts[5])) { continue }
    $seen[$parts[5]] = $true
    $deleted = $parts[5].EndsWith(' (deleted)')
    $path = if ($deleted) { $parts[5].Substring(0, $parts[5].Length - 10) } else { $parts[5] }
    [pscustomobject]@{ path = $path; module = [IO.Path]::GetFileName($path); process = $name; deleted = $deleted }
}`;
}

async function hashFiles(ps, os, paths) {
  if (!paths.length) return [];
  if (os === 'windows') {
    return ps`
foreach ($f in ${paths}) {
    try {
        $item = Get-Item -LiteralPath $f -Force -ErrorAction Stop
        $sha = (Get-FileHash -LiteralPath $f -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
        $sig = Get-AuthenticodeSignature -LiteralPath $f
        $signer = if ($sig.SignerCertificate) { $sig.SignerCertificate.Subject } else { $null }
        [pscustomobject]@{ path = $f; size = [long]$item.Length; sha256 = $sha; signatureStatus = [string]$sig.Status; signer = $signer; signed = ([string]$sig.Status -eq 'Valid'); error = $null }
    } catch {
        [pscustomobject]@{ path = $f; error = $_.Exception.Message }
    }
}`;
  }
  return ps`
foreach ($f in ${paths}) {
    try {
        $item = Get-Item -LiteralPath $f -Force -ErrorAction Stop
        $sha = (Get-FileHash -LiteralPath $f -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
        [pscustomobject]@{ path = $f; size = [long]$item.Length; sha256 = $sha; error = $null }
    } catch {
        [pscustomobject]@{ path = $f; error = $_.Exception.Message }
    }
}`;
}

export default async function suspiciousModules({ ps, emit, flagged, params, os, log }) {
  const chosen = new Map();
  // A level that is none would let every process through.
  if (!['critical', 'high', 'medium', 'low', 'informational'].includes(params.Level)) throw new Error(`Level: "${params.Level}" is not a level (critical, high, medium, low, informational)`);
  for (const f of await flagged(params.Level)) chosen.set(f.pid, f.rules);
  for (const pid of params.Pids) {
    if (!/^\d+$/.test(pid)) throw new Error(`Pids: "${pid}" is not a process ID`);
    chosen.set(Number(pid), [...(chosen.get(Number(pid)) ?? []), 'given']);
  }
  if (!chosen.size) {
    log(`no process is flagged at ${params.Level} or above in this run's records (run the processes step first), and no Pids were given`);
    return;
  }
  for (const [pid, rules] of chosen) {
    let modules;
    try {
      modules = await listModules(ps, os, pid);
    } catch (e) {
      // Gone since it was collected, or out of this account's reach: said, and the next one is looked at.
      if (e.name !== 'PsError') throw e;
      log(`process ${pid}: modules not listed: ${e.message}`);
      continue;
    }
    const systemRoot = modules[0]?.systemRoot || 'C:\\Windows';
    const outside = [...new Set(modules.filter((m) => !m.deleted && !inSystemFolder(m.path, os, systemRoot)).map((m) => m.path))];
    const hashes = new Map((await hashFiles(ps, os, outside)).map((h) => [h.path, h]));
    log(`process ${pid} (${modules[0]?.process ?? '?'}; ${rules.join(', ')}): ${modules.length} modules, ${outside.length} outside the system folder`);
    for (const m of modules) {
      const h = hashes.get(m.path);
      const { systemRoot: _root, ...module } = m;
      emit({
        ...module,
        pid,
        flaggedBy: rules,
        systemFolder: inSystemFolder(m.path, os, systemRoot),
        ...(h ? { size: h.size ?? null, sha256: h.sha256 ?? null, ...(os === 'windows' ? { signatureStatus: h.signatureStatus ?? null, signer: h.signer ?? null, signed: h.signed ?? null } : {}), ...(h.error ? { hashError: h.error } : {}) } : {}),
      });
    }
  }
}
