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

# Names of kernel threads (kworker/0:1, kswapd0, ksoftirqd/3, rcu_sched, …): miners and implants
# take them (kswapd0, kdevtmpfsi, kthreaddi, [kworker/0:0]) to pass a glance at ps.
$kernelNames = '^(kworker|kswapd|ksoftirqd|kthreadd|kdevtmpfs|khugepaged|kcompactd|kblockd|kauditd|khungtaskd|kintegrityd|oom_reaper|rcu_|migration/|watchdog/|cpuhp/|irq/|jbd2/)'
$PF_KTHREAD = 0x00200000
# Strict: throws on bytes that are not UTF-8, so a lossy name is noticed and kept in base64.
$utf8Strict = New-Object System.Text.UTF8Encoding($false, $true)
$lossyLinks = New-Object System.Collections.Generic.List[string]

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
    $cmdBase64 = $null
    $argv = @()
    try {
        $bytes = [IO.File]::ReadAllBytes("$dir/cmdline")
        if ($bytes.Length) {
            $text = $null
            try { $text = $utf8Strict.GetString($bytes) } catch { $text = [Text.Encoding]::UTF8.GetString($bytes); $cmdBase64 = [Convert]::ToBase64String($bytes) }
            $argv = $text.TrimEnd([char]0).Split([char]0)
            $cmd = $text.TrimEnd([char]0).Replace([char]0, ' ')
        }
    } catch { $cmd = $null }
    $uid = $null
    try {
        foreach ($l in [IO.File]::ReadAllLines("$dir/status")) { if ($l.StartsWith('Uid:')) { $uid = ($l -split '\s+')[1]; break } }
    } catch { $uid = $null }

    # Kernel threads carry PF_KTHREAD (readable by anyone, unlike /proc/<pid>/exe); a process that
    # is not one but is named like one, or shows a [bracketed] name as ps shows kernel threads, is
    # a look-alike.
    $kthread = (([long]$fields[6]) -band $PF_KTHREAD) -ne 0
    $lookalike = (-not $kthread) -and (($name -match $kernelNames) -or ($argv.Count -and $argv[0] -match '^\[.+\]$'))
    $clean = $null
    if ($exe) { $clean = $exe -replace ' \(deleted\)$', '' }
    # comm is the executed file's name cut to 15 characters, or what the process set (prctl). It
    # names neither the image nor an argument (a script's path follows its interpreter) when the
    # process renamed itself to look like something else.
    $mismatch = $null
    if ($clean -and $name) {
        $mismatch = $true
        $candidates = [System.Collections.Generic.List[string]]::new()
        $candidates.Add([IO.Path]::GetFileName($clean))
        for ($i = 0; $i -lt [Math]::Min(4, $argv.Count); $i++) { $candidates.Add($argv[$i]); $candidates.Add([IO.Path]::GetFileName($argv[$i])) }
        foreach ($c in $candidates) {
            # Either way round: 'tmux: server' is tmux's own name for itself.
            if ($c -and ($c.StartsWith($name, [StringComparison]::Ordinal) -or ($c.Length -ge 3 -and $name.StartsWith($c, [StringComparison]::Ordinal)))) { $mismatch = $false; break }
        }
    }
    $location = $null
    if ($clean) {
        if ($clean.StartsWith('/memfd:')) { $location = 'memfd' }
        elseif ($clean -match '^/(tmp|var/tmp|dev/shm|run/shm|run/user/[0-9]+)/') { $location = 'tmp' }
        elseif ($clean -match '/\.[^/]') { $location = 'hidden' }
        else { $location = 'other' }
    }
    if ($exe -and $exe.IndexOf([char]0xFFFD) -ge 0) { $lossyLinks.Add($procId) }
    $procs.Add([pscustomobject]@{
        pid         = [int]$procId
        ppid        = [int]$fields[1]
        name        = $name
        path        = $exe
        commandLine = $cmd
        user        = $(if ($null -ne $uid -and $users.ContainsKey($uid)) { $users[$uid] } else { $uid })
        startTime   = $boot.AddSeconds([double]$fields[19] / $ticks)
        cpuSeconds  = [Math]::Round(([double]$fields[11] + [double]$fields[12]) / $ticks, 2)
        sha256      = $null
        signatureStatus = $null
        signer      = $null
        signed      = $null
        deleted     = $(if ($exe) { $exe.EndsWith(' (deleted)') } else { $false })
        imageLocation = $location
        kernelThread = $kthread
        kernelThreadLookalike = $lookalike
        nameMismatch = $mismatch
    })
    if ($cmdBase64) { $procs[$procs.Count - 1] | Add-Member -NotePropertyName commandLineBase64 -NotePropertyValue $cmdBase64 }
}

# .NET decodes link targets as UTF-8 and replaces bytes that are not with U+FFFD: for those few
# processes, the kernel's bytes from readlink (one shell for all of them), so evidence names the
# real file. The display path stays as it was.
if ($lossyLinks.Count) {
    $raw = @{}
    $readlink = 'for p; do printf ''%s '' $p; readlink -n /proc/$p/exe | base64 | tr -d ''\n''; echo; done'
    foreach ($line in (& /bin/sh -c $readlink sh $lossyLinks.ToArray() 2>$null)) {
        $parts = "$line".Split(' ')
        if ($parts.Count -eq 2 -and $parts[1]) { $raw[[int]$parts[0]] = $parts[1] }
    }
    foreach ($p in $procs) {
        if ($raw.ContainsKey($p.pid)) { $p | Add-Member -NotePropertyName pathBase64 -NotePropertyValue $raw[$p.pid] }
    }
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
