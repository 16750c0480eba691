// Brings files from the target into the evidence through the session's transport: listed on the
// target, then fetched in one call (hashed where they lie, copied, and the copy hashed on both
// ends). Each file becomes a `file` record naming where its copy is in this step's folder.

export default async function fetchFiles({ ps, fetch, emit, params, log }) {
  if (!params.Paths.length) {
    log('nothing to fetch: pass --param fetch-files.Paths=PATH,… (files or folders on the target)');
    return;
  }
  const listed = await ps`
foreach ($p in ${params.Paths}) {
    if ([IO.File]::Exists($p)) { $items = @(Get-Item -LiteralPath $p -Force) }
    elseif ([IO.Directory]::Exists($p)) { $items = @(Get-ChildItem -LiteralPath $p -File -Recurse -Force -Attributes !ReparsePoint -ErrorAction SilentlyContinue) }
    else { [pscustomobject]@{ path = $p; missing = $true }; continue }
    foreach ($i in $items) { [pscustomobject]@{ path = $i.FullName; size = [long]$i.Length; modified = $i.LastWriteTimeUtc; missing = $false } }
}`;
  for (const m of listed.filter((f) => f.missing)) log(`not found on the target: ${m.path}`);
  const files = listed.filter((f) => !f.missing);
  const maxBytes = params.MaxSizeMB * 1024 * 1024;
  const wanted = files.filter((f) => f.size <= maxBytes).slice(0, params.MaxFiles);
  for (const f of files.filter((x) => !wanted.includes(x))) emit({ path: f.path, size: f.size, modified: f.modified, fetched: false, why: f.size > maxBytes ? `larger than ${params.MaxSizeMB} MB` : `more than ${params.MaxFiles} files` });
  if (!wanted.length) return;
  const local = await fetch(wanted.map((f) => f.path));
  const stepFolder = /[\\/](invocations[\\/]\d+[\\/]files[\\/].+)$/;
  wanted.forEach((f, i) => {
    const copy = stepFolder.exec(local[i])[1].replace(/\\/g, '/');
    emit({ path: f.path, size: f.size, modified: f.modified, fetched: true, copy });
  });
}
