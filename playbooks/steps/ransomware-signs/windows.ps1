# ransomware-signs (Windows): shadow copies and VSS, boot recovery, ransom notes, mass renaming.
# Each source in its own try: a failing one is a status record with its error, the rest still come.
# Walks use .NET with an explicit stack and never enter junctions or symbolic links.
$now = [datetime]::UtcNow
$days = [int]$Params.Days
if ($days -lt 1) { throw "ransomware-signs: Days must be 1 or more, got $days" }
$since = $now.AddDays(-$days)
$iso = 'yyyy-MM-ddTHH:mm:ss.fffZ'
$inv = [Globalization.CultureInfo]::InvariantCulture

function New-Status([string]$Source, [string]$Problem) {
    [pscustomobject]@{ type = 'status'; source = $Source; error = $Problem }
}

# ---- shadow copies and the Volume Shadow Copy service ----------------------------------------
try {
    $copies = @(Get-CimInstance -ClassName Win32_ShadowCopy -ErrorAction Stop)
    $newest = $null
    foreach ($c in $copies) {
        if ($c.InstallDate -and ($null -eq $newest -or [datetime]$c.InstallDate -gt $newest)) { $newest = [datetime]$c.InstallDate }
    }
    $vss = @(Get-CimInstance -ClassName Win32_Service -Filter "Name='VSS'" -ErrorAction Stop | Where-Object { $_.Name -eq 'VSS' }) | Select-Object -First 1
    $state = [pscustomobject]@{
        type             = 'status'
        source           = 'Win32_ShadowCopy'
        detail           = ('{0} shadow copies' -f $copies.Count)
        shadowCopies     = $copies.Count
        newestShadowCopy = $(if ($newest) { $newest.ToUniversalTime().ToString($iso, $inv) } else { $null })
        vssStartMode     = $(if ($vss) { [string]$vss.StartMode } else { $null })
        vssState         = $(if ($vss) { [string]$vss.State } else { $null })
    }
    $state
    if ($vss -and [string]$vss.StartMode -eq 'Disabled') {
        [pscustomobject]@{ type = 'recovery-disabled'; source = 'Win32_Service'; setting = 'VSS'; detail = 'the Volume Shadow Copy service is disabled: no shadow copy can be made or used' }
    }
} catch { New-Status 'Win32_ShadowCopy' $_.Exception.Message }

# ---- boot recovery (bcdedit; its setting names are not translated) ---------------------------
try {
    $text = (& bcdedit.exe /enum '{default}' 2>&1 | Out-String)
    if ($LASTEXITCODE -ne 0) { throw ('bcdedit exited with {0}: {1}' -f $LASTEXITCODE, $text.Trim()) }
    foreach ($line in ($text -split "`r?`n")) {
        if ($line -match '^\s*recoveryenabled\s+(\S+)\s*$' -and $Matches[1] -eq 'No') {
            [pscustomobject]@{ type = 'recovery-disabled'; source = 'bcdedit'; setting = 'recoveryenabled'; value = 'No'; detail = 'Windows Recovery is turned off for the default boot entry' }
        } elseif ($line -match '^\s*bootstatuspolicy\s+(\S+)\s*$' -and $Matches[1] -eq 'IgnoreAllFailures') {
            [pscustomobject]@{ type = 'recovery-disabled'; source = 'bcdedit'; setting = 'bootstatuspolicy'; value = 'IgnoreAllFailures'; detail = 'boot failures no longer start Windows Recovery' }
        }
    }
} catch { New-Status 'bcdedit' $_.Exception.Message }

# ---- where to look -----------------------------------------------------------------------------
$roots = New-Object System.Collections.Generic.List[string]
$given = @($Params.Paths | Where-Object { $null -ne $_ -and $_ -ne '' })
if ($given.Count) {
    foreach ($p in $given) {
        if (-not [IO.Directory]::Exists($p)) { throw "ransomware-signs: folder does not exist: $p" }
        $roots.Add($p)
    }
} else {
    $drive = $env:SystemDrive
    if (-not $drive) { $drive = 'C:' }
    foreach ($profile in @(Get-MagpieUserProfiles)) {
        foreach ($sub in @('Desktop', 'Documents', 'Downloads', 'Pictures')) {
            $p = [IO.Path]::Combine($profile, $sub)
            if ([IO.Directory]::Exists($p) -and -not (Test-MagpieLink $p)) { $roots.Add($p) }
        }
    }
}

# ---- one walk: note candidates by name, recent files by extension ------------------------------
# Extensions of files people and programs keep; an encrypted copy's extension is none of these.
$common = New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::OrdinalIgnoreCase)
foreach ($e in ('txt log ini cfg conf xml json csv tsv md rtf doc docx docm dot dotx xls xlsx xlsm xlsb ppt pptx pptm odt ods odp pdf xps ' +
        'jpg jpeg png gif bmp tif tiff heic webp svg ico raw cr2 nef psd ai eps mp3 wav wma flac m4a aac ogg mp4 m4v mov avi wmv mkv webm ' +
        'zip 7z rar gz tgz bz2 xz tar cab iso img vhd vhdx msi msix exe dll sys lnk url bat cmd ps1 psm1 vbs js py jar class ' +
        'htm html css mht eml msg pst ost one onepkg vsd vsdx pub mdb accdb db sqlite bak tmp dat bin cache crdownload part torrent ' +
        'ttf otf woff woff2 cer crt pem pfx key p12 reg inf cat mui manifest config gpx kml dwg dxf stl blend').Split(' ')) { $null = $common.Add($e) }
$noteExt = New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::OrdinalIgnoreCase)
foreach ($e in @('txt', 'html', 'htm', 'hta', 'rtf', 'url')) { $null = $noteExt.Add($e) }
$noteName = '(?i)(decrypt|encrypt|recover|restore|ransom|unlock|how[ _-]?to|read[ _-]?me|readme|instructions|help[ _-]?files|your[ _-]?files|attention)'
$noteWords = '(?i)(encrypted|decrypt|bitcoin|monero|\.onion|tor browser|ransom|private key|recover your|restore your|your files|your network)'

$maxFiles = [long]$Params.MaxFiles
$minFiles = [int]$Params.MinFiles
$seen = 0
$capped = $false
$byExt = @{}
$notes = New-Object System.Collections.Generic.List[object]
$folders = New-Object System.Collections.Generic.Stack[string]
foreach ($r in $roots) { $folders.Push($r) }
$visited = New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::OrdinalIgnoreCase)
while ($folders.Count -and -not $capped) {
    $dir = $folders.Pop()
    if (-not $visited.Add($dir)) { continue }
    try {
        foreach ($sub in [IO.Directory]::GetDirectories($dir)) { if (-not (Test-MagpieLink $sub)) { $folders.Push($sub) } }
        $files = [IO.Directory]::GetFiles($dir)
    } catch {
        Write-Warning ("ransomware-signs: cannot list {0}: {1}" -f $dir, $_.Exception.Message)
        continue
    }
    foreach ($f in $files) {
        if ($maxFiles -gt 0 -and $seen -ge $maxFiles) { $capped = $true; break }
        $seen++
        try { $modified = [IO.File]::GetLastWriteTimeUtc($f) } catch { continue }
        if ($modified -lt $since) { continue }
        $name = [IO.Path]::GetFileName($f)
        $ext = [IO.Path]::GetExtension($f).TrimStart('.')
        if ($ext -and -not $common.Contains($ext)) {
            if (-not $byExt.ContainsKey($ext)) { $byExt[$ext] = [pscustomobject]@{ count = 0; folders = (New-Object 'System.Collections.Generic.HashSet[string]' ([StringComparer]::OrdinalIgnoreCase)); examples = (New-Object System.Collections.Generic.List[string]) } }
            $g = $byExt[$ext]
            $g.count++
            $null = $g.folders.Add($dir)
            if ($g.examples.Count -lt 5) { $g.examples.Add($f) }
        }
        if ($noteExt.Contains($ext) -and $name -match $noteName) { $notes.Add([pscustomobject]@{ path = $f; name = $name; modified = $modified }) }
    }
}
# The system drive's root: notes land there too, but it is not walked (that is the whole disk).
if (-not $given.Count) {
    $root = "$drive\"
    try {
        foreach ($f in [IO.Directory]::GetFiles($root)) {
            $name = [IO.Path]::GetFileName($f)
            $ext = [IO.Path]::GetExtension($f).TrimStart('.')
            $modified = [IO.File]::GetLastWriteTimeUtc($f)
            if ($modified -ge $since -and $noteExt.Contains($ext) -and $name -match $noteName) { $notes.Add([pscustomobject]@{ path = $f; name = $name; modified = $modified }) }
        }
    } catch { Write-Warning ("ransomware-signs: cannot list {0}: {1}" -f $root, $_.Exception.Message) }
}
if ($capped) { Write-Warning "ransomware-signs: stopped after MaxFiles ($maxFiles) files; counts cover what was seen" }

# ---- ransom notes: the text speaks of encryption and payment, or one name in several folders ----
$sameName = @{}
foreach ($n in $notes) { $k = $n.name.ToLowerInvariant(); if ($sameName.ContainsKey($k)) { $sameName[$k]++ } else { $sameName[$k] = 1 } }
foreach ($n in $notes) {
    $head = ''
    try {
        $fs = [IO.File]::Open($n.path, 'Open', 'Read', 'ReadWrite')
        try {
            $buf = New-Object byte[] 4096
            $got = $fs.Read($buf, 0, $buf.Length)
            $head = [Text.Encoding]::UTF8.GetString($buf, 0, $got)
            if ($got -ge 2 -and $buf[1] -eq 0) { $head = [Text.Encoding]::Unicode.GetString($buf, 0, $got) }
        } finally { $fs.Dispose() }
    } catch { $head = '' }
    $words = @([regex]::Matches($head, $noteWords) | ForEach-Object { $_.Value.ToLowerInvariant() } | Select-Object -Unique)
    $sameCount = $sameName[$n.name.ToLowerInvariant()]
    if ($words.Count -lt 2 -and $sameCount -lt 3) { continue }
    # The first line, flattened and short: the text is the attacker's, shown as data only.
    $first = ($head -replace '[\x00-\x1f\x7f]+', ' ').Trim()
    if ($first.Length -gt 200) { $first = $first.Substring(0, 200) }
    [pscustomobject]@{
        type       = 'ransom-note'
        source     = 'files'
        time       = $n.modified.ToString($iso, $inv)
        resources  = @($n.path)
        detail     = $first
        words      = $words
        sameNameIn = $sameCount
    }
}

# ---- mass renaming: an unusual extension on many recent files -----------------------------------
foreach ($ext in ($byExt.Keys | Sort-Object)) {
    $g = $byExt[$ext]
    if ($g.count -lt $minFiles) { continue }
    [pscustomobject]@{
        type      = 'mass-rename'
        source    = 'files'
        extension = $ext
        files     = $g.count
        folders   = $g.folders.Count
        resources = @($g.examples)
        detail    = ('{0} files modified in the last {1} days end in .{2}, in {3} folders' -f $g.count, $days, $ext, $g.folders.Count)
    }
}
