# av-scan (Linux): ClamAV over the given paths, one detection record per infected file.
# Names on the host are untrusted (spaces, colons, newlines, bytes that are not UTF-8): programs get
# an argument array (never a shell string), the scanner's output is read as bytes, split on LF only
# and parsed from the right end ("<path>: <signature> FOUND"); a path cut by a newline in its name
# is put back together from the lines before it and checked against the file system.
$started = [datetime]::UtcNow
$latin1 = [Text.Encoding]::GetEncoding(28591)  # one char per byte: nothing lost before parsing
$strictUtf8 = [Text.UTF8Encoding]::new($false, $true)

function Get-Signatures {
    # Signature files clamscan loads from a folder (.cvd/.cld/.cud: official; the rest: custom).
    param([string]$Dir)
    if (-not [IO.Directory]::Exists($Dir)) { return @() }
    $ext = @('.cvd', '.cld', '.cud', '.hdb', '.hsb', '.hdu', '.hsu', '.mdb', '.msb', '.mdu', '.msu', '.ndb', '.ndu', '.ldb', '.ldu', '.cdb', '.idb', '.ndb', '.pdb', '.gdb', '.wdb', '.cbc', '.yar', '.yara', '.imp', '.crb', '.cat')
    @(foreach ($f in [IO.Directory]::GetFiles($Dir)) { if ($ext -contains [IO.Path]::GetExtension($f).ToLowerInvariant()) { [IO.Path]::GetFileName($f) } })
}

function Invoke-Short {
    # A quick command (version, ping): its output and exit code.
    param([string]$File, [string[]]$Arguments)
    $p = Start-MagpieProcess $File $Arguments $latin1
    $err = $p.StandardError.ReadToEndAsync()
    $out = $p.StandardOutput.ReadToEnd()
    if (-not $p.WaitForExit(30000)) { try { $p.Kill() } catch { $null = $_ } }
    $p.WaitForExit()
    [pscustomobject]@{ code = $p.ExitCode; out = $out; err = $err.Result }
}

function ConvertFrom-Bytes {
    # Latin-1 text (one char per byte) back to the name: UTF-8 when it is, else lossy plus the bytes.
    param([string]$Text)
    $bytes = $latin1.GetBytes($Text)
    try { return [pscustomobject]@{ path = $strictUtf8.GetString($bytes); raw = $null } }
    catch { return [pscustomobject]@{ path = [Text.Encoding]::UTF8.GetString($bytes); raw = [Convert]::ToBase64String($bytes) } }
}

function Skip-Scan {
    param([string]$Reason, [hashtable]$Extra = @{})
    Write-Warning "av-scan skipped: $Reason"
    $r = [ordered]@{ type = 'status'; source = 'clamav'; status = 'skipped'; reason = $Reason; time = [datetime]::UtcNow }
    foreach ($k in $Extra.Keys) { $r[$k] = $Extra[$k] }
    [pscustomobject]$r
}

# ---- parameters: every given path must exist, before anything runs --------------------------
$given = @($Params.Paths | Where-Object { $null -ne $_ -and $_ -ne '' })
$paths = New-Object System.Collections.Generic.List[string]
if ($given.Count) {
    foreach ($p in $given) {
        if (-not $p.StartsWith('/')) { throw "av-scan: path is not absolute: $p (give a full path such as /var/www)" }
        if (-not ([IO.File]::Exists($p) -or [IO.Directory]::Exists($p))) { throw "av-scan: path does not exist: $p" }
        $paths.Add($p)
    }
} else {
    foreach ($p in @('/tmp', '/var/tmp', '/dev/shm', '/home', '/root', '/etc/cron.d', '/var/www')) { if ([IO.Directory]::Exists($p)) { $paths.Add($p) } }
    if (-not $paths.Count) { throw 'av-scan: none of the default paths exists here; give Paths' }
}
$dbGiven = [string]$Params.DatabasePath
if ($dbGiven) {
    if (-not $dbGiven.StartsWith('/')) { throw "av-scan: DatabasePath is not absolute: $dbGiven" }
    if (-not ([IO.File]::Exists($dbGiven) -or [IO.Directory]::Exists($dbGiven))) { throw "av-scan: DatabasePath does not exist: $dbGiven" }
}
$clamdConf = [string]$Params.ClamdConfig
if ($clamdConf -and -not [IO.File]::Exists($clamdConf)) { throw "av-scan: ClamdConfig does not exist: $clamdConf" }
$maxMb = 100
if ($null -ne $Params.MaxFileSizeMB) { $maxMb = [int]$Params.MaxFileSizeMB }
if ($maxMb -lt 1) { throw "av-scan: MaxFileSizeMB must be at least 1, got $maxMb" }
$recursive = $true
if ($null -ne $Params.Recursive) { $recursive = [bool]$Params.Recursive }

# ---- which scanner ------------------------------------------------------------------------------
$install = 'install ClamAV with: apt-get install clamav (Debian/Ubuntu; clamav-daemon adds clamd) or dnf install clamav clamav-update (RHEL/Fedora, from EPEL), then load signatures with freshclam'
$clamscan = Get-Command clamscan -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$clamdscan = Get-Command clamdscan -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $clamscan -and -not $clamdscan) { return (Skip-Scan "ClamAV is not installed on this host (no clamscan or clamdscan on PATH); $install" @{ paths = @($paths) }) }

$scanner = $null
$database = $null
$confArgs = @()
if ($clamdConf) { $confArgs = @("--config-file=$clamdConf") }
if ($clamdscan -and -not $dbGiven) {
    $ping = Invoke-Short $clamdscan.Source (@('--ping', '1') + $confArgs)
    if ($ping.code -eq 0) { $scanner = 'clamdscan' }
    elseif ($clamdConf) { Write-Warning "clamd of $clamdConf did not answer (clamdscan --ping: $(($ping.err + $ping.out).Trim())); using clamscan" }
}
if (-not $scanner) {
    if (-not $clamscan) { return (Skip-Scan "no clamd answers and clamscan is not installed; start clamd (systemctl start clamav-daemon) or $install" @{ paths = @($paths) }) }
    $scanner = 'clamscan'
    if ($dbGiven) {
        if ([IO.Directory]::Exists($dbGiven) -and -not (Get-Signatures $dbGiven).Count) { return (Skip-Scan "DatabasePath $dbGiven holds no signature files (.cvd, .cld, .cud, .hdb, .ndb, ...); copy main.cvd, daily.cvd and bytecode.cvd there from a machine that has them" @{ paths = @($paths); database = $dbGiven }) }
        $database = $dbGiven
    } else {
        $candidates = New-Object System.Collections.Generic.List[string]
        foreach ($conf in @('/etc/clamav/freshclam.conf', '/etc/freshclam.conf', '/usr/local/etc/freshclam.conf')) {
            if (-not [IO.File]::Exists($conf)) { continue }
            foreach ($line in [IO.File]::ReadAllLines($conf)) { if ($line -match '^\s*DatabaseDirectory\s+"?([^"]+?)"?\s*$') { $candidates.Add($Matches[1]) } }
        }
        foreach ($d in @('/var/lib/clamav', '/var/clamav', '/usr/local/share/clamav')) { if (-not $candidates.Contains($d)) { $candidates.Add($d) } }
        foreach ($d in $candidates) { if ((Get-Signatures $d).Count) { $database = $d; break } }
        if (-not $database) {
            return (Skip-Scan "ClamAV has no signature database: no main/daily/bytecode .cvd, .cld or .cud (nor other signature files) in $($candidates -join ', '); run freshclam (it needs the internet or a private mirror: DatabaseMirror in freshclam.conf), or copy main.cvd, daily.cvd and bytecode.cvd from a machine that has them and pass their folder as DatabasePath" @{ paths = @($paths); databasesChecked = @($candidates) })
        }
    }
}
$exe = $(if ($scanner -eq 'clamdscan') { $clamdscan.Source } else { $clamscan.Source })
$common = @('--stdout', '--infected')
if ($scanner -eq 'clamscan') {
    $common += @("--database=$database", "--max-filesize=$($maxMb)M", "--max-scansize=$([Math]::Min(4000, $maxMb * 4))M")
    if ($recursive) { $common += '--recursive=yes' }
} else {
    $common += $confArgs
    # clamd runs as its own user: hand it open file descriptors (a local socket) or the bytes (TCP).
    $confFile = $clamdConf
    if (-not $confFile) { foreach ($c in @('/etc/clamav/clamd.conf', '/etc/clamd.d/scan.conf', '/etc/clamd.conf', '/usr/local/etc/clamd.conf')) { if ([IO.File]::Exists($c)) { $confFile = $c; break } } }
    $local = $true
    if ($confFile) { $local = [bool](@([IO.File]::ReadAllLines($confFile)) -match '^\s*LocalSocket\s') }
    $common += $(if ($local) { '--fdpass' } else { '--stream' })
}
$versionArgs = @('--version')
if ($scanner -eq 'clamscan') { $versionArgs += "--database=$database" } else { $versionArgs += $confArgs }
$version = (Invoke-Short $exe $versionArgs).out.Trim()

# clamd always recurses into a folder: not recursive, it gets the files directly in each folder.
$batches = New-Object System.Collections.Generic.List[object]
if ($scanner -eq 'clamdscan' -and -not $recursive) {
    $files = New-Object System.Collections.Generic.List[string]
    foreach ($p in $paths) {
        if ([IO.Directory]::Exists($p)) { foreach ($f in [IO.Directory]::GetFiles($p)) { $files.Add($f) } } else { $files.Add($p) }
    }
    for ($i = 0; $i -lt $files.Count; $i += 500) { $batches.Add(@($files.GetRange($i, [Math]::Min(500, $files.Count - $i)))) }
} else {
    $batches.Add(@($paths))
}

# ---- scan and parse -----------------------------------------------------------------------------
$stats = [ordered]@{ scannedFiles = $null; infectedFiles = $null; errors = $null; knownViruses = $null; engineVersion = $null; dataScanned = $null }
$summaryKeys = @{ 'Scanned files' = 'scannedFiles'; 'Infected files' = 'infectedFiles'; 'Total errors' = 'errors'; 'Known viruses' = 'knownViruses'; 'Engine version' = 'engineVersion'; 'Data scanned' = 'dataScanned' }
$detections = 0
$exitCodes = New-Object System.Collections.Generic.List[int]
$stderrTail = ''
$sha = [Security.Cryptography.SHA256]::Create()

function Resolve-Other {
    # A line that is no detection: the summary, or a scanner message (unreadable file, limit...).
    param([string]$Line)
    $text = (ConvertFrom-Bytes $Line).path
    if ($text -match '^([A-Z][A-Za-z ]+): (.*)$' -and $summaryKeys.ContainsKey($Matches[1])) {
        $key = $summaryKeys[$Matches[1]]
        $v = $Matches[2].Trim()
        if ($v -match '^\d+$') { $v = [long]$v }
        if ($v -is [long] -and $stats[$key] -is [long] -and $key -ne 'knownViruses' -and $key -ne 'engineVersion') { $stats[$key] += $v } else { $stats[$key] = $v }
    } elseif ($text -match 'ERROR$|^ERROR:|^WARNING:|Access denied|Can''t') {
        Write-Warning "$($scanner): $text"
    } elseif ($text.Trim() -and $text -notmatch '^-+ SCAN SUMMARY -+$|^(Time|Start Date|End Date|Data read|Scanned directories):') {
        [string]"$($scanner): $text"
    }
}

function New-Detection {
    param([string]$Line, [System.Collections.Generic.List[string]]$Pending)
    $body = $Line.Substring(0, $Line.Length - ' FOUND'.Length)
    $sep = $body.LastIndexOf(': ')
    $signature = $body.Substring($sep + 2)
    $tail = $body.Substring(0, $sep)
    # The longest absolute path, from earlier lines joined by LF, that exists; else the line alone.
    $chosen = -1
    for ($k = $Pending.Count; $k -ge 0; $k--) {
        $cand = (@($Pending.GetRange($Pending.Count - $k, $k)) + $tail) -join "`n"
        if (-not $cand.StartsWith('/')) { continue }
        $name = (ConvertFrom-Bytes $cand).path
        if ([IO.File]::Exists($name)) { $chosen = $k; break }
    }
    $k = $chosen
    if ($k -lt 0) { $k = 0 }
    $used = $Pending.Count - $k
    for ($i = 0; $i -lt $used; $i++) { Resolve-Other $Pending[$i] }
    $whole = (@($Pending.GetRange($used, $k)) + $tail) -join "`n"
    $Pending.Clear()
    $decoded = ConvertFrom-Bytes $whole
    $path = $decoded.path
    $hash = $null; $size = $null; $modified = $null
    if ($chosen -ge 0) {
        try {
            $info = [IO.FileInfo]::new($path)
            $size = $info.Length
            $modified = $info.LastWriteTimeUtc
            $stream = [IO.File]::OpenRead($path)
            try { $hash = ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose() }
        } catch { Write-Warning "cannot hash $($path): $($_.Exception.Message)" }
    } else {
        Write-Warning "detected file not found again (removed since, or a name that is not UTF-8): $path"
    }
    [pscustomobject]@{
        type = 'threat'; source = 'clamav'; time = [datetime]::UtcNow
        threatName = (ConvertFrom-Bytes $signature).path; severity = 'high'; action = 'detected'
        resources = @($path); path = $path; pathBase64 = $decoded.raw
        sha256 = $hash; size = $size; modified = $modified; scanner = $scanner
    }
}

foreach ($batch in $batches) {
    $proc = Start-MagpieProcess $exe ($common + @($batch)) $latin1
    $errTask = $proc.StandardError.ReadToEndAsync()
    $reader = $proc.StandardOutput
    $pending = New-Object System.Collections.Generic.List[string]
    $buf = New-Object char[] 65536
    $line = New-Object System.Text.StringBuilder
    for (;;) {
        $n = $reader.Read($buf, 0, $buf.Length)
        if ($n -le 0) { break }
        $start = 0
        for (;;) {
            $i = [Array]::IndexOf($buf, [char]10, $start, $n - $start)
            if ($i -lt 0) { break }
            $null = $line.Append($buf, $start, $i - $start)
            $start = $i + 1
            $text = $line.ToString()
            $null = $line.Clear()
            if ($text.EndsWith(' FOUND') -and $text.Contains(': ')) {
                New-Detection $text $pending
                $detections++
            } else {
                $pending.Add($text)
                # A name spans few lines; older lines are messages.
                if ($pending.Count -gt 64) { Resolve-Other $pending[0]; $pending.RemoveAt(0) }
            }
        }
        if ($start -lt $n) { $null = $line.Append($buf, $start, $n - $start) }
    }
    if ($line.Length) { $pending.Add($line.ToString()) }
    foreach ($l in $pending) { Resolve-Other $l }
    $proc.WaitForExit()
    $exitCodes.Add($proc.ExitCode)
    $err = $errTask.Result
    if ($err.Trim()) {
        $stderrTail = $err.Trim()
        foreach ($l in $err.Trim().Split("`n")) { if ($l.Trim()) { Write-Warning "$($scanner) stderr: $($l.TrimEnd())" } }
    }
    # 0: clean, 1: found something, 2: errors (some files unreadable: the summary still comes).
    if ($proc.ExitCode -gt 1 -and $null -eq $stats.scannedFiles -and $null -eq $stats.infectedFiles -and $detections -eq 0) {
        if ($stderrTail.Length -gt 2000) { $stderrTail = $stderrTail.Substring($stderrTail.Length - 2000) }
        throw "av-scan: $scanner failed (exit code $($proc.ExitCode)): $stderrTail"
    }
}
$sha.Dispose()

[pscustomobject]@{
    type = 'status'; source = 'clamav'; status = 'completed'; time = [datetime]::UtcNow
    scanner = $scanner; version = $version; engineVersion = $stats.engineVersion; knownViruses = $stats.knownViruses
    database = $(if ($scanner -eq 'clamscan') { $database } else { 'clamd' }); clamdConfig = $(if ($scanner -eq 'clamdscan') { $clamdConf } else { $null })
    paths = @($paths); recursive = $recursive; maxFileSizeMB = $(if ($scanner -eq 'clamscan') { $maxMb } else { $null })
    scannedFiles = $stats.scannedFiles; infectedFiles = $stats.infectedFiles; detections = $detections; scanErrors = $stats.errors; dataScanned = $stats.dataScanned
    exitCodes = @($exitCodes); durationSec = [Math]::Round(([datetime]::UtcNow - $started).TotalSeconds, 1)
}
