# processes (Linux): read from /proc directly, so a tampered `ps` cannot hide anything from us.
$users = @{}
foreach ($line in Get-Content -LiteralPath '/etc/passwd' -ErrorAction SilentlyContinue) {
    $f = $line.Split(':')
    if ($f.Count -ge 3) { $users[$f[2]] = $f[0] }
}
$bootSeconds = 0
foreach ($line in Get-Content -LiteralPath '/proc/stat') {
    if ($line -like 'btime *') { $bootSeconds = [long]($line.Split(' ')[1]) }
}
$boot = [DateTimeOffset]::FromUnixTimeSeconds($bootSeconds).UtcDateTime
$ticks = 100
$clk = (& getconf CLK_TCK 2>$null)
if ($clk -match '^\d+$') { $ticks = [int]$clk }

$procs = New-Object System.Collections.Generic.List[object]
foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
    $procId = [IO.Path]::GetFileName($dir)
    if ($procId -notmatch '^\d+$') { continue }
    try { $stat = [IO.File]::ReadAllText("$dir/stat") } catch { continue }
    # The name may hold spaces and parentheses: the fields after it start at the last ')'.
    $open = $stat.IndexOf('(')
    $close = $stat.LastIndexOf(')')
    $name = $stat.Substring($open + 1, $close - $open - 1)
    $fields = $stat.Substring($close + 2).Split(' ')
    $exe = $null
    try { $link = [IO.File]::ResolveLinkTarget("$dir/exe", $false); if ($link) { $exe = $link.FullName } } catch { $exe = $null }
    $cmd = $null
    try {
        $bytes = [IO.File]::ReadAllBytes("$dir/cmdline")
        if ($bytes.Length) { $cmd = ([Text.Encoding]::UTF8.GetString($bytes).TrimEnd([char]0)).Replace([char]0, ' ') }
    } catch { $cmd = $null }
    $uid = $null
    try {
        foreach ($l in [IO.File]::ReadAllLines("$dir/status")) { if ($l.StartsWith('Uid:')) { $uid = ($l -split '\s+')[1]; break } }
    } catch { $uid = $null }
    $procs.Add([pscustomobject]@{
        pid         = [int]$procId
        ppid        = [int]$fields[1]
        name        = $name
        path        = $exe
        commandLine = $cmd
        user        = $(if ($null -ne $uid -and $users.ContainsKey($uid)) { $users[$uid] } else { $uid })
        startTime   = $boot.AddSeconds([double]$fields[19] / $ticks)
        sha256      = $null
        signatureStatus = $null
        signer      = $null
        signed      = $null
        deleted     = $(if ($exe) { $exe.EndsWith(' (deleted)') } else { $false })
    })
}

# Each distinct image once: hashing and package checks dominate the step's time.
# Linux paths are case-sensitive, so the table is too (a plain @{} is not).
$images = New-Object System.Collections.Hashtable ([StringComparer]::Ordinal)
foreach ($p in $procs) {
    if ($p.path -and -not $images.ContainsKey($p.path)) { $images[$p.path] = [pscustomobject]@{ via = "/proc/$($p.pid)/exe"; sha256 = $null; package = $null; status = $null } }
}
if ($Params.HashImages) {
    foreach ($img in $images.Values) {
        # Through /proc/<pid>/exe: still readable when the file on disk was deleted or replaced.
        try { $img.sha256 = (Get-FileHash -LiteralPath $img.via -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant() } catch { Write-Warning "cannot hash $($img.via): $($_.Exception.Message)" }
    }
}
if ($Params.CheckSignatures) {
    $dpkg = Get-Command dpkg-query -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if (-not $dpkg) {
        foreach ($img in $images.Values) { $img.status = 'Unknown' }
        Write-Warning 'dpkg-query not found: package ownership not checked'
    } else {
        # usr-merge: /usr/bin/x is often registered as /bin/x, so ask for both spellings.
        $queries = New-Object System.Collections.Hashtable ([StringComparer]::Ordinal)
        foreach ($path in $images.Keys) {
            $clean = $path -replace ' \(deleted\)$', ''
            $queries[$clean] = $path
            if ($clean -like '/usr/*') { $queries[$clean.Substring(4)] = $path }
        }
        $owners = New-Object System.Collections.Hashtable ([StringComparer]::Ordinal)
        if ($queries.Count) {
            foreach ($line in (& $dpkg.Source -S -- @($queries.Keys) 2>$null)) {
                if ($line -match '^(.+?): (/.*)$' -and $queries.ContainsKey($Matches[2])) {
                    $pkg = ($Matches[1] -split ', ')[0]
                    $owners[$queries[$Matches[2]]] = @{ package = $pkg; registered = $Matches[2] }
                }
            }
        }
        foreach ($path in @($images.Keys)) {
            $img = $images[$path]
            if (-not $owners.ContainsKey($path)) { $img.status = 'NotPackaged'; continue }
            $o = $owners[$path]
            $img.package = $o.package
            $sums = @("/var/lib/dpkg/info/$($o.package).md5sums") + @(Get-ChildItem -Path "/var/lib/dpkg/info/$($o.package):*.md5sums" -ErrorAction SilentlyContinue | ForEach-Object { $_.FullName })
            $expected = $null
            $want = $o.registered.TrimStart('/')
            foreach ($sumFile in $sums) {
                if (-not (Test-Path -LiteralPath $sumFile)) { continue }
                foreach ($l in [IO.File]::ReadAllLines($sumFile)) {
                    $parts = $l.Split(@(' '), 2, [StringSplitOptions]::None)
                    if ($parts.Count -eq 2 -and $parts[1].Trim() -eq $want) { $expected = $parts[0]; break }
                }
            }
            if (-not $expected) { $img.status = 'Unknown'; continue }
            try {
                $md5 = (Get-FileHash -LiteralPath $img.via -Algorithm MD5 -ErrorAction Stop).Hash.ToLowerInvariant()
                $img.status = $(if ($md5 -eq $expected) { 'PackageVerified' } else { 'PackageModified' })
            } catch { $img.status = 'Unknown' }
        }
    }
}
foreach ($p in $procs) {
    if ($p.path -and $images.ContainsKey($p.path)) {
        $img = $images[$p.path]
        $p.sha256 = $img.sha256
        $p.signatureStatus = $img.status
        $p.signer = $img.package
        $p.signed = $(if ($img.status) { $img.status -eq 'PackageVerified' } else { $null })
    }
    $p
}
