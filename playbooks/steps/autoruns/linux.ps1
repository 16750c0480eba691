# autoruns (Linux): systemd units, cron tables, rc.local, ld.so.preload, profile.d, authorized_keys.
$found = New-Object System.Collections.Generic.List[object]

function Add-MagpieAutorun($Location, $Entry, $Category, $Launch, $Owner, $Time, $Image) {
    if (-not $Image -and $Launch) {
        # The program a command line runs: its first word, without systemd's -@:+! prefixes.
        $Image = (($Launch.Trim() -split '\s+')[0]).TrimStart('-', '@', ':', '+', '!')
    }
    $found.Add([pscustomobject]@{
        location = $Location; entry = $Entry; category = $Category; enabled = $true; profile = $Owner
        imagePath = $Image; imageExists = $null; launchString = $Launch; time = $Time; sha256 = $null
        signer = $null; signed = $null; signatureStatus = $null
    })
}
function Get-MagpieLines([string]$File) {
    try { return [IO.File]::ReadAllLines($File) } catch { Write-Warning "cannot read ${File}: $($_.Exception.Message)"; return @() }
}

# systemd: units enabled through .wants/ links, and unit files an administrator (or intruder) added.
$unitFiles = @{}
foreach ($root in @('/etc/systemd/system', '/run/systemd/system')) {
    if (-not [IO.Directory]::Exists($root)) { continue }
    foreach ($f in [IO.Directory]::GetFiles($root, '*.service', [IO.SearchOption]::AllDirectories)) {
        $target = $f
        try { $link = [IO.File]::ResolveLinkTarget($f, $true); if ($link) { $target = $link.FullName } } catch { $target = $f }
        if ($target -eq '/dev/null') { continue } # masked
        $unitFiles[$f] = $target
    }
}
foreach ($unit in $unitFiles.Keys) {
    $file = $unitFiles[$unit]
    foreach ($line in (Get-MagpieLines $file)) {
        if ($line -match '^\s*Exec(Start|StartPre|StartPost|Reload)\s*=\s*(.+)$') {
            Add-MagpieAutorun ([IO.Path]::GetDirectoryName($unit)) ([IO.Path]::GetFileName($unit)) 'Services' $Matches[2] 'root' ([IO.File]::GetLastWriteTimeUtc($file)) $null
        }
    }
}

# cron: the system table and cron.d carry a user field; per-user tables do not.
$cronFiles = @()
if ([IO.File]::Exists('/etc/crontab')) { $cronFiles += @{ file = '/etc/crontab'; user = $null } }
foreach ($dir in @('/etc/cron.d')) { if ([IO.Directory]::Exists($dir)) { foreach ($f in [IO.Directory]::GetFiles($dir)) { $cronFiles += @{ file = $f; user = $null } } } }
foreach ($dir in @('/var/spool/cron/crontabs', '/var/spool/cron')) {
    if ([IO.Directory]::Exists($dir)) { foreach ($f in [IO.Directory]::GetFiles($dir)) { $cronFiles += @{ file = $f; user = [IO.Path]::GetFileName($f) } } }
}
foreach ($c in $cronFiles) {
    foreach ($line in (Get-MagpieLines $c.file)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#') -or $t -match '^[A-Za-z_][A-Za-z0-9_]*\s*=') { continue }
        $fields = $t -split '\s+'
        $schedule = 5
        if ($t.StartsWith('@')) { $schedule = 1 }
        $userField = $(if ($c.user) { 0 } else { 1 })
        if ($fields.Count -le $schedule + $userField) { continue }
        $owner = $(if ($c.user) { $c.user } else { $fields[$schedule] })
        $command = ($fields[($schedule + $userField)..($fields.Count - 1)]) -join ' '
        Add-MagpieAutorun $c.file (($fields[0..($schedule - 1)]) -join ' ') 'Tasks' $command $owner ([IO.File]::GetLastWriteTimeUtc($c.file)) $null
    }
}

# Boot and logon scripts, and libraries preloaded into every process.
if ([IO.File]::Exists('/etc/rc.local')) { Add-MagpieAutorun '/etc/rc.local' 'rc.local' 'Boot Execute' '/etc/rc.local' 'root' ([IO.File]::GetLastWriteTimeUtc('/etc/rc.local')) '/etc/rc.local' }
if ([IO.File]::Exists('/etc/ld.so.preload')) {
    foreach ($line in (Get-MagpieLines '/etc/ld.so.preload')) { if ($line.Trim() -and -not $line.Trim().StartsWith('#')) { Add-MagpieAutorun '/etc/ld.so.preload' $line.Trim() 'Preload' $line.Trim() 'root' ([IO.File]::GetLastWriteTimeUtc('/etc/ld.so.preload')) $line.Trim() } }
}
if ([IO.Directory]::Exists('/etc/profile.d')) {
    foreach ($f in [IO.Directory]::GetFiles('/etc/profile.d')) { Add-MagpieAutorun '/etc/profile.d' ([IO.Path]::GetFileName($f)) 'Logon' $f 'root' ([IO.File]::GetLastWriteTimeUtc($f)) $f }
}

# SSH keys that let someone back in.
$homes = @('/root')
if ([IO.Directory]::Exists('/home')) { $homes += [IO.Directory]::GetDirectories('/home') }
foreach ($h in $homes) {
    $keys = [IO.Path]::Combine($h, '.ssh', 'authorized_keys')
    if (-not [IO.File]::Exists($keys)) { continue }
    foreach ($line in (Get-MagpieLines $keys)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#')) { continue }
        $parts = $t -split '\s+'
        $comment = $(if ($parts.Count -ge 3) { $parts[-1] } else { $parts[0] })
        Add-MagpieAutorun $keys $comment 'SSH' $t ([IO.Path]::GetFileName($h)) ([IO.File]::GetLastWriteTimeUtc($keys)) '-'
    }
}

foreach ($r in $found) {
    if ($r.imagePath -and $r.imagePath -ne '-' -and $r.imagePath.StartsWith('/')) {
        $r.imageExists = [IO.File]::Exists($r.imagePath)
        if ($r.imageExists -and $Params.HashImages) {
            try { $r.sha256 = (Get-FileHash -LiteralPath $r.imagePath -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant() } catch { Write-Warning "cannot hash $($r.imagePath): $($_.Exception.Message)" }
        }
    }
    if ($r.imagePath -eq '-') { $r.imagePath = $null }
    $r
}
