# file-hashes (Linux): MD5, SHA-1 and SHA-256 of the files under the given paths, each file read
# once for all three. A .NET walk with an explicit stack that never follows a symbolic link (links
# are records with their target, unhashed). File type and owner come from one `stat` per batch of
# files, before any file is opened: a FIFO, socket or device is recorded, never read (reading a
# FIFO would block until the step's timeout). .NET decodes names as UTF-8 and replaces bytes that
# are not (U+FFFD), so such a name cannot be opened through .NET: its folder is listed again with
# `find -print0` as bytes, and the file is stat'ed and read through `cat` with the exact name,
# which is kept in pathBase64.
$started = [datetime]::UtcNow
$strictUtf8 = [Text.UTF8Encoding]::new($false, $true)
$utf8 = [Text.UTF8Encoding]::new($false)

# ---- parameters: every given path must exist, before anything runs --------------------------
$given = @($Params.Paths | Where-Object { $null -ne $_ -and $_ -ne '' })
$roots = New-Object System.Collections.Generic.List[string]
if ($given.Count) {
    foreach ($p in $given) {
        if (-not $p.StartsWith('/')) { throw "file-hashes: path is not absolute: $p (give a full path such as /tmp)" }
        if (-not ((Test-MagpieLink $p) -or [IO.File]::Exists($p) -or [IO.Directory]::Exists($p))) { throw "file-hashes: path does not exist: $p" }
        if ($p.Length -gt 1) { $p = $p.TrimEnd('/') }
        $roots.Add($p)
    }
} else {
    foreach ($p in @('/tmp', '/var/tmp', '/dev/shm', '/home', '/root')) { if ([IO.Directory]::Exists($p)) { $roots.Add($p) } }
    if (-not $roots.Count) { throw 'file-hashes: none of the default paths exists here; give Paths' }
}
$exts = New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::OrdinalIgnoreCase)
foreach ($e in @($Params.Extensions)) {
    if ($null -eq $e) { continue }
    $x = ([string]$e).Trim().TrimStart('*').TrimStart('.')
    if ($x) { $null = $exts.Add($x) }
}
$maxMb = 100
if ($null -ne $Params.MaxSizeMB) { $maxMb = [double]$Params.MaxSizeMB }
if ($maxMb -lt 0) { throw "file-hashes: MaxSizeMB must be 0 (no limit) or more, got $maxMb" }
$maxBytes = [long]::MaxValue
if ($maxMb -gt 0) { $maxBytes = [long]($maxMb * 1MB) }
$days = 0
if ($null -ne $Params.ModifiedWithinDays) { $days = [double]$Params.ModifiedWithinDays }
if ($days -lt 0) { throw "file-hashes: ModifiedWithinDays must be 0 (any time) or more, got $days" }
$since = [datetime]::MinValue
if ($days -gt 0) { $since = $started.AddDays(-$days) }
$recurse = $true
if ($null -ne $Params.Recurse) { $recurse = [bool]$Params.Recurse }
$maxFiles = 100000
if ($null -ne $Params.MaxFiles) { $maxFiles = [long]$Params.MaxFiles }
if ($maxFiles -lt 0) { throw "file-hashes: MaxFiles must be 0 (no cap) or more, got $maxFiles" }

$users = @{}
try {
    foreach ($line in [IO.File]::ReadAllLines('/etc/passwd')) {
        $f = $line.Split(':')
        if ($f.Count -ge 3 -and -not $users.ContainsKey($f[2])) { $users[$f[2]] = $f[0] }
    }
} catch { Write-Warning "cannot read /etc/passwd: owners are user ids: $($_.Exception.Message)" }

# Times as the prelude writes them, formatted here: its conversion of [datetime] values costs
# more per record than everything else the step does for a small file.
$iso = 'yyyy-MM-ddTHH:mm:ss.fffZ'
$inv = [Globalization.CultureInfo]::InvariantCulture

# ---- hashing: one read, three algorithms ----------------------------------------------------
$md5 = [Security.Cryptography.MD5]::Create()
$sha1 = [Security.Cryptography.SHA1]::Create()
$sha256 = [Security.Cryptography.SHA256]::Create()
$buf = New-Object byte[] 1048576

function ConvertTo-Hex([byte[]]$Bytes) { [BitConverter]::ToString($Bytes).Replace('-', '').ToLowerInvariant() }

function Get-StreamHashes {
    # The three hashes of everything the stream holds, and how many bytes that was.
    param([IO.Stream]$Stream)
    $md5.Initialize(); $sha1.Initialize(); $sha256.Initialize()
    $total = [long]0
    for (;;) {
        $n = $Stream.Read($buf, 0, $buf.Length)
        if ($n -le 0) { break }
        $null = $md5.TransformBlock($buf, 0, $n, $null, 0)
        $null = $sha1.TransformBlock($buf, 0, $n, $null, 0)
        $null = $sha256.TransformBlock($buf, 0, $n, $null, 0)
        $total += $n
    }
    $null = $md5.TransformFinalBlock($buf, 0, 0)
    $null = $sha1.TransformFinalBlock($buf, 0, 0)
    $null = $sha256.TransformFinalBlock($buf, 0, 0)
    [pscustomobject]@{ md5 = (ConvertTo-Hex $md5.Hash); sha1 = (ConvertTo-Hex $sha1.Hash); sha256 = (ConvertTo-Hex $sha256.Hash); bytes = $total }
}

function Read-AllBytes([IO.Stream]$Stream) {
    $ms = [IO.MemoryStream]::new()
    $Stream.CopyTo($ms)
    $ms.ToArray()
}

# A name given to sh as base64 (arguments must be UTF-8 text); $f is its exact bytes, trailing
# newlines kept.
$decodeName = 'f=$(printf %s "$1" | base64 -d; echo x); f=${f%x}; '

function New-Record {
    param([string]$Path, [string]$Raw)
    $r = [ordered]@{ path = $Path }
    if ($Raw) { $r['pathBase64'] = $Raw }
    $r
}

function Test-Wanted {
    # Extension and modification-time filters; links and oddities are judged by name only.
    param([string]$Name, $Modified)
    if ($exts.Count) {
        $ext = [IO.Path]::GetExtension($Name)
        if (-not $ext -or -not $exts.Contains($ext.Substring(1))) { return $false }
    }
    if ($null -ne $Modified -and $Modified -lt $since) { return $false }
    $true
}

# ---- the walk ---------------------------------------------------------------------------------
$state = @{ recorded = [long]0; capped = $false }
$seen = New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::Ordinal)
$batch = New-Object System.Collections.Generic.List[IO.FileInfo]
$counts = [ordered]@{ hashed = 0; skipped = 0; links = 0; errors = 0; filtered = 0; folders = 0 }

function Test-Cap {
    if ($maxFiles -gt 0 -and $state.recorded -ge $maxFiles) {
        if (-not $state.capped) { Write-Warning "file-hashes: MaxFiles ($maxFiles) reached: the walk stopped there; files after it are not in the records" }
        $state.capped = $true
    }
    $state.capped
}

function Out-Link {
    param([IO.FileSystemInfo]$Info)
    $target = $null
    try { $target = $Info.LinkTarget } catch { $null = $_ }
    $r = New-Record $Info.FullName $null
    $r['type'] = 'link'
    $r['linkTarget'] = $target
    $r['linkToFolder'] = [bool]($Info -is [IO.DirectoryInfo])
    $r['modified'] = $Info.LastWriteTimeUtc.ToString($iso, $inv)
    $counts.links++
    $state.recorded++
    [pscustomobject]$r
}

function Invoke-Batch {
    # File type and owner of each file of the batch (one `stat`), then each regular file hashed.
    if (-not $batch.Count) { return }
    $facts = @{}
    # Names on stat's command line, in chunks that stay far below the argument limit; each answer
    # carries its name, so a file gone meanwhile shifts nothing.
    $names = @(foreach ($i in $batch) { $i.FullName })
    for ($at = 0; $at -lt $names.Count; $at += 200) {
        $chunk = $names[$at..([Math]::Min($names.Count, $at + 200) - 1)]
        try {
            $p = Start-MagpieProcess 'stat' (@('--printf', '%F\t%u\t%n\0', '--') + $chunk)
            $err = $p.StandardError.ReadToEndAsync()
            $out = Read-AllBytes $p.StandardOutput.BaseStream
            $p.WaitForExit()
            $null = $err.Result
            foreach ($entry in $utf8.GetString($out).Split([char]0)) {
                $t1 = $entry.IndexOf("`t")
                if ($t1 -lt 0) { continue }
                $t2 = $entry.IndexOf("`t", $t1 + 1)
                $facts[$entry.Substring($t2 + 1)] = @($entry.Substring(0, $t1), $entry.Substring($t1 + 1, $t2 - $t1 - 1))
            }
        } catch { Write-Warning "stat failed: file types and owners unknown for $($chunk.Count) files: $($_.Exception.Message)" }
    }
    foreach ($info in $batch) {
        # One literal per record: this loop runs once per file, and PowerShell statements are dear.
        $full = $info.FullName
        $fact = $facts[$full]
        $owner = $null; $uid = $null
        if ($fact) { $uid = [long]$fact[1]; $owner = $users[$fact[1]]; if ($null -eq $owner) { $owner = $fact[1] } }
        $r = [ordered]@{
            path = $full; type = 'file'; size = $info.Length
            created = $info.CreationTimeUtc.ToString($iso, $inv); modified = $info.LastWriteTimeUtc.ToString($iso, $inv)
            owner = $owner; uid = $uid; hidden = $info.Name.StartsWith('.'); md5 = $null; sha1 = $null; sha256 = $null
        }
        if (-not $fact -and $info.Length -eq 0) {
            # stat did not answer for it (gone, or no GNU stat): a FIFO shows size 0 and would block.
            $r['error'] = 'not read: its file type is unknown (stat gave none) and it shows 0 bytes, as a FIFO would'
            $counts.errors++
        } elseif ($fact -and $fact[0] -notlike 'regular*') {
            $r['type'] = 'other'
            $r['error'] = "not a regular file ($($fact[0])): not read"
            $counts.errors++
        } elseif ($info.Length -gt $maxBytes) {
            $r['skipped'] = "larger than MaxSizeMB ($maxMb MB)"
            $counts.skipped++
        } else {
            try {
                $stream = [IO.FileStream]::new($full, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete', 4096, [IO.FileOptions]::SequentialScan)
                try { $h = Get-StreamHashes $stream } finally { $stream.Dispose() }
                $r['md5'] = $h.md5; $r['sha1'] = $h.sha1; $r['sha256'] = $h.sha256
                $counts.hashed++
            } catch {
                $e = $_.Exception
                while ($e.InnerException) { $e = $e.InnerException }
                $r['error'] = $e.Message
                $counts.errors++
            }
        }
        [pscustomobject]$r
    }
    $batch.Clear()
}

function Add-File {
    param([IO.FileInfo]$Info)
    if (-not $seen.Add($Info.FullName)) { return }
    if (Test-Cap) { return }
    $batch.Add($Info)
    $state.recorded++
}

function Invoke-RawEntry {
    # A name that is not UTF-8: stat'ed and read by exact bytes through sh.
    param([byte[]]$Raw)
    $b64 = [Convert]::ToBase64String($Raw)
    $path = $utf8.GetString($Raw)
    $name = $path.Substring($path.LastIndexOf('/') + 1)
    if (Test-Cap) { return }
    $r = New-Record $path $b64
    $probe = $decodeName + 'if [ -L "$f" ]; then printf "link\t"; readlink -n -- "$f" | base64 | tr -d "\n"; printf "\t"; stat -c "%Y" -- "$f"; elif [ -d "$f" ]; then printf "dir\n"; else stat -L --printf "%F\t%s\t%Y\t%W\t%u\n" -- "$f"; fi'
    $p = Start-MagpieProcess '/bin/sh' @('-c', $probe, 'sh', $b64)
    $err = $p.StandardError.ReadToEndAsync()
    $out = $p.StandardOutput.ReadToEnd().TrimEnd("`n")
    $p.WaitForExit()
    $f = $out.Split("`t")
    if ($f[0] -eq 'dir') {
        if (-not $recurse) { return }
        $r['type'] = 'folder'
        $r['error'] = 'folder name is not UTF-8: not walked'
        $counts.errors++
        $state.recorded++
        return [pscustomobject]$r
    }
    if ($f[0] -eq 'link') {
        if (-not (Test-Wanted $name $null)) { $counts.filtered++; return }
        $r['type'] = 'link'
        $t = [Convert]::FromBase64String($f[1])
        $r['linkTarget'] = $utf8.GetString($t)
        try { $null = $strictUtf8.GetString($t) } catch { $r['linkTargetBase64'] = $f[1] }
        $r['modified'] = [DateTimeOffset]::FromUnixTimeSeconds([long]$f[2]).UtcDateTime.ToString($iso, $inv)
        $counts.links++
        $state.recorded++
        return [pscustomobject]$r
    }
    if ($f.Count -lt 5) {
        $r['error'] = "cannot stat: $($err.Result.Trim())"
        $counts.errors++
        $state.recorded++
        return [pscustomobject]$r
    }
    $modified = [DateTimeOffset]::FromUnixTimeSeconds([long]$f[2]).UtcDateTime
    if (-not (Test-Wanted $name $modified)) { $counts.filtered++; return }
    $r['type'] = 'file'
    $r['size'] = [long]$f[1]
    $r['created'] = $(if ($f[3] -match '^[1-9]\d*$') { [DateTimeOffset]::FromUnixTimeSeconds([long]$f[3]).UtcDateTime.ToString($iso, $inv) } else { $null })
    $r['modified'] = $modified.ToString($iso, $inv)
    $r['owner'] = $(if ($users.ContainsKey($f[4])) { $users[$f[4]] } else { $f[4] })
    $r['uid'] = [long]$f[4]
    $r['hidden'] = $name.StartsWith('.')
    $r['md5'] = $null; $r['sha1'] = $null; $r['sha256'] = $null
    $state.recorded++
    if ($f[0] -notlike 'regular*') {
        $r['type'] = 'other'
        $r['error'] = "not a regular file ($($f[0])): not read"
        $counts.errors++
    } elseif ([long]$f[1] -gt $maxBytes) {
        $r['skipped'] = "larger than MaxSizeMB ($maxMb MB)"
        $counts.skipped++
    } else {
        $p = Start-MagpieProcess '/bin/sh' @('-c', ($decodeName + 'exec cat -- "$f"'), 'sh', $b64)
        $err = $p.StandardError.ReadToEndAsync()
        $h = Get-StreamHashes $p.StandardOutput.BaseStream
        $p.WaitForExit()
        if ($p.ExitCode -eq 0) {
            $r['md5'] = $h.md5; $r['sha1'] = $h.sha1; $r['sha256'] = $h.sha256
            $counts.hashed++
        } else {
            $r['error'] = "cannot read: $($err.Result.Trim())"
            $counts.errors++
        }
    }
    [pscustomobject]$r
}

function Invoke-Entry {
    # One entry of a folder listing: a link is recorded, a folder queued, a file batched.
    param([IO.FileSystemInfo]$Entry, [System.Collections.Generic.List[string]]$Subdirs)
    if ($Entry.Attributes -band [IO.FileAttributes]::ReparsePoint) {
        if ($Entry -is [IO.DirectoryInfo] -or (Test-Wanted $Entry.Name $null)) {
            if ($seen.Add($Entry.FullName) -and -not (Test-Cap)) { Out-Link $Entry }
        } else { $counts.filtered++ }
        return
    }
    if ($Entry -is [IO.DirectoryInfo]) { if ($recurse) { $Subdirs.Add($Entry.FullName) }; return }
    if (-not (Test-Wanted $Entry.Name $Entry.LastWriteTimeUtc)) { $counts.filtered++; return }
    Add-File $Entry
    if ($batch.Count -ge 500) { Invoke-Batch }
}

function Invoke-LossyFolder {
    # The entries of a folder whose names .NET could not decode, by their exact bytes.
    param([string]$Dir, [System.Collections.Generic.List[string]]$Subdirs)
    $p = Start-MagpieProcess 'find' @($Dir, '-mindepth', '1', '-maxdepth', '1', '-print0')
    $err = $p.StandardError.ReadToEndAsync()
    $out = Read-AllBytes $p.StandardOutput.BaseStream
    $p.WaitForExit()
    if ($p.ExitCode -ne 0) { Write-Warning "find $($Dir): $($err.Result.Trim())" }
    $start = 0
    for ($i = 0; $i -lt $out.Length; $i++) {
        if ($out[$i] -ne 0) { continue }
        $raw = New-Object byte[] ($i - $start)
        [Array]::Copy($out, $start, $raw, 0, $raw.Length)
        $start = $i + 1
        $name = $null
        try { $name = $strictUtf8.GetString($raw) } catch { Invoke-RawEntry $raw; continue }
        if ($name.IndexOf([char]0xFFFD) -lt 0) { continue }
        # A real U+FFFD in a valid name: .NET opens it like any other.
        $fi = [IO.FileInfo]::new($name)
        if (($fi.Attributes -band [IO.FileAttributes]::Directory) -and -not ($fi.Attributes -band [IO.FileAttributes]::ReparsePoint)) { $fi = [IO.DirectoryInfo]::new($name) }
        Invoke-Entry $fi $Subdirs
    }
}

$notPlain = [IO.FileAttributes]'ReparsePoint, Directory'
$stack = New-Object System.Collections.Generic.Stack[string]
foreach ($root in $roots) {
    if (Test-Cap) { break }
    $info = [IO.FileInfo]::new($root)
    if ($info.Attributes -band [IO.FileAttributes]::ReparsePoint) {
        # A given path that is itself a link: recorded as one, not followed.
        if ($seen.Add($root)) {
            if ([IO.Directory]::Exists($root)) { $info = [IO.DirectoryInfo]::new($root) }
            Out-Link $info
        }
        continue
    }
    if (-not ($info.Attributes -band [IO.FileAttributes]::Directory)) {
        Add-File $info
        if ($batch.Count -ge 500) { Invoke-Batch }
        continue
    }
    $stack.Push($root)
    while ($stack.Count) {
        if (Test-Cap) { break }
        $dir = $stack.Pop()
        $counts.folders++
        $entries = $null
        try { $entries = @([IO.DirectoryInfo]::new($dir).EnumerateFileSystemInfos()) }
        catch {
            $state.recorded++
            $counts.errors++
            [pscustomobject]@{ path = $dir; type = 'folder'; error = "cannot list: $($_.Exception.Message)" }
            continue
        }
        $lossy = $false
        $subdirs = New-Object System.Collections.Generic.List[string]
        foreach ($e in $entries) {
            $name = $e.Name
            # U+FFFD: a byte that is not UTF-8, or (rarely) a name really holding U+FFFD; find tells.
            if ($name.IndexOf([char]0xFFFD) -ge 0) { $lossy = $true; continue }
            if (($e.Attributes -band $notPlain) -or $e -is [IO.DirectoryInfo]) { Invoke-Entry $e $subdirs; continue }
            # A plain file, the common case: Invoke-Entry, Test-Wanted and Add-File inline.
            if ($exts.Count) {
                $x = [IO.Path]::GetExtension($name)
                if (-not $x -or -not $exts.Contains($x.Substring(1))) { $counts.filtered++; continue }
            }
            if ($days -gt 0 -and $e.LastWriteTimeUtc -lt $since) { $counts.filtered++; continue }
            if (-not $seen.Add($e.FullName)) { continue }
            if ($maxFiles -gt 0 -and $state.recorded -ge $maxFiles) { $null = Test-Cap; break }
            $batch.Add($e)
            $state.recorded++
            if ($batch.Count -ge 500) { Invoke-Batch }
        }
        if ($lossy) { Invoke-LossyFolder $dir $subdirs }
        # Pushed in reverse: folders are walked in the order they were listed.
        for ($i = $subdirs.Count - 1; $i -ge 0; $i--) { $stack.Push($subdirs[$i]) }
    }
}
Invoke-Batch
$md5.Dispose(); $sha1.Dispose(); $sha256.Dispose()

$seconds = ([datetime]::UtcNow - $started).TotalSeconds
"file-hashes: $($counts.hashed) hashed, $($counts.skipped) skipped (size), $($counts.links) links, $($counts.errors) errors, $($counts.filtered) filtered out, $($counts.folders) folders in $([Math]::Round($seconds, 1)) s$(if ($state.capped) { " (stopped at MaxFiles $maxFiles)" })"
