# file-hashes (Windows): MD5, SHA-1 and SHA-256 of the files under the given paths, each file read
# once for all three (TransformBlock on three hash objects). A .NET walk with an explicit stack
# that never enters a junction or symbolic link (Get-ChildItem -Recurse follows them on 5.1): links
# are records with their target, unhashed. Files are opened sharing read, write and delete, so a
# file another program has open is still read; one it holds exclusively (or that is denied) is a
# record with error saying why. Only .NET calls: the same script runs under pwsh elsewhere.
$started = [datetime]::UtcNow

# ---- parameters: every given path must exist, before anything runs --------------------------
$given = @($Params.Paths | Where-Object { $null -ne $_ -and $_ -ne '' })
$roots = New-Object System.Collections.Generic.List[string]
if ($given.Count) {
    foreach ($p in $given) {
        # C:x and \x are relative to a drive's current folder or the current drive: not absolute.
        if ((-not [IO.Path]::IsPathRooted($p)) -or ($p -match '^[A-Za-z]:(?![\\/])') -or ([IO.Path]::DirectorySeparatorChar -eq '\' -and $p -match '^[\\/](?![\\/])')) {
            throw "file-hashes: path is not absolute: $p (give a full path such as C:\Users\Public)"
        }
        if (-not ((Test-MagpieLink $p) -or [IO.File]::Exists($p) -or [IO.Directory]::Exists($p))) { throw "file-hashes: path does not exist: $p" }
        if ($p.Length -gt 3) { $p = $p.TrimEnd('\', '/') }
        $roots.Add($p)
    }
} else {
    $drive = $env:SystemDrive
    if (-not $drive) { $drive = 'C:' }
    $candidates = New-Object System.Collections.Generic.List[string]
    $public = @()
    foreach ($profile in @(Get-MagpieUserProfiles)) {
        if ([IO.Path]::GetFileName($profile) -eq 'Public') { $public += $profile; continue }
        foreach ($sub in @('AppData\Local\Temp', 'AppData\Roaming', 'Downloads', 'Desktop')) { $candidates.Add([IO.Path]::Combine($profile, $sub)) }
    }
    foreach ($p in $public) { $candidates.Add($p) }
    $programData = $env:ProgramData
    if (-not $programData) { $programData = "$drive\ProgramData" }
    $candidates.Add($programData)
    $windir = $env:windir
    if (-not $windir) { $windir = "$drive\Windows" }
    $candidates.Add([IO.Path]::Combine($windir, 'Temp'))
    foreach ($p in $candidates) { if ([IO.Directory]::Exists($p) -and -not (Test-MagpieLink $p)) { $roots.Add($p) } }
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

# Times as the prelude writes them, formatted here: its conversion of [datetime] values costs
# more per record than everything else the step does for a small file.
$iso = 'yyyy-MM-ddTHH:mm:ss.fffZ'
$inv = [Globalization.CultureInfo]::InvariantCulture

# ---- hashing: one read, three algorithms ----------------------------------------------------
# MD5 is refused where the FIPS policy is on: the other two are still computed.
$md5 = $null
try { $md5 = [Security.Cryptography.MD5]::Create() } catch { Write-Warning "MD5 is not available here (FIPS policy?): md5 is left empty: $($_.Exception.Message)" }
$sha1 = [Security.Cryptography.SHA1]::Create()
$sha256 = [Security.Cryptography.SHA256]::Create()
$buf = New-Object byte[] 1048576

function ConvertTo-Hex([byte[]]$Bytes) { [BitConverter]::ToString($Bytes).Replace('-', '').ToLowerInvariant() }

function Get-StreamHashes {
    param([IO.Stream]$Stream)
    if ($md5) { $md5.Initialize() }
    $sha1.Initialize(); $sha256.Initialize()
    for (;;) {
        $n = $Stream.Read($buf, 0, $buf.Length)
        if ($n -le 0) { break }
        if ($md5) { $null = $md5.TransformBlock($buf, 0, $n, $null, 0) }
        $null = $sha1.TransformBlock($buf, 0, $n, $null, 0)
        $null = $sha256.TransformBlock($buf, 0, $n, $null, 0)
    }
    $m = $null
    if ($md5) { $null = $md5.TransformFinalBlock($buf, 0, 0); $m = ConvertTo-Hex $md5.Hash }
    $null = $sha1.TransformFinalBlock($buf, 0, 0)
    $null = $sha256.TransformFinalBlock($buf, 0, 0)
    @($m, (ConvertTo-Hex $sha1.Hash), (ConvertTo-Hex $sha256.Hash))
}

function Test-Wanted {
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
$counts = [ordered]@{ hashed = 0; skipped = 0; links = 0; errors = 0; filtered = 0; folders = 0 }
# Paths seen (given paths may overlap): case-insensitive as NTFS is; exact where paths are (pwsh elsewhere).
$pathComparer = [StringComparer]::OrdinalIgnoreCase
if ([IO.Path]::DirectorySeparatorChar -eq '/') { $pathComparer = [StringComparer]::Ordinal }
$seen = New-Object 'System.Collections.Generic.HashSet[string]' ($pathComparer)
$hiddenFlag = [IO.FileAttributes]::Hidden
$systemFlag = [IO.FileAttributes]::System

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
    try {
        # .NET 6+ knows link targets; Windows PowerShell 5.1 gives them as its Target property.
        if ($Info.PSObject.Properties['LinkTarget']) { $target = $Info.LinkTarget } else { $target = @($Info.Target)[0] }
    } catch { $null = $_ }
    $counts.links++
    $state.recorded++
    [pscustomobject]@{
        path = $Info.FullName; type = 'link'; linkTarget = $target; linkToFolder = [bool]($Info -is [IO.DirectoryInfo])
        modified = $Info.LastWriteTimeUtc.ToString($iso, $inv); attributes = $Info.Attributes.ToString()
        hidden = [bool]($Info.Attributes -band $hiddenFlag); system = [bool]($Info.Attributes -band $systemFlag)
    }
}

function Out-FileRecord {
    param([IO.FileInfo]$Info)
    $full = $Info.FullName
    if (-not $seen.Add($full)) { return }
    if ($maxFiles -gt 0 -and $state.recorded -ge $maxFiles) { $null = Test-Cap; return }
    $state.recorded++
    $attr = $Info.Attributes
    $r = [ordered]@{
        path = $full; type = 'file'; size = $Info.Length; created = $Info.CreationTimeUtc.ToString($iso, $inv); modified = $Info.LastWriteTimeUtc.ToString($iso, $inv)
        attributes = $attr.ToString(); hidden = [bool]($attr -band $hiddenFlag); system = [bool]($attr -band $systemFlag)
        md5 = $null; sha1 = $null; sha256 = $null
    }
    if ($Info.Length -gt $maxBytes) {
        $r['skipped'] = "larger than MaxSizeMB ($maxMb MB)"
        $counts.skipped++
    } else {
        try {
            $stream = [IO.FileStream]::new($full, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete', 4096, [IO.FileOptions]::SequentialScan)
            try { $h = Get-StreamHashes $stream } finally { $stream.Dispose() }
            $r['md5'] = $h[0]; $r['sha1'] = $h[1]; $r['sha256'] = $h[2]
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

$stack = New-Object System.Collections.Generic.Stack[string]
foreach ($root in $roots) {
    if (Test-Cap) { break }
    $info = [IO.FileInfo]::new($root)
    if ($info.Attributes -band [IO.FileAttributes]::ReparsePoint) {
        if ($seen.Add($root)) {
            if ($info.Attributes -band [IO.FileAttributes]::Directory) { $info = [IO.DirectoryInfo]::new($root) }
            Out-Link $info
        }
        continue
    }
    if (-not ($info.Attributes -band [IO.FileAttributes]::Directory)) { Out-FileRecord $info; continue }
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
        $subdirs = New-Object System.Collections.Generic.List[string]
        foreach ($e in $entries) {
            if ($maxFiles -gt 0 -and $state.recorded -ge $maxFiles) { $null = Test-Cap; break }
            if ($e.Attributes -band [IO.FileAttributes]::ReparsePoint) {
                # Junctions and links to folders always; links to files when their name is wanted.
                if ($e -is [IO.DirectoryInfo] -or (Test-Wanted $e.Name $null)) {
                    if ($seen.Add($e.FullName)) { Out-Link $e }
                } else { $counts.filtered++ }
                continue
            }
            if ($e -is [IO.DirectoryInfo]) { if ($recurse) { $subdirs.Add($e.FullName) }; continue }
            # Test-Wanted inline: this runs once per file.
            if ($exts.Count) {
                $x = [IO.Path]::GetExtension($e.Name)
                if (-not $x -or -not $exts.Contains($x.Substring(1))) { $counts.filtered++; continue }
            }
            if ($days -gt 0 -and $e.LastWriteTimeUtc -lt $since) { $counts.filtered++; continue }
            Out-FileRecord $e
        }
        for ($i = $subdirs.Count - 1; $i -ge 0; $i--) { $stack.Push($subdirs[$i]) }
    }
}
if ($md5) { $md5.Dispose() }
$sha1.Dispose(); $sha256.Dispose()

$seconds = ([datetime]::UtcNow - $started).TotalSeconds
"file-hashes: $($counts.hashed) hashed, $($counts.skipped) skipped (size), $($counts.links) links, $($counts.errors) errors, $($counts.filtered) filtered out, $($counts.folders) folders in $([Math]::Round($seconds, 1)) s$(if ($state.capped) { " (stopped at MaxFiles $maxFiles)" })"
