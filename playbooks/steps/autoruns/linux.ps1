# autoruns (Linux): what starts by itself, read from the files themselves (no systemctl, crontab,
# atq or modinfo: a tampered tool cannot hide an entry, and a mounted disk image reads the same).
# $Params.Root prefixes every path read except /proc, so a test (or a responder with a mounted
# image) can point the step at another tree. Paths in records are as the host sees them.
$rootDir = '/'
if ($Params.Root) { $rootDir = [string]$Params.Root }
$rootBase = [IO.Path]::GetFullPath($rootDir).TrimEnd('/') # '' for the live system; "$rootBase$path" is on disk

# Linux paths are case-sensitive, so every table keyed by a path or name is too (a plain @{} is not).
function New-MagpieTable { return , [Collections.Hashtable]::new([StringComparer]::Ordinal) }
$found = [Collections.Generic.List[object]]::new()
$canMode = $null -ne [IO.FileSystemInfo].GetProperty('UnixFileMode') # .NET 7+ (PowerShell 7.3+)

function Get-MagpieLines([string]$Path) {
    $disk = "$rootBase$Path"
    if (-not [IO.File]::Exists($disk)) { return , @() }
    try { return , [IO.File]::ReadAllLines($disk) }
    catch [IO.FileNotFoundException] { return , @() } # a dangling link (/etc/modules-load.d/modules.conf -> ../modules)
    catch [IO.DirectoryNotFoundException] { return , @() }
    catch { Write-Warning "cannot read ${Path}: $($_.Exception.Message)"; return , @() }
}
function Get-MagpieEntries([string]$Dir) {
    # A folder's files, links and subfolders, sorted by name (ordinal, as systemd and run-parts sort).
    $disk = "$rootBase$Dir"
    if (-not [IO.Directory]::Exists($disk)) { return , @() }
    try {
        $infos = [IO.DirectoryInfo]::new($disk).GetFileSystemInfos()
        $names = [string[]]@(foreach ($i in $infos) { $i.Name })
        [Array]::Sort($names, $infos, [StringComparer]::Ordinal)
        return , $infos
    } catch { Write-Warning "cannot list ${Dir}: $($_.Exception.Message)"; return , @() }
}
$noTime = [IO.File]::GetLastWriteTimeUtc('/nonexistent/magpie') # what .NET gives for a missing file (1601)
function Get-MagpieTime([string]$Path) {
    if (-not $Path) { return $null }
    $t = [IO.File]::GetLastWriteTimeUtc("$rootBase$Path")
    if ($t -eq $noTime) { return $null }
    return $t
}
function Resolve-MagpieLink([string]$Path) {
    # Follows symbolic links as the host sees them: an absolute target is under the root too.
    $p = $Path
    for ($i = 0; $i -lt 16; $i++) {
        $target = $null
        try { $target = [IO.FileInfo]::new("$rootBase$p").LinkTarget } catch { $target = $null }
        if (-not $target) { return $p }
        if (-not $target.StartsWith('/')) { $target = [IO.Path]::GetDirectoryName($p).TrimEnd('/') + '/' + $target }
        $p = [IO.Path]::GetFullPath($target) # lexical on Linux: folds ./ and ../
    }
    return $p
}
function Resolve-MagpieDir([string]$Dir) {
    # /lib/systemd/system is /usr/lib/systemd/system on a merged-/usr system: read it once.
    $cur = ''
    foreach ($part in $Dir.Trim('/').Split('/')) { $cur = Resolve-MagpieLink "$cur/$part" }
    return $cur
}
function Test-MagpieExecutable([string]$Path) {
    if (-not $canMode) { return $null }
    try { return ([int][IO.FileInfo]::new("$rootBase$Path").UnixFileMode -band 73) -ne 0 } catch { return $null } # 73 = 0o111
}

# The program a command line starts: its first word (quotes honoured, VAR=value prefixes skipped),
# found through the PATH when it has no folder. A script run directly is its own image.
$defaultPath = @('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')
$programs = New-MagpieTable
$imageOf = New-MagpieTable
function Get-MagpieImage([string]$Command, [string[]]$SearchPath, [switch]$Systemd) {
    if (-not $Command) { return $null }
    $cacheKey = "$Systemd|$SearchPath|$Command"
    if ($imageOf.ContainsKey($cacheKey)) { return $imageOf[$cacheKey] }
    $image = Find-MagpieImage $Command $SearchPath $Systemd
    $imageOf[$cacheKey] = $image
    return $image
}
function Find-MagpieImage([string]$Command, [string[]]$SearchPath, [bool]$Systemd) {
    $t = $Command.Trim()
    if ($Systemd) { $t = $t.TrimStart('-', '@', ':', '+', '!') }
    $word = $null
    for ($n = 0; $n -lt 8 -and $t; $n++) {
        if ($t[0] -eq [char]'"' -or $t[0] -eq [char]"'") {
            $end = $t.IndexOf($t[0], 1)
            if ($end -lt 0) { $word = $t.Substring(1); $t = '' } else { $word = $t.Substring(1, $end - 1); $t = $t.Substring($end + 1).TrimStart() }
        } else {
            $word = [regex]::Match($t, '^[^\s;|&()<>]+').Value
            if (-not $word) { return $null }
            $t = $t.Substring($word.Length).TrimStart()
        }
        if ($word -notmatch '^[A-Za-z_][A-Za-z0-9_]*=') { break }
        $word = $null
    }
    if (-not $word) { return $null }
    if ($word.Contains('/')) {
        if ($word.StartsWith('/')) { return [IO.Path]::GetFullPath($word) }
        return $word
    }
    if (-not $SearchPath) { $SearchPath = $defaultPath }
    $key = ($SearchPath -join ':') + '|' + $word
    if ($programs.ContainsKey($key)) { return $programs[$key] }
    $hit = $word
    foreach ($d in $SearchPath) {
        if ($d.StartsWith('/') -and [IO.File]::Exists("$rootBase$d/$word")) { $hit = $d.TrimEnd('/') + '/' + $word; break }
    }
    $programs[$key] = $hit
    return $hit
}

function Add-MagpieAutorun($Location, $Entry, $Category, $Launch, $Owner, $Time, $Image, $Enabled, $State, $File, $Extra) {
    # Plain parameters and a [pscustomobject] literal: a param() block with defaults and a cast
    # from [ordered] cost five times as much, and a host has hundreds of entries.
    $r = [pscustomobject]@{
        location = $Location; entry = $Entry; category = $Category; enabled = [bool]$Enabled; state = $State; profile = $Owner
        imagePath = $Image; imageExists = $null; launchString = $Launch; time = $Time; sha256 = $null
        signer = $null; signed = $null; signatureStatus = $null; package = $null
        file = $File; fileSignatureStatus = $null; filePackage = $null
    }
    if ($Extra) { foreach ($k in $Extra.Keys) { $r.PSObject.Properties.Add([psnoteproperty]::new($k, $Extra[$k])) } }
    $found.Add($r)
}

# ---- accounts and homes ------------------------------------------------------------------------
$userByUid = New-MagpieTable
$homes = [Collections.Specialized.OrderedDictionary]::new([StringComparer]::Ordinal) # home -> its first user
$homes['/root'] = 'root'
foreach ($line in (Get-MagpieLines '/etc/passwd')) {
    $f = $line.Split(':')
    if ($f.Count -lt 6) { continue }
    if (-not $userByUid.ContainsKey($f[2])) { $userByUid[$f[2]] = $f[0] }
    $h = $f[5].TrimEnd('/')
    if ($h -and $h.StartsWith('/') -and -not $homes.Contains($h) -and [IO.Directory]::Exists("$rootBase$h")) { $homes[$h] = $f[0] }
}

# ---- systemd -----------------------------------------------------------------------------------
# A unit name resolves to the file in the highest-priority folder; *.wants/ and *.requires/ links
# (and alias links made by `systemctl enable`) are what starts it; a link to /dev/null (or an empty
# file) masks it; drop-ins (<unit>.d/*.conf, in file-name order across every folder) amend it.
$execDirectives = @('ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost')
# Only section headers and the keys read here: one regex over the file, not a loop over its lines.
$unitKey = [regex]'(?m)^[ \t]*(?:(\[[^\]\r\n]+\])|(ExecStartPre|ExecStartPost|ExecStart|ExecReload|ExecStopPost|ExecStop|User|Unit|On[A-Za-z]+|WantedBy|RequiredBy|UpheldBy|Alias|Also)[ \t]*=[ \t]*([^\r\n]*?))[ \t]*\r?$'
$unitParsed = New-MagpieTable
function Get-MagpieUnitKeys([string]$File) {
    # (section, key, value) of each line that matters, in order; a line ending in \ continues.
    if ($unitParsed.ContainsKey($File)) { return , $unitParsed[$File] }
    $keys = [Collections.Generic.List[object]]::new()
    $text = $null
    try { $text = [IO.File]::ReadAllText("$rootBase$File") }
    catch [IO.FileNotFoundException] { $text = $null }
    catch { Write-Warning "cannot read ${File}: $($_.Exception.Message)" }
    if ($text) {
        if ($text.Contains('\')) { $text = [regex]::Replace($text, '\\\r?\n', ' ') }
        $section = ''
        foreach ($m in $unitKey.Matches($text)) {
            if ($m.Groups[1].Success) { $section = $m.Groups[1].Value; continue }
            $keys.Add(@($section, $m.Groups[2].Value, $m.Groups[3].Value.Trim()))
        }
    }
    $unitParsed[$File] = $keys
    return , $keys
}
function Get-MagpieUnitScope([string[]]$Dirs, [string[]]$AliasDirs) {
    $s = @{ units = (New-MagpieTable); wants = (New-MagpieTable); dropins = (New-MagpieTable); aliases = (New-MagpieTable) }
    $seen = New-MagpieTable
    foreach ($dir in $Dirs) {
        $real = Resolve-MagpieDir $dir
        if ($seen.ContainsKey($real)) { continue }
        $seen[$real] = $true
        foreach ($info in (Get-MagpieEntries $dir)) {
            $name = $info.Name
            $path = "$dir/$name"
            if ($info -is [IO.DirectoryInfo]) {
                if ($name.EndsWith('.wants') -or $name.EndsWith('.requires')) {
                    $by = $name.Substring(0, $name.LastIndexOf('.'))
                    foreach ($l in (Get-MagpieEntries $path)) {
                        if ($l.LinkTarget -eq '/dev/null') { continue }
                        if (-not $s.wants.ContainsKey($l.Name)) { $s.wants[$l.Name] = [Collections.Generic.List[object]]::new() }
                        $s.wants[$l.Name].Add(@{ by = $by; link = "$path/$($l.Name)"; time = $l.LastWriteTimeUtc })
                    }
                } elseif ($name -match '^(.*\.(service|timer)|service|timer)\.d$') {
                    $unit = $Matches[1]
                    if (-not $s.dropins.ContainsKey($unit)) { $s.dropins[$unit] = New-MagpieTable }
                    foreach ($c in (Get-MagpieEntries $path)) {
                        # The same file name in a higher-priority folder replaces the lower one.
                        if ($c.Name.EndsWith('.conf') -and -not $s.dropins[$unit].ContainsKey($c.Name)) { $s.dropins[$unit][$c.Name] = "$path/$($c.Name)" }
                    }
                }
                continue
            }
            if ($name -notmatch '\.(service|timer)$') { continue }
            if ($s.units.ContainsKey($name)) { $s.units[$name].shadowed.Add($path); continue }
            $u = @{ name = $name; dir = $dir; path = $path; file = $path; masked = $false; shadowed = [Collections.Generic.List[string]]::new() }
            if ($info.LinkTarget) {
                $file = Resolve-MagpieLink $path
                if ($file -eq '/dev/null') { $u.masked = $true; $u.file = $null }
                elseif ([IO.Path]::GetFileName($file) -ne $name) {
                    # An alias (Alias= in [Install]): the other name of the unit the link points to.
                    $target = [IO.Path]::GetFileName($file)
                    if (-not $s.aliases.ContainsKey($target)) { $s.aliases[$target] = [Collections.Generic.List[object]]::new() }
                    $s.aliases[$target].Add(@{ name = $name; link = $path; file = $file; enables = ($AliasDirs -contains $dir); time = $info.LastWriteTimeUtc })
                    continue
                } else { $u.file = $file }
            } elseif ($info.Length -eq 0) { $u.masked = $true; $u.file = $null }
            $s.units[$name] = $u
        }
    }
    # An alias whose target no folder defines (a link to a unit file kept elsewhere) is a unit itself.
    foreach ($target in @($s.aliases.Keys)) {
        if ($s.units.ContainsKey($target)) { continue }
        foreach ($a in $s.aliases[$target]) {
            if (-not $s.units.ContainsKey($a.name)) {
                $s.units[$a.name] = @{ name = $a.name; dir = [IO.Path]::GetDirectoryName($a.link); path = $a.link; file = $a.file; masked = $false; shadowed = [Collections.Generic.List[string]]::new() }
            }
        }
    }
    return $s
}
function Read-MagpieUnit($Scope, [string]$Name) {
    # The unit as systemd would load it: its file (a template's for an instance), then drop-ins.
    $u = $null
    $template = $null
    if ($Scope.units.ContainsKey($Name)) { $u = $Scope.units[$Name] }
    elseif ($Name -match '^([^@]+@)[^@]*(\.\w+)$') {
        $template = $Matches[1] + $Matches[2]
        if ($Scope.units.ContainsKey($template)) { $u = $Scope.units[$template] }
    }
    $unit = @{ name = $Name; u = $u; masked = $false; install = $false; user = $null; target = $null; schedule = [Collections.Generic.List[string]]::new()
        exec = [ordered]@{}; files = [Collections.Generic.List[string]]::new(); dropins = [Collections.Generic.List[string]]::new() }
    foreach ($d in $execDirectives) { $unit.exec[$d] = [Collections.Generic.List[object]]::new() }
    if (-not $u) { return $unit }
    if ($u.masked) { $unit.masked = $true; return $unit }
    $type = [IO.Path]::GetExtension($Name).TrimStart('.')
    $conf = New-MagpieTable
    foreach ($key in @($type, $template, $Name)) {
        if ($key -and $Scope.dropins.ContainsKey($key)) { foreach ($c in $Scope.dropins[$key].Keys) { $conf[$c] = $Scope.dropins[$key][$c] } }
    }
    $names = [string[]]@($conf.Keys)
    [Array]::Sort($names, [StringComparer]::Ordinal)
    $unitFiles = @($u.file) + @(foreach ($c in $names) { $conf[$c] })
    foreach ($file in $unitFiles) {
        $unit.files.Add($file)
        if ($file -ne $u.file) { $unit.dropins.Add($file) }
        foreach ($kv in (Get-MagpieUnitKeys $file)) {
            $section = $kv[0]
            $key = $kv[1]
            $value = $kv[2]
            if ($section -eq '[Service]') {
                if ($unit.exec.Contains($key)) {
                    # An empty assignment resets the list: how a drop-in replaces ExecStart.
                    if ($value) { $unit.exec[$key].Add(@{ command = $value; file = $file }) } else { $unit.exec[$key].Clear() }
                } elseif ($key -eq 'User') { $unit.user = $value }
            } elseif ($section -eq '[Timer]') {
                if ($key -eq 'Unit') { $unit.target = $value }
                elseif ($key -like 'On*') { if ($value) { $unit.schedule.Add("$key=$value") } else { $unit.schedule.Clear() } }
            } elseif ($section -eq '[Install]') {
                if ($value -and @('WantedBy', 'RequiredBy', 'UpheldBy', 'Alias', 'Also') -contains $key) { $unit.install = $true }
            }
        }
    }
    return $unit
}
function Add-MagpieUnits($Scope, [string]$Owner, [string]$OnlyUnder) {
    # Every service and timer: the ones folders define, instances of templates that links name,
    # and links to units no folder defines any more (an entry whose file was removed).
    $names = New-MagpieTable
    foreach ($n in $Scope.units.Keys) { $names[$n] = $true }
    foreach ($n in $Scope.wants.Keys) { if ($n -match '\.(service|timer)$') { $names[$n] = $true } }
    $templatesUsed = New-MagpieTable
    foreach ($n in @($names.Keys)) {
        if ($n -match '^([^@]+@)[^@]+(\.\w+)$' -and -not $Scope.units.ContainsKey($n)) { $templatesUsed[$Matches[1] + $Matches[2]] = $true }
    }
    $sorted = [string[]]@($names.Keys)
    [Array]::Sort($sorted, [StringComparer]::Ordinal)
    foreach ($name in $sorted) {
        if ($templatesUsed.ContainsKey($name) -and -not $Scope.wants.ContainsKey($name)) { continue } # shown through its instances
        $unit = Read-MagpieUnit $Scope $name
        $u = $unit.u
        $links = @()
        if ($Scope.wants.ContainsKey($name)) { $links += @($Scope.wants[$name]) }
        $aliasKey = $name
        if ($u) { $aliasKey = [IO.Path]::GetFileName($u.file) }
        if ($aliasKey -and $Scope.aliases.ContainsKey($aliasKey)) { foreach ($a in $Scope.aliases[$aliasKey]) { if ($a.enables) { $links += @{ by = "alias $($a.name)"; link = $a.link; time = $a.time } } } }
        if ($OnlyUnder) {
            # A user's own scope: what that user's folder defines or enables.
            $mine = ($u -and $u.path.StartsWith($OnlyUnder))
            foreach ($l in $links) { if ($l.link.StartsWith($OnlyUnder)) { $mine = $true } }
            if (-not $mine) { continue }
        }
        $state = 'static'
        if ($unit.masked) { $state = 'masked' }
        elseif ($links.Count) { $state = 'enabled' }
        elseif ($unit.install) { $state = 'disabled' }
        $dir = '(missing)'
        $unitFile = $null
        if ($u) { $dir = $u.dir; $unitFile = $u.file }
        elseif ($links.Count) { $dir = [IO.Path]::GetDirectoryName($links[0].link); $unitFile = Resolve-MagpieLink $links[0].link }
        $runAs = $Owner # a local named like the parameter would be the parameter: names ignore case
        if ($unit.user) { $runAs = $unit.user }
        # When the entry as a whole was last written: its files, drop-ins and enabling links.
        $time = $null
        foreach ($f in $unit.files) { $ft = Get-MagpieTime $f; if ($null -ne $ft -and ($null -eq $time -or $ft -gt $time)) { $time = $ft } }
        foreach ($l in $links) { if ($null -eq $time -or $l.time -gt $time) { $time = $l.time } }
        $dropIns = $null
        if ($unit.dropins.Count) { $dropIns = $unit.dropins -join ', ' }
        $overrides = $null
        if ($u -and $u.shadowed.Count) { $overrides = $u.shadowed -join ', ' }
        $enabledBy = $null
        if ($links.Count) {
            $by = [Collections.Generic.List[string]]::new()
            foreach ($l in $links) { if (-not $by.Contains($l.by)) { $by.Add($l.by) } }
            $enabledBy = $by -join ', '
        }
        $note = $null
        if (-not $u) { $note = 'enabled, but no folder defines this unit (its file was removed?)' }
        $category = 'Services'
        $runs = $name
        $schedule = $null
        $execOf = $unit
        if ($name.EndsWith('.timer')) {
            # A timer runs its Unit= (by default the service of the same name).
            $category = 'Timers'
            $runs = $unit.target
            if (-not $runs) { $runs = $name.Substring(0, $name.Length - 6) + '.service' }
            if ($unit.schedule.Count) { $schedule = $unit.schedule -join '; ' }
            $execOf = Read-MagpieUnit $Scope $runs
            foreach ($f in $execOf.files) { $ft = Get-MagpieTime $f; if ($null -ne $ft -and ($null -eq $time -or $ft -gt $time)) { $time = $ft } }
            if ($execOf.user) { $runAs = $execOf.user }
        }
        $enabled = ($state -eq 'enabled')
        $any = $false
        foreach ($d in $execDirectives) {
            foreach ($e in $execOf.exec[$d]) {
                $any = $true
                $x = [ordered]@{ unit = $runs; directive = $d; execFile = $e.file; enabledBy = $enabledBy; dropIns = $dropIns; overrides = $overrides; schedule = $schedule; note = $note }
                Add-MagpieAutorun $dir $name $category $e.command $runAs $time (Get-MagpieImage $e.command $null -Systemd) $enabled $state $unitFile $x
            }
        }
        if (-not $any) {
            $x = [ordered]@{ unit = $runs; directive = $null; execFile = $null; enabledBy = $enabledBy; dropIns = $dropIns; overrides = $overrides; schedule = $schedule; note = $note }
            Add-MagpieAutorun $dir $name $category $null $runAs $time $null $enabled $state $unitFile $x
        }
    }
}

$systemDirs = @('/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system')
$systemScope = Get-MagpieUnitScope $systemDirs @('/etc/systemd/system')
Add-MagpieUnits $systemScope 'root' $null
$userDirs = @('/etc/systemd/user', '/run/systemd/user', '/usr/local/lib/systemd/user', '/usr/lib/systemd/user', '/lib/systemd/user')
Add-MagpieUnits (Get-MagpieUnitScope $userDirs @('/etc/systemd/user')) 'System-wide' $null
foreach ($h in $homes.Keys) {
    $mine = "$h/.config/systemd/user"
    if (-not [IO.Directory]::Exists("$rootBase$mine")) { continue }
    Add-MagpieUnits (Get-MagpieUnitScope (@($mine) + $userDirs) @($mine, '/etc/systemd/user')) $homes[$h] "$mine/"
}

# ---- cron, anacron, at -------------------------------------------------------------------------
# The system table and cron.d carry a user field; per-user tables do not. PATH= lines change where
# cron finds a bare program name (its default is /usr/bin:/bin).
$cronFiles = [Collections.Generic.List[object]]::new()
$cronFiles.Add(@{ file = '/etc/crontab'; user = $null })
foreach ($i in (Get-MagpieEntries '/etc/cron.d')) { if ($i -isnot [IO.DirectoryInfo] -and $i.Name -ne '.placeholder') { $cronFiles.Add(@{ file = "/etc/cron.d/$($i.Name)"; user = $null }) } }
foreach ($dir in @('/var/spool/cron/crontabs', '/var/spool/cron/tabs', '/var/spool/cron')) {
    foreach ($i in (Get-MagpieEntries $dir)) { if ($i -isnot [IO.DirectoryInfo] -and -not $i.Name.StartsWith('.')) { $cronFiles.Add(@{ file = "$dir/$($i.Name)"; user = $i.Name }) } }
}
foreach ($c in $cronFiles) {
    $search = @('/usr/bin', '/bin')
    $time = Get-MagpieTime $c.file
    foreach ($line in (Get-MagpieLines $c.file)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#')) { continue }
        if ($t -match '^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$') {
            if ($Matches[1] -eq 'PATH') { $search = @($Matches[2].Trim('"', "'").Split(':') | Where-Object { $_ }) }
            continue
        }
        $fields = $t -split '\s+'
        $schedule = 5
        if ($t.StartsWith('@')) { $schedule = 1 }
        $userField = $(if ($c.user) { 0 } else { 1 })
        if ($fields.Count -le $schedule + $userField) { continue }
        $owner = $(if ($c.user) { $c.user } else { $fields[$schedule] })
        $command = ($fields[($schedule + $userField)..($fields.Count - 1)]) -join ' '
        Add-MagpieAutorun $c.file (($fields[0..($schedule - 1)]) -join ' ') 'Tasks' $command $owner $time (Get-MagpieImage $command $search) $true 'enabled' $c.file
    }
}
# Lines a responder should read (downloads, reverse shells, temp folders, preloads, hooks run at
# every prompt, aliases over security tools), quoted after a script's path in its launch string.
$watch = '(curl|wget)\s|/dev/(tcp|udp)/|base64|\bnc(at)?\s|\bsocat\s|/tmp/|/dev/shm/|/var/tmp/|LD_PRELOAD|LD_LIBRARY_PATH|PROMPT_COMMAND|\btrap\s.+\bDEBUG\b|\bpython[0-9.]*\s+-c\s|\bperl\s+-e\s|\bnohup\s|\bsetsid\s|\bmkfifo\s|\balias\s+(sudo|su|ssh|passwd|ps|netstat|ss|lsof|top|kill)='
function Get-MagpieScriptLaunch([string]$Path) {
    $flagged = [Collections.Generic.List[string]]::new()
    try { if ([IO.FileInfo]::new("$rootBase$Path").Length -gt 1MB) { return $Path } } catch { return $Path }
    foreach ($line in (Get-MagpieLines $Path)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#') -or $t -notmatch $watch) { continue }
        if ($t.Length -gt 120) { $t = $t.Substring(0, 120) + ' ...' }
        $flagged.Add($t)
        if ($flagged.Count -ge 3) { break }
    }
    if ($flagged.Count) { return "${Path}: " + ($flagged -join ' ; ') }
    return $Path
}
# /etc/cron.{hourly,daily,weekly,monthly}: each script is the autorun. run-parts runs only executable
# files whose names are letters, digits, _ and - (so not x.sh, not x.dpkg-old).
foreach ($period in @('hourly', 'daily', 'weekly', 'monthly')) {
    $dir = "/etc/cron.$period"
    foreach ($i in (Get-MagpieEntries $dir)) {
        if ($i -is [IO.DirectoryInfo] -or $i.Name -eq '.placeholder') { continue }
        $path = "$dir/$($i.Name)"
        $exec = Test-MagpieExecutable $path
        $state = 'enabled'
        $note = $null
        if ($i.Name -notmatch '^[A-Za-z0-9_-]+$') { $state = 'disabled'; $note = 'run-parts skips this name' }
        elseif ($exec -eq $false) { $state = 'disabled'; $note = 'not executable: run-parts skips it' }
        Add-MagpieAutorun $dir $i.Name 'Tasks' (Get-MagpieScriptLaunch $path) 'root' (Get-MagpieTime $path) $path ($state -eq 'enabled') $state $path ([ordered]@{ schedule = $period; note = $note })
    }
}
# anacron: period, delay, job id, command.
$time = Get-MagpieTime '/etc/anacrontab'
foreach ($line in (Get-MagpieLines '/etc/anacrontab')) {
    $t = $line.Trim()
    if (-not $t -or $t.StartsWith('#') -or $t -match '^[A-Za-z_][A-Za-z0-9_]*\s*=') { continue }
    $fields = $t -split '\s+'
    if ($fields.Count -lt 4) { continue }
    $command = ($fields[3..($fields.Count - 1)]) -join ' '
    Add-MagpieAutorun '/etc/anacrontab' $fields[2] 'Tasks' $command 'root' $time (Get-MagpieImage $command) $true 'enabled' '/etc/anacrontab' ([ordered]@{ schedule = "every $($fields[0]) day(s), $($fields[1]) min delay" })
}
# at: each job is a shell script; at's preamble (environment, umask, cd) comes first, the user's
# commands last (after the cd block, or inside at's heredoc).
foreach ($dir in @('/var/spool/cron/atjobs', '/var/spool/at')) {
    foreach ($i in (Get-MagpieEntries $dir)) {
        if ($i -is [IO.DirectoryInfo] -or $i.Name.StartsWith('.') -or $i.Name -eq 'spool') { continue }
        $path = "$dir/$($i.Name)"
        $lines = Get-MagpieLines $path
        $owner = $null
        $start = 0
        $delim = $null
        $body = [Collections.Generic.List[string]]::new()
        $inCd = $false
        for ($k = 0; $k -lt $lines.Count; $k++) {
            $l = $lines[$k]
            if ($l -match '^# atrun uid=(\d+)') { $owner = $Matches[1]; if ($userByUid.ContainsKey($owner)) { $owner = $userByUid[$owner] } }
            elseif ($l -match '^cd .*\|\|\s*\{\s*$') { $inCd = $true }
            elseif ($inCd -and $l -match '^\s*\}\s*$') { $start = $k + 1; break }
        }
        for ($k = $start; $k -lt $lines.Count; $k++) {
            $t = $lines[$k].Trim()
            if (-not $t -or $t.StartsWith('#')) { continue }
            if ($null -eq $delim -and $t -match "<<\s*'?(marcinDELIMITER[0-9a-f]+)'?") { $delim = $Matches[1]; continue }
            if ($delim -and $t -eq $delim) { break }
            $body.Add($t)
        }
        $launch = ($body | Select-Object -Last 5) -join '; '
        if ($launch.Length -gt 400) { $launch = $launch.Substring(0, 400) + ' ...' }
        $runAt = $null
        # at's job file name: queue letter, 5 hex digits of job number, 8 of minutes since the epoch.
        if ($i.Name -match '^[a-zA-Z=]([0-9a-f]{5})([0-9a-f]{8})$') { $runAt = [DateTimeOffset]::FromUnixTimeSeconds([Convert]::ToInt64($Matches[2], 16) * 60).UtcDateTime }
        Add-MagpieAutorun $dir $i.Name 'Tasks' $launch $owner (Get-MagpieTime $path) $path $true 'enabled' $path ([ordered]@{ schedule = 'at'; runAt = $runAt })
    }
}

# ---- boot scripts ------------------------------------------------------------------------------
if ([IO.File]::Exists("$rootBase/etc/rc.local")) {
    # systemd's rc-local generator runs it only when it is executable.
    $state = $(if ((Test-MagpieExecutable '/etc/rc.local') -eq $false) { 'disabled' } else { 'enabled' })
    Add-MagpieAutorun '/etc' 'rc.local' 'Boot Execute' (Get-MagpieScriptLaunch '/etc/rc.local') 'root' (Get-MagpieTime '/etc/rc.local') '/etc/rc.local' ($state -eq 'enabled') $state '/etc/rc.local'
}
# init.d scripts start at boot when an /etc/rc?.d/S* link names them (and no native unit of the
# same name replaces them).
$rcStart = New-MagpieTable
foreach ($level in @('S', '2', '3', '4', '5')) {
    foreach ($i in (Get-MagpieEntries "/etc/rc$level.d")) { if ($i.Name -match '^S\d\d(.+)$') { $rcStart[$Matches[1]] = "/etc/rc$level.d/$($i.Name)" } }
}
foreach ($i in (Get-MagpieEntries '/etc/init.d')) {
    if ($i -is [IO.DirectoryInfo] -or $i.Name.StartsWith('.') -or $i.Name -eq 'README' -or $i.Name -eq 'skeleton') { continue }
    $path = "/etc/init.d/$($i.Name)"
    $state = $(if ($rcStart.ContainsKey($i.Name)) { 'enabled' } else { 'disabled' })
    $native = $null
    if ($systemScope.units.ContainsKey("$($i.Name).service")) { $native = "$($i.Name).service" }
    Add-MagpieAutorun '/etc/init.d' $i.Name 'Boot Execute' (Get-MagpieScriptLaunch $path) 'root' (Get-MagpieTime $path) $path ($state -eq 'enabled') $state $path ([ordered]@{ enabledBy = $(if ($rcStart.ContainsKey($i.Name)) { $rcStart[$i.Name] } else { $null }); replacedBy = $native })
}

# ---- shell start-up files, /etc/environment, libraries preloaded into every process -------------
# The file is the autorun; lines matching $watch are quoted after its path.
function Add-MagpieShellFile([string]$Path, [string]$Owner) {
    if (-not [IO.File]::Exists("$rootBase$Path")) { return }
    $flagged = [Collections.Generic.List[string]]::new()
    $time = Get-MagpieTime $Path
    foreach ($line in (Get-MagpieLines $Path)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#')) { continue }
        if ($t -match '\bLD_PRELOAD\s*=\s*(?:"([^"]*)"|''([^'']*)''|([^\s;]*))') {
            $libs = "$($Matches[1])$($Matches[2])$($Matches[3])"
            foreach ($lib in ($libs -split '[\s:]+')) {
                if ($lib -and -not $lib.StartsWith('$')) { Add-MagpieAutorun $Path $lib 'Preload' $t $Owner $time $lib $true 'enabled' $Path }
            }
        }
        if ($t -match $watch -and $flagged.Count -lt 3) {
            if ($t.Length -gt 120) { $t = $t.Substring(0, 120) + ' ...' }
            $flagged.Add($t)
        }
    }
    $launch = $Path
    if ($flagged.Count) { $launch = "${Path}: " + ($flagged -join ' ; ') }
    Add-MagpieAutorun ([IO.Path]::GetDirectoryName($Path)) ([IO.Path]::GetFileName($Path)) 'Logon' $launch $Owner $time $Path $true 'enabled' $Path ([ordered]@{ flaggedLines = $flagged.Count })
}
foreach ($p in @('/etc/environment', '/etc/profile', '/etc/bash.bashrc', '/etc/bashrc', '/etc/bash.bash_logout', '/etc/zsh/zshenv', '/etc/zsh/zprofile', '/etc/zsh/zshrc', '/etc/zsh/zlogin')) { Add-MagpieShellFile $p 'System-wide' }
foreach ($i in (Get-MagpieEntries '/etc/profile.d')) { if ($i -isnot [IO.DirectoryInfo]) { Add-MagpieShellFile "/etc/profile.d/$($i.Name)" 'System-wide' } }
foreach ($h in $homes.Keys) {
    foreach ($n in @('.bashrc', '.profile', '.bash_profile', '.bash_login', '.bash_logout', '.zshenv', '.zprofile', '.zshrc', '.zlogin')) { Add-MagpieShellFile "$h/$n" $homes[$h] }
}
$time = Get-MagpieTime '/etc/ld.so.preload'
foreach ($line in (Get-MagpieLines '/etc/ld.so.preload')) {
    $t = $line.Trim()
    if (-not $t -or $t.StartsWith('#')) { continue }
    foreach ($lib in ($t -split '[\s:]+')) { if ($lib) { Add-MagpieAutorun '/etc/ld.so.preload' $lib 'Preload' $lib 'root' $time $lib $true 'enabled' '/etc/ld.so.preload' } }
}

# ---- login banners, desktop autostart, udev ----------------------------------------------------
foreach ($i in (Get-MagpieEntries '/etc/update-motd.d')) {
    if ($i -is [IO.DirectoryInfo]) { continue }
    $path = "/etc/update-motd.d/$($i.Name)"
    $state = $(if ((Test-MagpieExecutable $path) -eq $false) { 'disabled' } else { 'enabled' })
    Add-MagpieAutorun '/etc/update-motd.d' $i.Name 'Motd' (Get-MagpieScriptLaunch $path) 'root' (Get-MagpieTime $path) $path ($state -eq 'enabled') $state $path
}
$autostartDirs = [ordered]@{ '/etc/xdg/autostart' = 'System-wide' }
foreach ($h in $homes.Keys) { $autostartDirs["$h/.config/autostart"] = $homes[$h] }
foreach ($dir in $autostartDirs.Keys) {
    foreach ($i in (Get-MagpieEntries $dir)) {
        if ($i -is [IO.DirectoryInfo] -or -not $i.Name.EndsWith('.desktop')) { continue }
        $path = "$dir/$($i.Name)"
        $exec = $null
        $state = 'enabled'
        $section = ''
        foreach ($line in (Get-MagpieLines $path)) {
            $t = $line.Trim()
            if ($t.StartsWith('[')) { $section = $t; continue }
            if ($section -ne '[Desktop Entry]') { continue }
            if ($t -match '^Exec\s*=\s*(.*)$') { $exec = $Matches[1] }
            elseif ($t -match '^(Hidden\s*=\s*true|X-GNOME-Autostart-enabled\s*=\s*false)\s*$') { $state = 'disabled' }
        }
        Add-MagpieAutorun $dir $i.Name 'Autostart' $exec $autostartDirs[$dir] (Get-MagpieTime $path) (Get-MagpieImage $exec) ($state -eq 'enabled') $state $path
    }
}
# udev: a rules file in /etc replaces the same name in /run and /usr/lib (a link to /dev/null
# disables it); RUN, PROGRAM and IMPORT{program} keys start programs (a bare name is in /usr/lib/udev).
$udevFiles = New-MagpieTable
$seen = New-MagpieTable
foreach ($dir in @('/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d')) {
    $real = Resolve-MagpieDir $dir
    if ($seen.ContainsKey($real)) { continue }
    $seen[$real] = $true
    foreach ($i in (Get-MagpieEntries $dir)) {
        if ($i -is [IO.DirectoryInfo] -or -not $i.Name.EndsWith('.rules') -or $udevFiles.ContainsKey($i.Name)) { continue }
        $udevFiles[$i.Name] = "$dir/$($i.Name)"
    }
}
$udevNames = [string[]]@($udevFiles.Keys)
[Array]::Sort($udevNames, [StringComparer]::Ordinal)
$udevKey = [regex]'\b(RUN|PROGRAM|IMPORT)(?:\{(\w+)\})?\s*(?:\+=|:=|=)\s*"((?:[^"\\]|\\.)*)"'
foreach ($n in $udevNames) {
    $path = $udevFiles[$n]
    if ((Resolve-MagpieLink $path) -eq '/dev/null') { continue }
    $time = Get-MagpieTime $path
    $lines = Get-MagpieLines $path
    $buf = $null
    $first = 0
    for ($k = 0; $k -lt $lines.Count; $k++) {
        $line = $lines[$k]
        if ($null -ne $buf) { $line = $buf + ' ' + $line.Trim(); $buf = $null } else { $first = $k + 1 }
        if ($line.EndsWith('\')) { $buf = $line.Substring(0, $line.Length - 1); continue }
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#') -or -not ($t.Contains('RUN') -or $t.Contains('PROGRAM') -or $t.Contains('IMPORT'))) { continue }
        foreach ($m in $udevKey.Matches($t)) {
            $key = $m.Groups[1].Value
            $type = $m.Groups[2].Value
            if ($key -eq 'RUN' -and $type -and $type -ne 'program') { continue }
            if ($key -eq 'IMPORT' -and $type -ne 'program') { continue }
            $command = $m.Groups[3].Value
            Add-MagpieAutorun $path "${n}:$first" 'Udev' $command 'root' $time (Get-MagpieImage $command @('/usr/lib/udev', '/lib/udev')) $true 'enabled' $path ([ordered]@{ directive = $m.Value.Substring(0, $m.Value.IndexOf('=')).TrimEnd('+', ':', ' ') })
        }
    }
}

# ---- SSH keys that let someone back in ---------------------------------------------------------
$keyType = [regex]'(?:^|\s)((?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+|ssh-\S+-cert-v01@openssh\.com)\s+([A-Za-z0-9+/=]+))(?:\s+(.*))?$'
$sha256Hasher = [Security.Cryptography.SHA256]::Create()
foreach ($h in $homes.Keys) {
    foreach ($n in @('authorized_keys', 'authorized_keys2')) {
        $keys = "$h/.ssh/$n"
        if (-not [IO.File]::Exists("$rootBase$keys")) { continue }
        $time = Get-MagpieTime $keys
        foreach ($line in (Get-MagpieLines $keys)) {
            $t = $line.Trim()
            if (-not $t -or $t.StartsWith('#')) { continue }
            $m = $keyType.Match($t)
            $options = $null
            $comment = $null
            $fingerprint = $null
            if ($m.Success) {
                $options = $t.Substring(0, $m.Index).Trim()
                $comment = $m.Groups[3].Value.Trim()
                # OpenSSH's fingerprint (what sshd logs on each login: "... ssh2: RSA SHA256:...").
                try { $fingerprint = 'SHA256:' + [Convert]::ToBase64String($sha256Hasher.ComputeHash([Convert]::FromBase64String($m.Groups[2].Value))).TrimEnd('=') } catch { $fingerprint = $null }
            }
            $entry = $comment
            if (-not $entry) { $entry = $fingerprint }
            if (-not $entry) { $entry = ($t -split '\s+')[-1] }
            $launch = $t
            $image = $null
            $cmd = [regex]::Match("$options", '(?:^|,)command="((?:[^"\\]|\\.)*)"')
            if ($cmd.Success) {
                # A forced command runs at every login with this key, whatever the client asks for.
                $launch = $cmd.Groups[1].Value.Replace('\"', '"')
                $image = Get-MagpieImage $launch
            }
            Add-MagpieAutorun $keys $entry 'SSH' $launch $homes[$h] $time $image $true 'enabled' $keys ([ordered]@{ keyOptions = $(if ($options) { $options } else { $null }); fingerprint = $fingerprint })
        }
    }
}

# ---- kernel modules ----------------------------------------------------------------------------
# Modules listed to load at boot, modprobe "install" commands (they run a program instead of, or
# before, loading a module), and loaded modules whose file no package owns. The loaded list is the
# running kernel's (/proc, never under the root); files are found through modules.dep.
$pendingModules = [Collections.Generic.List[object]]::new()
$release = $null
try { $release = [IO.File]::ReadAllText('/proc/sys/kernel/osrelease').Trim() } catch { $release = $null }
$moduleFiles = New-MagpieTable
$modDir = $null
if ($release) {
    foreach ($candidate in @("/lib/modules/$release", "/usr/lib/modules/$release")) { if ([IO.Directory]::Exists("$rootBase$candidate")) { $modDir = $candidate; break } }
}
if ($modDir) {
    $dep = Get-MagpieLines "$modDir/modules.dep"
    if ($dep.Count) {
        foreach ($l in $dep) {
            $colon = $l.IndexOf(':')
            if ($colon -lt 1) { continue }
            $rel = $l.Substring(0, $colon)
            $full = $rel
            if (-not $rel.StartsWith('/')) { $full = "$modDir/$rel" }
            $mod = ([IO.Path]::GetFileName($rel) -replace '\.ko(\.(gz|xz|zst))?$', '').Replace('-', '_')
            if (-not $moduleFiles.ContainsKey($mod)) { $moduleFiles[$mod] = $full }
        }
    } else {
        try {
            foreach ($f in [IO.Directory]::EnumerateFiles("$rootBase$modDir", '*.ko*', [IO.SearchOption]::AllDirectories)) {
                $mod = ([IO.Path]::GetFileName($f) -replace '\.ko(\.(gz|xz|zst))?$', '').Replace('-', '_')
                if (-not $moduleFiles.ContainsKey($mod)) { $moduleFiles[$mod] = $f.Substring($rootBase.Length) }
            }
        } catch { Write-Warning "cannot list ${modDir}: $($_.Exception.Message)" }
    }
}
function Get-MagpieModuleFile([string]$Name) {
    $k = $Name.Replace('-', '_')
    if ($moduleFiles.ContainsKey($k)) { return $moduleFiles[$k] }
    return $null
}
$seen = New-MagpieTable
$loadFiles = [Collections.Generic.List[string]]::new()
if ([IO.File]::Exists("$rootBase/etc/modules")) { $loadFiles.Add('/etc/modules') }
foreach ($dir in @('/etc/modules-load.d', '/run/modules-load.d', '/usr/local/lib/modules-load.d', '/usr/lib/modules-load.d', '/lib/modules-load.d')) {
    $real = Resolve-MagpieDir $dir
    if ($seen.ContainsKey($real)) { continue }
    $seen[$real] = $true
    foreach ($i in (Get-MagpieEntries $dir)) { if ($i -isnot [IO.DirectoryInfo] -and $i.Name.EndsWith('.conf')) { $loadFiles.Add("$dir/$($i.Name)") } }
}
foreach ($path in $loadFiles) {
    $time = Get-MagpieTime $path
    foreach ($line in (Get-MagpieLines $path)) {
        $t = $line.Trim()
        if (-not $t -or $t.StartsWith('#') -or $t.StartsWith(';')) { continue }
        $mod = ($t -split '\s+')[0]
        Add-MagpieAutorun $path $mod 'Kernel Modules' $t 'root' $time (Get-MagpieModuleFile $mod) $true 'enabled' $path
    }
}
$seen = New-MagpieTable
foreach ($dir in @('/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d', '/usr/lib/modprobe.d', '/lib/modprobe.d')) {
    $real = Resolve-MagpieDir $dir
    if ($seen.ContainsKey($real)) { continue }
    $seen[$real] = $true
    foreach ($i in (Get-MagpieEntries $dir)) {
        if ($i -is [IO.DirectoryInfo] -or -not $i.Name.EndsWith('.conf')) { continue }
        $path = "$dir/$($i.Name)"
        $time = Get-MagpieTime $path
        foreach ($line in (Get-MagpieLines $path)) {
            if ($line -match '^\s*(install|remove)\s+(\S+)\s+(.+)$') {
                $command = $Matches[3].Trim()
                Add-MagpieAutorun $path "$($Matches[1]) $($Matches[2])" 'Kernel Modules' $command 'root' $time (Get-MagpieImage $command) $true 'enabled' $path
            }
        }
    }
}
if ([IO.File]::Exists('/proc/modules')) {
    if (-not $modDir) { Write-Warning "no /lib/modules/$release under the root (a container?): loaded kernel modules not checked" }
    else {
        foreach ($line in [IO.File]::ReadAllLines('/proc/modules')) {
            $f = $line.Split(' ')
            if (-not $f[0]) { continue }
            $pendingModules.Add(@{ name = $f[0]; file = (Get-MagpieModuleFile $f[0]); taint = $(if ($f.Count -gt 6) { $f[6].Trim('(', ')') } else { $null }) })
        }
    }
}

# ---- each distinct file once: package ownership, checksum, SHA-256 ------------------------------
$files = New-MagpieTable
function Add-MagpieFile([string]$Path) {
    if (-not $Path -or -not $Path.StartsWith('/') -or $files.ContainsKey($Path)) { return }
    $files[$Path] = @{ exists = [IO.File]::Exists("$rootBase$Path"); sha256 = $null; md5 = $null; package = $null; status = $null }
}
foreach ($rec in $found) { Add-MagpieFile $rec.imagePath; Add-MagpieFile $rec.file }
foreach ($m in $pendingModules) { Add-MagpieFile $m.file }

$md5Hasher = [Security.Cryptography.MD5]::Create()
function Set-MagpieHashes($File, [string]$Path, [bool]$WithSha256) {
    # MD5 (what dpkg records) and, for images, SHA-256, from one read of the file. Not a FIFO or
    # device (they report 0 bytes; reading one would block), nothing under /dev, /proc or /sys.
    if ($Path.StartsWith('/dev/') -or $Path.StartsWith('/proc/') -or $Path.StartsWith('/sys/')) { return }
    $disk = "$rootBase$Path"
    try {
        $length = [IO.FileInfo]::new($disk).Length
        if ($length -eq 0) { $bytes = [byte[]]@() }
        elseif ($length -le 67108864) { $bytes = [IO.File]::ReadAllBytes($disk) }
        else {
            # A large file is streamed once per algorithm rather than held in memory.
            $stream = [IO.File]::OpenRead($disk)
            try { $File.md5 = [Convert]::ToHexString($md5Hasher.ComputeHash($stream)).ToLowerInvariant() } finally { $stream.Dispose() }
            if ($WithSha256) {
                $stream = [IO.File]::OpenRead($disk)
                try { $File.sha256 = [Convert]::ToHexString($sha256Hasher.ComputeHash($stream)).ToLowerInvariant() } finally { $stream.Dispose() }
            }
            return
        }
        $File.md5 = [Convert]::ToHexString($md5Hasher.ComputeHash($bytes)).ToLowerInvariant()
        if ($WithSha256) { $File.sha256 = [Convert]::ToHexString($sha256Hasher.ComputeHash($bytes)).ToLowerInvariant() }
    } catch { Write-Warning "cannot hash ${Path}: $($_.Exception.Message)" }
}

# One dpkg-query for every path, started now: it reads every package's file list (about half a
# second whatever the number of paths), so the hashing below runs while it does. The host's own
# dpkg-query reads the database under the root (--admindir). Merged /usr: /usr/bin/x may be
# registered as /bin/x and /lib/x as /usr/lib/x, so both spellings are asked for.
$admin = "$rootBase/var/lib/dpkg"
$dpkg = $null
foreach ($d in @('/usr/bin', '/bin', '/usr/local/bin')) { if ([IO.File]::Exists("$d/dpkg-query")) { $dpkg = "$d/dpkg-query"; break } }
$queries = New-MagpieTable
$query = $null
if ($dpkg -and [IO.File]::Exists("$admin/status")) {
    foreach ($path in $files.Keys) {
        if (-not $files[$path].exists) { continue }
        $queries[$path] = $path
        if ($path -match '^/usr/(bin|sbin|lib|lib32|lib64|libx32)/') { $queries[$path.Substring(4)] = $path }
        elseif ($path -match '^/(bin|sbin|lib|lib32|lib64|libx32)/') { $queries["/usr$path"] = $path }
    }
    if ($queries.Count) {
        try {
            $psi = [Diagnostics.ProcessStartInfo]::new($dpkg)
            if ($rootBase) { $psi.ArgumentList.Add("--admindir=$admin") }
            $psi.ArgumentList.Add('-S')
            $psi.ArgumentList.Add('--')
            foreach ($q in $queries.Keys) { $psi.ArgumentList.Add($q) }
            $psi.UseShellExecute = $false
            $psi.RedirectStandardOutput = $true
            $psi.RedirectStandardError = $true
            $psi.Environment['LC_ALL'] = 'C'
            $query = [Diagnostics.Process]::Start($psi)
            $queryOut = $query.StandardOutput.ReadToEndAsync()
            $queryErr = $query.StandardError.ReadToEndAsync() # drained, or a full pipe would stall it
        } catch { Write-Warning "dpkg-query did not start: $($_.Exception.Message)"; $query = $null }
    }
} else {
    Write-Warning 'no dpkg database (or no dpkg-query) on this host: package ownership not checked'
}
# Images are hashed while dpkg-query runs (MD5 too: most are packaged and need it next).
$images = New-MagpieTable
foreach ($rec in $found) { if ($rec.imagePath) { $images[$rec.imagePath] = $true } }
foreach ($path in $images.Keys) {
    $f = $files[$path]
    if ($f -and $f.exists) { Set-MagpieHashes $f $path ([bool]$Params.HashImages) }
}

$owners = New-MagpieTable
if ($query) {
    $query.WaitForExit()
    foreach ($line in $queryOut.Result.Split("`n")) {
        if ($line.StartsWith('diversion by ')) { continue }
        if ($line -match '^(.+?): (/.*)$' -and $queries.ContainsKey($Matches[2])) {
            $path = $queries[$Matches[2]]
            if (-not $owners.ContainsKey($path)) { $owners[$path] = @{ package = ($Matches[1] -split ', ')[0]; registered = $Matches[2] } }
        }
    }
    $null = $queryErr.Result
    $query.Dispose()
}
# The checksum each package ships (info/<package>.md5sums: "<md5>  <path without the leading />"),
# else the conffile's from the status file (" <path> <md5>": cron.daily and init.d scripts,
# /etc/bash.bashrc). Looked up in the file's text, not parsed line by line.
$sums = New-MagpieTable
$statusText = $null
foreach ($path in @($files.Keys)) {
    $f = $files[$path]
    if (-not $f.exists) { continue }
    if (-not $query) { $f.status = 'Unknown'; continue }
    if (-not $owners.ContainsKey($path)) { $f.status = 'NotPackaged'; continue }
    $o = $owners[$path]
    $f.package = $o.package
    if (-not $sums.ContainsKey($o.package)) {
        $text = ''
        $lists = @("$admin/info/$($o.package).md5sums")
        try { $lists += [IO.Directory]::GetFiles("$admin/info", "$($o.package):*.md5sums") } catch { $null = $_ }
        foreach ($sumFile in $lists) { if ([IO.File]::Exists($sumFile)) { $text += "`n" + [IO.File]::ReadAllText($sumFile) } }
        $sums[$o.package] = $text + "`n"
    }
    $expected = $null
    $text = $sums[$o.package]
    $at = $text.IndexOf('  ' + $o.registered.TrimStart('/') + "`n", [StringComparison]::Ordinal)
    if ($at -ge 32) { $expected = $text.Substring($at - 32, 32) }
    else {
        if ($null -eq $statusText) {
            try { $statusText = [IO.File]::ReadAllText("$admin/status") } catch { $statusText = ''; Write-Warning "cannot read the dpkg status file: $($_.Exception.Message)" }
        }
        $at = $statusText.IndexOf("`n " + $o.registered + ' ', [StringComparison]::Ordinal)
        if ($at -ge 0) {
            $sum = $statusText.Substring($at + $o.registered.Length + 3, [Math]::Min(32, $statusText.Length - $at - $o.registered.Length - 3))
            if ($sum -match '^[0-9a-f]{32}$') { $expected = $sum }
        }
    }
    if (-not $expected) { $f.status = 'Unknown'; continue }
    if (-not $f.md5) { Set-MagpieHashes $f $path $false }
    if (-not $f.md5) { $f.status = 'Unknown' }
    elseif ($f.md5 -eq $expected) { $f.status = 'PackageVerified' }
    else { $f.status = 'PackageModified' }
}

# Loaded modules: only those whose file no package owns, or that changed since it was installed.
foreach ($m in $pendingModules) {
    $status = $null
    if ($m.file -and $files.ContainsKey($m.file)) { $status = $files[$m.file].status }
    if ($m.file -and $status -ne 'NotPackaged' -and $status -ne 'PackageModified') { continue }
    $note = $(if ($m.file) { $null } else { 'no file for this module under the running kernel''s modules folder' })
    Add-MagpieAutorun '/proc/modules' $m.name 'Kernel Modules' $m.file 'root' (Get-MagpieTime $m.file) $m.file $true 'loaded' $m.file ([ordered]@{ taint = $m.taint; note = $note })
}

foreach ($rec in $found) {
    $img = $null
    if ($rec.imagePath -and $files.ContainsKey($rec.imagePath)) { $img = $files[$rec.imagePath] }
    if ($img) {
        $rec.imageExists = $img.exists
        if ($img.exists) {
            # (a loaded module's file is hashed here, once it is known to be worth a record)
            if ($Params.HashImages -and -not $img.sha256) { Set-MagpieHashes $img $rec.imagePath $true }
            $rec.sha256 = $img.sha256
            $rec.signatureStatus = $img.status
            $rec.signer = $img.package
            $rec.package = $img.package
            # true only for a file that matches its package's checksum; false for one that no longer
            # does. NotPackaged/Unknown leave it unset: the autostart rules written for Windows read
            # signed=false as "unsigned image" and would flag every user's .bashrc and every
            # locally built service (signatureStatus says NotPackaged for Linux rules to use).
            if ($img.status -eq 'PackageVerified') { $rec.signed = $true }
            elseif ($img.status -eq 'PackageModified') { $rec.signed = $false }
        }
    }
    if ($rec.file -and $files.ContainsKey($rec.file)) {
        $rec.fileSignatureStatus = $files[$rec.file].status
        $rec.filePackage = $files[$rec.file].package
    }
    $rec
}
$md5Hasher.Dispose()
$sha256Hasher.Dispose()
