# autoruns (Windows): registry autostarts (machine and every loaded user hive), Winlogon, services,
# scheduled tasks, Startup folders; beyond them IFEO, AppInit, LSA, netsh helpers, WMI consumers,
# COM classes a user overrides, Winlogon Notify, print monitors and providers, Active Setup,
# service failure commands and BITS jobs with a notify command. Each source is read on its own: one that cannot be read is an
# error (counted) and a status record, and the others still come. Records are written as they are
# produced, each image hashed and signature-checked once.
#
# Image paths: registry values are read unexpanded (DoNotExpandEnvironmentNames) and expanded here
# with the machine's variables, or with the hive owner's own profile folders for a user's hive (the
# collecting account's %APPDATA% is never used for someone else's entry; a per-user variable where
# no user is known stays as written). \SystemRoot\, \??\ and System32\ prefixes are resolved, bare
# names are looked up in System32, the Windows folder and the machine's Path, and for a launcher
# (cmd /c, rundll32, regsvr32, wscript, cscript, mshta, powershell -File) the image is the file it
# runs; the launcher itself is kept in `launcher`.

$hashImages = [bool]$Params.HashImages

# ---- environment ------------------------------------------------------------------------------
# Variables that belong to the account running the collection, not to the machine.
$userVarNames = @('APPDATA', 'LOCALAPPDATA', 'USERPROFILE', 'HOMEDRIVE', 'HOMEPATH', 'HOMESHARE', 'TEMP', 'TMP', 'USERNAME', 'USERDOMAIN',
    'USERDOMAIN_ROAMINGPROFILE', 'USERDNSDOMAIN', 'LOGONSERVER', 'OneDrive', 'OneDriveCommercial', 'OneDriveConsumer', 'SESSIONNAME', 'CLIENTNAME', 'Path')
$machineVars = @{}
$procEnv = [Environment]::GetEnvironmentVariables()
foreach ($name in @($procEnv.Keys)) {
    if ($userVarNames -notcontains [string]$name) { $machineVars[[string]$name] = [string]$procEnv[$name] }
}
# A 32-bit PowerShell sees the x86 folders as ProgramFiles: the machine's own are the W6432 ones.
if ($machineVars['ProgramW6432']) { $machineVars['ProgramFiles'] = $machineVars['ProgramW6432'] }
if ($machineVars['CommonProgramW6432']) { $machineVars['CommonProgramFiles'] = $machineVars['CommonProgramW6432'] }
foreach ($pair in @(@('SystemRoot', 'C:\Windows'), @('windir', 'C:\Windows'), @('SystemDrive', 'C:'), @('ProgramFiles', 'C:\Program Files'), @('ProgramData', 'C:\ProgramData'), @('ALLUSERSPROFILE', 'C:\ProgramData'))) {
    if (-not $machineVars[$pair[0]]) { $machineVars[$pair[0]] = $pair[1] }
}

function Expand-MagpieVariables([string]$Text, [hashtable]$Vars) {
    # What [Environment]::ExpandEnvironmentVariables does, with a given set of variables: every
    # %NAME% anywhere in the text (names may hold parentheses: %ProgramFiles(x86)%); an unknown
    # name stays as written.
    if (-not $Text -or $Text.IndexOf('%') -lt 0) { return $Text }
    $sb = New-Object System.Text.StringBuilder
    $i = 0
    while ($i -lt $Text.Length) {
        $a = $Text.IndexOf('%', $i)
        if ($a -lt 0) { break }
        $b = $Text.IndexOf('%', $a + 1)
        if ($b -lt 0) { break }
        $name = $Text.Substring($a + 1, $b - $a - 1)
        if ($name -and $Vars.ContainsKey($name) -and $null -ne $Vars[$name]) {
            [void]$sb.Append($Text.Substring($i, $a - $i)).Append([string]$Vars[$name])
            $i = $b + 1
        } else {
            [void]$sb.Append($Text.Substring($i, $b - $i))
            $i = $b
        }
    }
    [void]$sb.Append($Text.Substring($i))
    $sb.ToString()
}

# ---- registry ---------------------------------------------------------------------------------
$noExpand = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
$status = @{ keysRead = 0; keysFailed = 0 }
# Status records made inside functions whose result is assigned; the caller writes them out.
$notRead = New-Object System.Collections.Generic.List[object]
function Get-MagpieNotRead { while ($notRead.Count) { $notRead[0]; $notRead.RemoveAt(0) } }

function Write-MagpieStatus([string]$Location, [string]$State, [string]$Reason, [string]$Owner) {
    # Not an autostart: what could not be read, so that "no entry" is never mistaken for "none there".
    [pscustomobject][ordered]@{
        location = $Location; entry = "($State)"; category = 'Status'; enabled = $null; profile = $Owner
        description = $Reason; company = $null; signer = $null; signed = $null; signatureStatus = $null
        imagePath = $null; imageExists = $null; launchString = $null; launcher = $null; time = $null; sha256 = $null; status = $State
    }
}

function Open-MagpieKey($Base, [string]$BaseName, [string]$SubKey, [string]$Owner) {
    # The key, $null when it is not there; an error (counted) and a status record when it cannot be opened.
    try {
        $k = $Base.OpenSubKey($SubKey, $false)
        if ($k) { $status.keysRead++ }
        return $k
    } catch {
        $status.keysFailed++
        $msg = $_.Exception.Message
        if ($_.Exception.InnerException) { $msg = $_.Exception.InnerException.Message }
        Write-Error -Message "cannot read $BaseName\${SubKey}: $msg" -Category PermissionDenied -ErrorAction Continue
        $notRead.Add((Write-MagpieStatus "$BaseName\$SubKey" 'not-read' "cannot read the key: $msg" $Owner))
        return $null
    }
}

function Read-MagpieValues($Key, [string]$Location, [string]$Owner) {
    # Name → raw data (REG_EXPAND_SZ unexpanded). Names straight from the key: a value called
    # PSUpdater is a value like any other. A value that cannot be read is an error, not the key's end.
    $out = New-Object System.Collections.Generic.List[object]
    $names = @()
    try { $names = @($Key.GetValueNames()) } catch { Write-Error -Message "cannot list the values of ${Location}: $($_.Exception.Message)" -ErrorAction Continue; return , $out }
    foreach ($n in $names) {
        try {
            $data = $Key.GetValue($n, $null, $noExpand)
            if ($data -is [array]) { $data = ($data -join ' ') }
            $out.Add(@{ name = [string]$n; data = $data })
        } catch { Write-Error -Message "cannot read $Location\${n}: $($_.Exception.Message)" -ErrorAction Continue }
    }
    return , $out
}

# ---- image paths ------------------------------------------------------------------------------
$sysRoot = $machineVars['SystemRoot'].TrimEnd('\')
$sys32 = "$sysRoot\System32"
$searchDirs = New-Object System.Collections.Generic.List[string]
$searchDirs.Add($sys32); $searchDirs.Add($sysRoot); $searchDirs.Add("$sysRoot\System32\Wbem"); $searchDirs.Add("$sysRoot\System32\WindowsPowerShell\v1.0")
$cmdBuiltins = @('assoc', 'break', 'call', 'cd', 'chdir', 'cls', 'color', 'copy', 'date', 'del', 'dir', 'echo', 'endlocal', 'erase', 'exit', 'for', 'ftype', 'goto', 'if', 'md', 'mkdir', 'mklink', 'move', 'path', 'pause', 'popd', 'prompt', 'pushd', 'rd', 'rem', 'ren', 'rename', 'rmdir', 'set', 'setlocal', 'shift', 'start', 'time', 'title', 'type', 'ver', 'verify', 'vol')
$existsCache = @{}
$resolveCache = @{}

function Test-MagpieFile([string]$Path) {
    if (-not $existsCache.ContainsKey($Path)) { $existsCache[$Path] = [bool](Test-Path -LiteralPath $Path -PathType Leaf -ErrorAction SilentlyContinue) }
    $existsCache[$Path]
}

function Split-MagpieFirst([string]$Text) {
    # The program at the start of a command line and the rest: quoted, or up to the first
    # executable extension (unquoted paths with spaces), or the first word.
    $s = $Text.Trim()
    if (-not $s) { return @('', '') }
    if ($s.StartsWith('"')) {
        $end = $s.IndexOf('"', 1)
        if ($end -lt 0) { return @($s.Substring(1), '') }
        return @($s.Substring(1, $end - 1), $s.Substring($end + 1).Trim())
    }
    if ($s -match '^(?i)([^"]+?\.(exe|com|bat|cmd|dll|sys|scr|ps1|vbs|vbe|js|jse|wsf|hta|cpl|ocx))(?=[\s,]|$)') {
        return @($Matches[1], $s.Substring($Matches[1].Length).Trim())
    }
    $w = ($s -split '\s+', 2)
    return @($w[0], $(if ($w.Count -gt 1) { $w[1] } else { '' }))
}

function Split-MagpieCommands([string]$Text) {
    # A cmd line's commands, split at & | && || outside quotes (^ escapes the next character).
    $parts = New-Object System.Collections.Generic.List[string]
    $cur = New-Object System.Text.StringBuilder
    $quoted = $false
    for ($i = 0; $i -lt $Text.Length; $i++) {
        $c = $Text[$i]
        if ($c -eq '^' -and -not $quoted -and $i + 1 -lt $Text.Length) { $null = $cur.Append($Text[$i + 1]); $i++; continue }
        if ($c -eq '"') { $quoted = -not $quoted }
        if (-not $quoted -and ($c -eq '&' -or $c -eq '|')) {
            if ($cur.Length) { $parts.Add($cur.ToString().Trim()); $null = $cur.Clear() }
            continue
        }
        $null = $cur.Append($c)
    }
    if ($cur.ToString().Trim()) { $parts.Add($cur.ToString().Trim()) }
    @($parts | Where-Object { $_ })
}

function Get-MagpieTokens([string]$Text) {
    # Arguments as the C runtime splits them (quotes removed), near enough for finding a file.
    @([regex]::Matches($Text, '(?:"[^"]*"|[^\s"])+') | ForEach-Object { $_.Value.Replace('"', '') })
}

function Resolve-MagpiePath([string]$Path, [hashtable]$Vars, [string]$DefaultExt) {
    # A full path for what Windows would run, or the name as written when it cannot be found.
    if (-not $Path) { return $null }
    $p = $Path.Trim().Trim('"').Trim()
    $p = Expand-MagpieVariables $p $Vars
    if ($p -match '^\\\?\?\\' -or $p -match '^\\\\\?\\') { $p = $p.Substring(4) }
    if ($p -match '^(?i)\\SystemRoot\\') { $p = $sysRoot + $p.Substring(11) }
    elseif ($p -match '^(?i)System32\\') { $p = "$sysRoot\$p" }
    $p = $p.Replace('/', '\')
    if ($p -match '^[A-Za-z]:\\' -or $p.StartsWith('\\')) {
        if ($DefaultExt -and -not [IO.Path]::HasExtension($p) -and (Test-MagpieFile "$p$DefaultExt")) { return "$p$DefaultExt" }
        return $p
    }
    if ($p.Contains('\') -or $p.Contains('%') -or -not $p) { return $p }
    # A bare name: System32, the Windows folder, then the machine's Path (as CreateProcess looks).
    $key = "$p|$DefaultExt"
    if ($resolveCache.ContainsKey($key)) { return $resolveCache[$key] }
    $names = @($p)
    if (-not [IO.Path]::HasExtension($p)) { $names = @("$p$DefaultExt", $p) }
    $found = $p
    foreach ($dir in $searchDirs) {
        foreach ($n in $names) {
            if (Test-MagpieFile "$dir\$n") { $found = "$dir\$n"; break }
        }
        if ($found -ne $p) { break }
    }
    $resolveCache[$key] = $found
    $found
}

function Get-MagpieImage([string]$Launch, [hashtable]$Vars) {
    # @{ image; launcher }: the file the entry runs, and the launcher in front of it (or $null).
    $r = @{ image = $null; launcher = $null }
    if (-not $Launch) { return $r }
    $first = Split-MagpieFirst (Expand-MagpieVariables $Launch $Vars)
    $prog = Resolve-MagpiePath $first[0] $Vars '.exe'
    $rest = $first[1]
    $r.image = $prog
    $stem = [IO.Path]::GetFileNameWithoutExtension(($prog -split '\\')[-1]).ToLowerInvariant()
    $payload = $null
    $ext = $null
    switch ($stem) {
        'cmd' {
            if ($rest -match '(?i)(?:^|\s)/[ck]\s*(.*)$') {
                $cmdline = $Matches[1].Trim()
                # cmd /c "...": cmd drops the first quote and the last one, whatever is between.
                if ($cmdline.StartsWith('"') -and $cmdline.LastIndexOf('"') -gt 0) { $cmdline = $cmdline.Substring(1, $cmdline.LastIndexOf('"') - 1) + $cmdline.Substring($cmdline.LastIndexOf('"') + 1) }
                # Each command joined by & | && ||: the first program with an executable extension,
                # else the first program at all (start/call run their first argument, built-ins nothing).
                $firstAny = $null
                foreach ($seg in @(Split-MagpieCommands $cmdline)) {
                    # A block's opening ( and an echo-off @ are not part of the program.
                    $seg = $seg.TrimStart('(', '@', ' ')
                    $inner = Split-MagpieFirst $seg
                    $word = ($seg -split '\s+')[0].TrimEnd(')').ToLowerInvariant()
                    if ($word -match '^[<>]' -or @('else', 'do', 'not', 'exist') -contains $word) { continue }
                    if (($inner[0] -replace '(?i)\(x86\)', '').Contains('(')) { $inner = @(($seg -split '\s+')[0].TrimEnd(')'), '') }
                    $cand = $null
                    if ($word -eq 'start' -or $word -eq 'call') {
                        $after = $seg.TrimStart().Substring($word.Length)
                        $more = @(Get-MagpieTokens $after | Where-Object { -not $_.StartsWith('/') })
                        # start's first quoted argument is the window title ("" often), not the program.
                        if ($word -eq 'start' -and $after.TrimStart().StartsWith('"')) { $more = @($more | Select-Object -Skip 1) }
                        $more = @($more | Where-Object { $_ })
                        if ($more.Count) { $cand = $more[0] }
                    } elseif ($word -and $cmdBuiltins -notcontains $word -and $word -notmatch '^[(@]') { $cand = $inner[0] }
                    if (-not $cand) { continue }
                    if (-not $firstAny) { $firstAny = $cand }
                    if ($cand -match '(?i)\.(exe|com|bat|cmd|dll|scr|ps1|vbs|vbe|js|jse|wsf|hta|cpl)$') { $payload = $cand; break }
                }
                if (-not $payload) { $payload = $firstAny }
                $ext = '.exe'
            }
        }
        'rundll32' {
            $args1 = ($rest -replace '^(?i)(\s*/(d|sta)\b)+', '').Trim()
            $comma = $args1.IndexOf(',')
            if ($comma -gt 0) { $payload = $args1.Substring(0, $comma).Trim().Trim('"') } elseif ($args1) { $payload = (Split-MagpieFirst $args1)[0] }
            $ext = '.dll'
        }
        'regsvr32' {
            $toks = @(Get-MagpieTokens $rest)
            # /i:X hands X to the DLL's DllInstall (scrobj.dll runs it as a scriptlet): X when it is a file.
            $inst = @($toks | Where-Object { $_ -match '^(?i)[/-]i:.' } | ForEach-Object { $_.Substring(3) } | Where-Object { $_ -match '^[A-Za-z]:\\|^%|^\\\\' })
            if ($inst.Count) { $payload = $inst[0] }
            else { $d = @($toks | Where-Object { $_ -and $_ -notmatch '^[/-]' }); if ($d.Count) { $payload = $d[0] } }
            $ext = '.dll'
        }
        { $_ -eq 'wscript' -or $_ -eq 'cscript' } {
            $d = @(Get-MagpieTokens $rest | Where-Object { $_ -and -not $_.StartsWith('/') -and -not $_.StartsWith('-') })
            if ($d.Count) { $payload = $d[0] }
        }
        'mshta' {
            $d = @(Get-MagpieTokens $rest | Where-Object { $_ -and -not $_.StartsWith('/') })
            if ($d.Count -and $d[0] -notmatch '^(?i)(https?|javascript|vbscript|about|file):') { $payload = $d[0] }
        }
        { $_ -eq 'powershell' -or $_ -eq 'pwsh' } {
            $toks = @(Get-MagpieTokens $rest)
            for ($k = 0; $k -lt $toks.Count - 1; $k++) {
                if ($toks[$k] -match '^(?i)[-/]f(i|il|ile)?$') { $payload = $toks[$k + 1]; break }
            }
        }
    }
    if ($payload -and $payload -notmatch '^(?i)(https?|javascript|vbscript):') {
        $r.launcher = $prog
        $r.image = Resolve-MagpiePath $payload $Vars $ext
    }
    $r
}

# ---- shortcuts (.lnk, MS-SHLLINK) -------------------------------------------------------------
# Read from the file's bytes, not through WScript.Shell: no COM object to create, nothing resolved
# or contacted (a shortcut to a UNC path is never looked up), and a damaged or hostile file is an
# error for that one entry. The target is LinkInfo's local or network path, else the
# environment-variable block's, else the path the ID list spells (volume, then file entries with
# their long names), else the relative path beside the shortcut.
$ansiCodePage = $null
try { $ansiCodePage = [Text.Encoding]::GetEncoding([Globalization.CultureInfo]::CurrentCulture.TextInfo.ANSICodePage) } catch { $ansiCodePage = [Text.Encoding]::GetEncoding(28591) }
function Read-MagpieLinkString([byte[]]$B, [int]$At, [bool]$Wide) {
    if ($At -lt 0 -or $At -ge $B.Length) { throw "a string offset ($At) points outside the file" }
    $end = $At
    if ($Wide) {
        while ($end + 1 -lt $B.Length -and ($B[$end] -ne 0 -or $B[$end + 1] -ne 0)) { $end += 2 }
        return [Text.Encoding]::Unicode.GetString($B, $At, $end - $At)
    }
    while ($end -lt $B.Length -and $B[$end] -ne 0) { $end++ }
    $ansiCodePage.GetString($B, $At, $end - $At)
}
function Get-MagpieIdListPath([byte[]]$B, [int]$At, [int]$End) {
    $parts = New-Object System.Collections.Generic.List[string]
    $p = $At
    while ($p + 2 -le $End) {
        $size = [BitConverter]::ToUInt16($B, $p)
        if ($size -eq 0) { break }
        if ($size -lt 3 -or $p + $size -gt $End) { return $null }
        $type = $B[$p + 2]
        if ($type -eq 0x1F) { }
        elseif (($type -band 0x70) -eq 0x20) {
            if (-not ($type -band 0x01)) { return $null }
            $parts.Clear(); $parts.Add((Read-MagpieLinkString $B ($p + 3) $false).TrimEnd('\'))
        } elseif (($type -band 0x70) -eq 0x30) {
            $name = Read-MagpieLinkString $B ($p + 14) ([bool]($type -band 0x04))
            # The long name is in the BEEF0004 extension block; its offset depends on its version.
            for ($q = $p + 14; $q + 8 -le $p + $size; $q += 2) {
                if ([BitConverter]::ToUInt32($B, $q + 4) -ne [uint32]3203334148) { continue }
                $ver = [BitConverter]::ToUInt16($B, $q + 2)
                $off = $(if ($ver -ge 9) { 46 } elseif ($ver -ge 8) { 42 } elseif ($ver -ge 7) { 38 } elseif ($ver -ge 3) { 20 } else { 0 })
                if ($off -and $q + $off -lt $p + $size) { $long = Read-MagpieLinkString $B ($q + $off) $true; if ($long) { $name = $long } }
                break
            }
            $parts.Add($name)
        } else { return $null }
        $p += $size
    }
    if ($parts.Count -lt 2 -or $parts[0] -notmatch '^[A-Za-z]:$') { return $null }
    $parts -join '\'
}
function ConvertFrom-MagpieShellLink([byte[]]$B) {
    # @{ target; arguments; workingDir; relativePath; error }
    $r = @{ target = $null; arguments = $null; workingDir = $null; relativePath = $null; error = $null }
    try {
        if ($B.Length -lt 4 -or [BitConverter]::ToUInt32($B, 0) -ne 0x4C) { throw 'not a shell link (it does not start with the 0x4C header size)' }
        if ($B.Length -lt 0x4C) { throw "cut short: $($B.Length) bytes, less than the 76-byte header" }
        $flags = [BitConverter]::ToUInt32($B, 0x14)
        $wide = [bool]($flags -band 0x80)
        $p = 0x4C
        $idPath = $null
        if ($flags -band 0x01) {
            $idSize = [BitConverter]::ToUInt16($B, $p)
            $idPath = Get-MagpieIdListPath $B ($p + 2) ([Math]::Min($B.Length, $p + 2 + $idSize))
            $p += 2 + $idSize
        }
        $infoPath = $null
        if ($flags -band 0x02) {
            $li = $p
            $liSize = [BitConverter]::ToUInt32($B, $li)
            $liHeader = [BitConverter]::ToUInt32($B, $li + 4)
            $liFlags = [BitConverter]::ToUInt32($B, $li + 8)
            $suffix = ''
            if ($liHeader -ge 0x24 -and [BitConverter]::ToUInt32($B, $li + 32)) { $suffix = Read-MagpieLinkString $B ($li + [BitConverter]::ToUInt32($B, $li + 32)) $true }
            elseif ([BitConverter]::ToUInt32($B, $li + 24)) { $suffix = Read-MagpieLinkString $B ($li + [BitConverter]::ToUInt32($B, $li + 24)) $false }
            if ($liFlags -band 0x01) {
                if ($liHeader -ge 0x24 -and [BitConverter]::ToUInt32($B, $li + 28)) { $base = Read-MagpieLinkString $B ($li + [BitConverter]::ToUInt32($B, $li + 28)) $true }
                else { $base = Read-MagpieLinkString $B ($li + [BitConverter]::ToUInt32($B, $li + 16)) $false }
                $infoPath = $base + $suffix
            } elseif ($liFlags -band 0x02) {
                $cn = $li + [BitConverter]::ToUInt32($B, $li + 20)
                $netOff = [BitConverter]::ToUInt32($B, $cn + 8)
                if ($netOff -gt 0x14) { $net = Read-MagpieLinkString $B ($cn + [BitConverter]::ToUInt32($B, $cn + 20)) $true }
                else { $net = Read-MagpieLinkString $B ($cn + $netOff) $false }
                $infoPath = $(if ($suffix) { "$net\$suffix" } else { $net })
            }
            $p += $liSize
        }
        $strings = @{}
        foreach ($bit in 0x04, 0x08, 0x10, 0x20, 0x40) {
            if (-not ($flags -band $bit)) { continue }
            $count = [BitConverter]::ToUInt16($B, $p)
            # Windows reads at most 260 characters of the name, relative path and working folder and
            # goes on from there: padded shortcuts hide their real arguments behind an overlong one.
            if ($bit -le 0x10 -and $count -gt 260) { $count = 260 }
            $len = $(if ($wide) { 2 * $count } else { $count })
            # A count past the end (padded or cut files) gives what is there, as Explorer shows it.
            if ($p + 2 + $len -gt $B.Length) { $len = [Math]::Max(0, $B.Length - $p - 2); if ($wide) { $len -= $len % 2 } }
            $strings[$bit] = $(if ($wide) { [Text.Encoding]::Unicode.GetString($B, $p + 2, $len) } else { $ansiCodePage.GetString($B, $p + 2, $len) })
            $p += 2 + $len
        }
        $envPath = $null
        while ($p + 8 -le $B.Length) {
            $size = [BitConverter]::ToUInt32($B, $p)
            if ($size -lt 8 -or $p + $size -gt $B.Length) { break }
            if ([BitConverter]::ToUInt32($B, $p + 4) -eq [uint32]2684354561 -and $size -ge 0x314) {
                $envPath = Read-MagpieLinkString $B ($p + 268) $true
                if (-not $envPath) { $envPath = Read-MagpieLinkString $B ($p + 8) $false }
            }
            $p += $size
        }
        $r.arguments = $strings[0x20]
        $r.workingDir = $strings[0x10]
        $r.relativePath = $strings[0x08]
        foreach ($t in $infoPath, $envPath, $idPath) { if ($t) { $r.target = $t; break } }
    } catch { $r.error = "$_" }
    $r
}
# ---- end of shortcuts ---------------------------------------------------------------------------

# ---- images: hash and signature, each once ----------------------------------------------------
$images = @{}
function Get-MagpieImageFacts([string]$Path) {
    $key = $Path.ToLowerInvariant()
    if ($images.ContainsKey($key)) { return $images[$key] }
    $img = @{ sha256 = $null; exists = $null; status = $null; signer = $null }
    # Only a full path is checked: a bare name would be looked for in this session's current folder.
    if ($hashImages -and ($Path -match '^[A-Za-z]:\\' -or $Path.StartsWith('\\'))) {
        try {
            $img.sha256 = (Get-FileHash -LiteralPath $Path -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
            $img.exists = $true
            $sig = Get-AuthenticodeSignature -LiteralPath $Path -ErrorAction Stop
            $img.status = [string]$sig.Status
            if ($sig.SignerCertificate) { $img.signer = $sig.SignerCertificate.Subject }
        } catch {
            if ($_.CategoryInfo.Category -eq 'ObjectNotFound' -or $_.Exception -is [System.IO.FileNotFoundException] -or $_.Exception -is [System.IO.DirectoryNotFoundException]) { $img.exists = $false }
            else { Write-Warning "cannot check ${Path}: $($_.Exception.Message)" }
        }
    }
    $images[$key] = $img
    $img
}

function New-MagpieAutorun($Location, $Entry, $Category, $Launch, $Owner, $Enabled, $Time, $Description, $Image, [hashtable]$Vars, $LauncherPath) {
    if (-not $Vars) { $Vars = $machineVars }
    $launcher = $null
    if ($Image) { $Image = Resolve-MagpiePath $Image $Vars $null; if ($LauncherPath) { $launcher = Resolve-MagpiePath $LauncherPath $Vars '.exe' } }
    else { $res = Get-MagpieImage $Launch $Vars; $Image = $res.image; $launcher = $res.launcher }
    $r = [pscustomobject][ordered]@{
        location = $Location; entry = $Entry; category = $Category; enabled = $Enabled; profile = $Owner
        description = $Description; company = $null; signer = $null; signed = $null; signatureStatus = $null
        imagePath = $Image; imageExists = $null; launchString = $Launch; launcher = $launcher; time = $Time; sha256 = $null
    }
    if ($Image) {
        $img = Get-MagpieImageFacts $Image
        $r.sha256 = $img.sha256
        $r.imageExists = $img.exists
        $r.signatureStatus = $img.status
        $r.signer = $img.signer
        $r.signed = $(if ($img.status) { $img.status -eq 'Valid' } else { $null })
    }
    $r
}

# ---- registry autostarts ----------------------------------------------------------------------
$hklm = $null
$hku = $null
try { $hklm = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Registry64) } catch { Write-Error -Message "cannot open HKLM: $($_.Exception.Message)" -ErrorAction Continue }
try { $hku = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::Users, [Microsoft.Win32.RegistryView]::Registry64) } catch { Write-Error -Message "cannot open HKU: $($_.Exception.Message)" -ErrorAction Continue }

# The machine's Path (what services and new logons get), for bare names.
if ($hklm) {
    $k = Open-MagpieKey $hklm 'HKLM' 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment' 'System-wide'
    Get-MagpieNotRead
    if ($k) {
        try {
            $path = $k.GetValue('Path', $null, $noExpand)
            if ($path) { foreach ($d in ([string]$path).Split(';')) { $d = (Expand-MagpieVariables $d.Trim() $machineVars).TrimEnd('\'); if ($d -and -not $searchDirs.Contains($d)) { $searchDirs.Add($d) } } }
        } catch { Write-Error -Message "cannot read the machine Path: $($_.Exception.Message)" -ErrorAction Continue } finally { $k.Close() }
    }
}

# User profiles: SID → profile folder (ProfileList), local and domain (S-1-5-21-…) and Entra ID (S-1-12-1-…).
$userSid = '^S-1-(5-21|12-1)-[\d-]+$'
$profiles = [ordered]@{}
if ($hklm) {
    $pl = Open-MagpieKey $hklm 'HKLM' 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList' 'System-wide'
    Get-MagpieNotRead
    if ($pl) {
        try {
            foreach ($sid in @($pl.GetSubKeyNames())) {
                if ($sid -notmatch $userSid) { continue }
                try {
                    $pk = $pl.OpenSubKey($sid, $false)
                    if ($pk) { $profiles[$sid] = Expand-MagpieVariables ([string]$pk.GetValue('ProfileImagePath', $null, $noExpand)) $machineVars; $pk.Close() }
                } catch { Write-Error -Message "cannot read the profile of ${sid}: $($_.Exception.Message)" -ErrorAction Continue }
            }
        } catch { Write-Error -Message "cannot list ProfileList: $($_.Exception.Message)" -ErrorAction Continue } finally { $pl.Close() }
    }
}

$hives = New-Object System.Collections.Generic.List[object]
if ($hklm) { $hives.Add(@{ key = $hklm; name = 'HKLM'; profile = 'System-wide'; vars = $machineVars; user = $false }) }
$loaded = @{}
if ($hku) {
    $sids = @()
    try { $sids = @($hku.GetSubKeyNames()) } catch { Write-Error -Message "cannot list HKEY_USERS: $($_.Exception.Message)" -ErrorAction Continue }
    foreach ($sid in $sids) {
        if ($sid -notmatch $userSid) { continue }
        $loaded[$sid] = $true
        try { $uk = $hku.OpenSubKey($sid, $false) } catch {
            Write-Error -Message "cannot read HKU\${sid}: $($_.Exception.Message)" -ErrorAction Continue
            Write-MagpieStatus "HKU\$sid" 'not-read' "cannot read the user's hive: $($_.Exception.Message)" $sid
            continue
        }
        if (-not $uk) { continue }
        # The user's own folders: from the profile path, then the logon's Volatile Environment.
        $vars = $machineVars.Clone()
        $prof = $profiles[$sid]
        if ($prof) {
            $vars['USERPROFILE'] = $prof
            $vars['APPDATA'] = "$prof\AppData\Roaming"
            $vars['LOCALAPPDATA'] = "$prof\AppData\Local"
            $vars['TEMP'] = "$prof\AppData\Local\Temp"
            $vars['TMP'] = "$prof\AppData\Local\Temp"
            if ($prof -match '^([A-Za-z]:)(\\.*)$') { $vars['HOMEDRIVE'] = $Matches[1]; $vars['HOMEPATH'] = $Matches[2] }
            $vars['USERNAME'] = ($prof -split '\\')[-1]
        }
        try {
            $ve = $uk.OpenSubKey('Volatile Environment', $false)
            if ($ve) {
                foreach ($n in @('APPDATA', 'LOCALAPPDATA', 'USERPROFILE', 'HOMEDRIVE', 'HOMEPATH', 'USERNAME', 'USERDOMAIN')) {
                    $v = $ve.GetValue($n, $null, $noExpand)
                    if ($v) { $vars[$n] = Expand-MagpieVariables ([string]$v) $vars }
                }
                $ve.Close()
            }
        } catch { Write-Warning "cannot read HKU\$sid\Volatile Environment: $($_.Exception.Message)" }
        if (-not $vars.ContainsKey('USERPROFILE')) {
            # Neither a profile nor a logon: the user's folders are unknown, leave them as written.
            foreach ($n in @('APPDATA', 'LOCALAPPDATA', 'TEMP', 'TMP', 'HOMEPATH', 'USERNAME')) { $null = $vars.Remove($n) }
        }
        $hives.Add(@{ key = $uk; name = "HKU\$sid"; profile = $sid; vars = $vars; user = $true })
    }
}
# Profiles whose hive is not loaded (the user is not logged on): their Run keys were not read.
foreach ($sid in @($profiles.Keys)) {
    if ($loaded.ContainsKey($sid)) { continue }
    Write-Warning "the registry hive of $sid ($($profiles[$sid])) is not loaded (the user is not logged on): its Run keys were not read"
    Write-MagpieStatus "HKU\$sid" 'hive-not-loaded' "the profile $($profiles[$sid]) has no loaded hive (NTUSER.DAT): the user is not logged on, so its Run keys were not read" $sid
}

function Get-MagpieDisabled($Base, [string]$BaseName, [string]$Which) {
    # Explorer\StartupApproved\<Run|Run32|StartupFolder>: what Task Manager's Startup tab switched
    # off. Each value is 12 bytes, the first 0x02/0x06 for enabled, 0x03/0x07 (low bit set) for
    # disabled, then the FILETIME of the change. Name → $true when disabled.
    $off = @{}
    try {
        $k = $Base.OpenSubKey("SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\$Which", $false)
        if (-not $k) { return $off }
        try {
            foreach ($n in @($k.GetValueNames())) {
                $b = $k.GetValue($n, $null, $noExpand)
                if ($b -is [byte[]] -and $b.Length -gt 0 -and ($b[0] -band 1)) { $off[[string]$n] = $true }
            }
        } finally { $k.Close() }
    } catch { Write-Warning "cannot read $BaseName\...\StartupApproved\${Which}: $($_.Exception.Message)" }
    $off
}

$runKeys = @('SOFTWARE\Microsoft\Windows\CurrentVersion\Run', 'SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce',
             'SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run', 'SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run',
             'SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\RunOnce')
$approvedFor = @{ 'SOFTWARE\Microsoft\Windows\CurrentVersion\Run' = 'Run'; 'SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run' = 'Run32' }
$startupDisabled = @{}
foreach ($hive in $hives) {
    $disabled = @{ Run = (Get-MagpieDisabled $hive.key $hive.name 'Run'); Run32 = (Get-MagpieDisabled $hive.key $hive.name 'Run32') }
    $startupDisabled[$hive.profile] = Get-MagpieDisabled $hive.key $hive.name 'StartupFolder'
    foreach ($sub in $runKeys) {
        $k = Open-MagpieKey $hive.key $hive.name $sub $hive.profile
        Get-MagpieNotRead
        if (-not $k) { continue }
        try {
            foreach ($v in (Read-MagpieValues $k "$($hive.name)\$sub" $hive.profile)) {
                $name = $v.name
                if (-not $name) { if (-not $v.data) { continue }; $name = '(Default)' }
                $on = -not ($approvedFor.ContainsKey($sub) -and $disabled[$approvedFor[$sub]].ContainsKey($name))
                try { New-MagpieAutorun "$($hive.name)\$sub" $name 'Logon' ([string]$v.data) $hive.profile $on $null $null $null $hive.vars }
                catch { Write-Error -Message "cannot record $($hive.name)\$sub\${name}: $($_.Exception.Message)" -ErrorAction Continue }
            }
        } finally { $k.Close() }
    }
    # Winlogon: Shell (machine, and a user's own shell), every comma-separated Userinit entry.
    $wl = Open-MagpieKey $hive.key $hive.name 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon' $hive.profile
    Get-MagpieNotRead
    if (-not $wl) { continue }
    try {
        # Taskman: the program Winlogon starts for Ctrl+Shift+Esc instead of taskmgr.exe (one program, not a list).
        $names = @('Shell')
        if (-not $hive.user) { $names += 'Userinit' }
        $names += 'Taskman'
        foreach ($n in $names) {
            $data = $null
            try { $data = $wl.GetValue($n, $null, $noExpand) } catch { Write-Error -Message "cannot read $($hive.name)\...\Winlogon\${n}: $($_.Exception.Message)" -ErrorAction Continue; continue }
            if (-not $data) { continue }
            $parts = $(if ($n -eq 'Taskman') { @([string]$data) } else { ([string]$data).Split(',') })
            foreach ($part in $parts) {
                if (-not $part.Trim()) { continue }
                New-MagpieAutorun "$($hive.name)\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon" $n 'Logon' $part.Trim() $hive.profile $true $null $null $null $hive.vars
            }
        }
    } finally { $wl.Close() }
}
# ---- COM hijacks: a user's class that overrides a machine class of the same CLSID ----------------
# HKCU\Software\Classes (the user's UsrClass.dat, loaded as HKU\<SID>_Classes) wins over
# HKLM\SOFTWARE\Classes for every process of that user: a user-writable InprocServer32 or
# LocalServer32 for a CLSID Windows or an application registered machine-wide is loaded instead of
# the machine's server (T1546.015). Per-user classes with no machine class of the same CLSID are the
# user's own applications' and are not read here. The machine's server is recorded beside the user's.
$machineClasses = $null
if ($hklm -and $hku) {
    $machineClasses = Open-MagpieKey $hklm 'HKLM' 'SOFTWARE\Classes\CLSID' 'System-wide'
    Get-MagpieNotRead
}
if ($machineClasses) {
    foreach ($hive in $hives) {
        if (-not $hive.user) { continue }
        $sid = $hive.profile
        # The classes hive itself, else the Software\Classes link in the user's hive.
        $clsBase = "HKU\${sid}_Classes\CLSID"
        $cls = Open-MagpieKey $hku 'HKU' "${sid}_Classes\CLSID" $sid
        Get-MagpieNotRead
        if (-not $cls) {
            $clsBase = "HKU\$sid\Software\Classes\CLSID"
            $cls = Open-MagpieKey $hku 'HKU' "$sid\Software\Classes\CLSID" $sid
            Get-MagpieNotRead
        }
        if (-not $cls) { continue }
        try {
            $ids = @()
            try { $ids = @($cls.GetSubKeyNames()) } catch { Write-Error -Message "cannot list ${clsBase}: $($_.Exception.Message)" -ErrorAction Continue }
            foreach ($id in $ids) {
                if ($id -notmatch '^\{[0-9A-Fa-f-]{36}\}$') { continue }
                foreach ($kind in 'InprocServer32', 'LocalServer32') {
                    $userServer = $null
                    try {
                        $k = $cls.OpenSubKey("$id\$kind", $false)
                        if ($k) { try { $userServer = $k.GetValue('', $null, $noExpand) } finally { $k.Close() } }
                    } catch { Write-Error -Message "cannot read $clsBase\$id\${kind}: $($_.Exception.Message)" -ErrorAction Continue; continue }
                    if (-not $userServer) { continue }
                    $machineKey = $null
                    try { $machineKey = $machineClasses.OpenSubKey($id, $false) } catch { Write-Warning "cannot read HKLM\SOFTWARE\Classes\CLSID\${id}: $($_.Exception.Message)"; continue }
                    if (-not $machineKey) { continue }
                    $className = $null
                    $machineServer = $null
                    try {
                        $className = $machineKey.GetValue('', $null)
                        foreach ($mk in $kind, @('InprocServer32', 'LocalServer32' | Where-Object { $_ -ne $kind })[0]) {
                            $sk = $machineKey.OpenSubKey($mk, $false)
                            if ($sk) { try { $machineServer = $sk.GetValue('', $null, $noExpand) } finally { $sk.Close() } }
                            if ($machineServer) { break }
                        }
                    } catch { Write-Warning "cannot read HKLM\SOFTWARE\Classes\CLSID\${id}: $($_.Exception.Message)" } finally { $machineKey.Close() }
                    $desc = "user class overrides the machine's $(if ($className) { "'$className' " })($kind)"
                    try {
                        $r = $(if ($kind -eq 'InprocServer32') { New-MagpieAutorun "$clsBase\$id\$kind" $id 'COM hijacks' ([string]$userServer) $sid $true $null $desc ([string]$userServer) $hive.vars }
                               else { New-MagpieAutorun "$clsBase\$id\$kind" $id 'COM hijacks' ([string]$userServer) $sid $true $null $desc $null $hive.vars })
                        $machineImage = $null
                        $machineSigned = $null
                        if ($machineServer) {
                            $machineImage = $(if ($kind -eq 'InprocServer32') { Resolve-MagpiePath ([string]$machineServer) $machineVars $null } else { (Get-MagpieImage ([string]$machineServer) $machineVars).image })
                            if ($machineImage) { $mi = Get-MagpieImageFacts $machineImage; if ($mi.status) { $machineSigned = ($mi.status -eq 'Valid') } }
                        }
                        $r | Add-Member -NotePropertyName comServerKind -NotePropertyValue $kind
                        $r | Add-Member -NotePropertyName machineServer -NotePropertyValue $(if ($machineServer) { [string]$machineServer } else { $null })
                        $r | Add-Member -NotePropertyName machineImagePath -NotePropertyValue $machineImage
                        $r | Add-Member -NotePropertyName machineSigned -NotePropertyValue $machineSigned -PassThru
                    } catch { Write-Error -Message "cannot record $clsBase\$id\${kind}: $($_.Exception.Message)" -ErrorAction Continue }
                }
            }
        } finally { $cls.Close() }
    }
    $machineClasses.Close()
}
foreach ($hive in $hives) { if ($hive.user) { try { $hive.key.Close() } catch { $null = $_ } } }

# ---- services that can start (not disabled); a svchost service's image is its ServiceDll --------
function Get-MagpieServiceDll([string]$Name) {
    # Services\<name>\Parameters\ServiceDll (or on the service key itself, as older services keep it).
    if (-not $hklm) { return $null }
    foreach ($sub in @("SYSTEM\CurrentControlSet\Services\$Name\Parameters", "SYSTEM\CurrentControlSet\Services\$Name")) {
        try {
            $k = $hklm.OpenSubKey($sub, $false)
            if (-not $k) { continue }
            try { $dll = $k.GetValue('ServiceDll', $null, $noExpand) } finally { $k.Close() }
            if ($dll) { return [string]$dll }
        } catch { Write-Warning "cannot read HKLM\$sub\ServiceDll: $($_.Exception.Message)" }
    }
    return $null
}
try {
    foreach ($svc in @(Get-CimInstance -ClassName Win32_Service -ErrorAction Stop)) {
        if ($svc.StartMode -eq 'Disabled') { continue }
        $path = [string]$svc.PathName
        $dll = $null
        $host1 = (Split-MagpieFirst (Expand-MagpieVariables $path $machineVars))[0]
        if ($host1 -match '(?i)(^|\\)svchost(\.exe)?$') { $dll = Get-MagpieServiceDll ([string]$svc.Name) }
        if ($dll) { New-MagpieAutorun 'HKLM\System\CurrentControlSet\Services' $svc.Name 'Services' $path ([string]$svc.StartName) $true $null $svc.DisplayName $dll $machineVars $host1 }
        else { New-MagpieAutorun 'HKLM\System\CurrentControlSet\Services' $svc.Name 'Services' $path ([string]$svc.StartName) $true $null $svc.DisplayName $null $machineVars }
    }
} catch {
    Write-Error -Message "cannot list services (Win32_Service): $($_.Exception.Message)" -ErrorAction Continue
    Write-MagpieStatus 'HKLM\System\CurrentControlSet\Services' 'not-read' "Win32_Service: $($_.Exception.Message)" 'System-wide'
}

# ---- kernel and file-system drivers that can load (not disabled) ------------------------------
try {
    foreach ($drv in @(Get-CimInstance -ClassName Win32_SystemDriver -ErrorAction Stop)) {
        if ($drv.StartMode -eq 'Disabled') { continue }
        New-MagpieAutorun 'HKLM\System\CurrentControlSet\Services' $drv.Name 'Drivers' ([string]$drv.PathName) $null $true $null $drv.DisplayName $null $machineVars
    }
} catch {
    Write-Error -Message "cannot list drivers (Win32_SystemDriver): $($_.Exception.Message)" -ErrorAction Continue
    Write-MagpieStatus 'HKLM\System\CurrentControlSet\Services' 'not-read' "Win32_SystemDriver: $($_.Exception.Message)" 'System-wide'
}

# ---- scheduled tasks: one record per action ---------------------------------------------------
# A COM-handler action runs the class's in-process server (taskhostw loads the DLL): that DLL is
# the image, looked up where the 64-bit task host looks, HKLM\SOFTWARE\Classes\CLSID.
$comServers = @{}
function Get-MagpieComServer([string]$ClassId) {
    $id = $ClassId.Trim()
    if ($comServers.ContainsKey($id)) { return $comServers[$id] }
    $found = $null
    if ($hklm -and $id -match '^\{[0-9A-Fa-f-]{36}\}$') {
        foreach ($kind in 'InprocServer32', 'LocalServer32') {
            try {
                $k = $hklm.OpenSubKey("SOFTWARE\Classes\CLSID\$id\$kind", $false)
                if ($k) { try { $v = $k.GetValue('', $null, $noExpand); if ($v) { $found = @{ path = [string]$v; kind = $kind } } } finally { $k.Close() } }
            } catch { Write-Warning "cannot read HKLM\SOFTWARE\Classes\CLSID\$id\${kind}: $($_.Exception.Message)" }
            if ($found) { break }
        }
    }
    $comServers[$id] = $found
    $found
}
function New-MagpieComTask($Location, $Entry, $ClassId, $Data, $Author, $Enabled, $Time, $Description) {
    $launch = (([string]$ClassId) + ' ' + ([string]$Data)).Trim()
    $com = Get-MagpieComServer ([string]$ClassId)
    if (-not $com) {
        $why = "COM handler $ClassId is not registered under HKLM\SOFTWARE\Classes\CLSID"
        Write-Warning "task ${Entry}: $why"
        $desc = (@($Description, $why) | Where-Object { $_ }) -join '; '
        $r = New-MagpieAutorun $Location $Entry 'Tasks' $launch $Author $Enabled $Time $desc $null $machineVars
        $r.imagePath = $null
        $r | Add-Member -NotePropertyName comHandler -NotePropertyValue ([string]$ClassId)
        return $r
    }
    $image = $com.path
    if ($com.kind -eq 'LocalServer32') { $image = (Split-MagpieFirst (Expand-MagpieVariables $com.path $machineVars))[0] }
    $r = New-MagpieAutorun $Location $Entry 'Tasks' $launch $Author $Enabled $Time $Description $image $machineVars
    $r | Add-Member -NotePropertyName comHandler -NotePropertyValue ([string]$ClassId)
    $r
}
try {
    foreach ($task in @(Get-ScheduledTask -ErrorAction Stop)) {
        $state = [string]$task.State
        $date = $null
        if ($task.Date) { try { $date = ([datetime]$task.Date).ToUniversalTime() } catch { $date = $null } }
        foreach ($a in @($task.Actions)) {
            if (-not $a) { continue }
            if ($a.PSObject.Properties['ClassId'] -and $a.ClassId) {
                New-MagpieComTask 'Task Scheduler' ($task.TaskPath + $task.TaskName) $a.ClassId $a.Data ([string]$task.Author) ($state -ne 'Disabled') $date $task.Description
                continue
            }
            if (-not $a.Execute) { continue }
            $launch = (([string]$a.Execute) + ' ' + ([string]$a.Arguments)).Trim()
            # The task runs as its principal: only machine variables are known here.
            New-MagpieAutorun 'Task Scheduler' ($task.TaskPath + $task.TaskName) 'Tasks' $launch ([string]$task.Author) ($state -ne 'Disabled') $date $task.Description $null $machineVars
        }
    }
} catch {
    Write-Error -Message "cannot list scheduled tasks: $($_.Exception.Message)" -ErrorAction Continue
    Write-MagpieStatus 'Task Scheduler' 'not-read' "Get-ScheduledTask: $($_.Exception.Message)" 'System-wide'
}

# ---- tasks hidden from Task Scheduler: their security descriptor removed ------------------------
# A task whose TaskCache\Tree key has lost its SD value (Tarrask) still runs, but Get-ScheduledTask
# and schtasks no longer list it. Its definition is still the XML file under System32\Tasks.
function Find-MagpieHiddenTask($Key, [string]$TaskPath) {
    $subs = @()
    try { $subs = @($Key.GetSubKeyNames()) } catch { Write-Warning "cannot list TaskCache\Tree$($TaskPath): $($_.Exception.Message)"; return }
    foreach ($n in $subs) {
        $k = $null
        try { $k = $Key.OpenSubKey($n, $false) } catch { Write-Warning "cannot read TaskCache\Tree$TaskPath\${n}: $($_.Exception.Message)"; continue }
        if (-not $k) { continue }
        try {
            $values = @($k.GetValueNames())
            if ($values -contains 'Id' -and $values -notcontains 'SD') { "$TaskPath\$n" }
            Find-MagpieHiddenTask $k "$TaskPath\$n"
        } finally { $k.Close() }
    }
}
if ($hklm) {
    $tree = Open-MagpieKey $hklm 'HKLM' 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree' 'System-wide'
    Get-MagpieNotRead
    if ($tree) {
        $hidden = @()
        try { $hidden = @(Find-MagpieHiddenTask $tree '') } finally { $tree.Close() }
        foreach ($t in $hidden) {
            $why = 'its security descriptor (TaskCache\Tree SD) was removed: Get-ScheduledTask and schtasks do not list it'
            Write-Warning "hidden scheduled task ${t}: $why"
            $file = "$sys32\Tasks$t"
            $xml = $null
            try { $xml = [xml](Get-Content -LiteralPath $file -Raw -ErrorAction Stop) } catch { Write-Warning "cannot read ${file}: $($_.Exception.Message)" }
            $execs = @()
            $coms = @()
            $author = $null
            $date = $null
            $on = $true
            if ($xml) {
                $execs = @($xml.Task.Actions.Exec)
                $coms = @($xml.Task.Actions.ComHandler)
                $author = [string]$xml.Task.RegistrationInfo.Author
                if ($xml.Task.RegistrationInfo.Date) { try { $date = ([datetime]$xml.Task.RegistrationInfo.Date).ToUniversalTime() } catch { $date = $null } }
                if ([string]$xml.Task.Settings.Enabled -eq 'false') { $on = $false }
            }
            $made = 0
            foreach ($a in $execs) {
                if (-not $a -or -not $a.Command) { continue }
                $r = New-MagpieAutorun 'Task Scheduler (hidden)' $t 'Tasks' ((([string]$a.Command) + ' ' + ([string]$a.Arguments)).Trim()) $author $on $date "hidden task: $why" $null $machineVars
                $r | Add-Member -NotePropertyName hidden -NotePropertyValue $true
                $r
                $made++
            }
            foreach ($c in $coms) {
                if (-not $c -or -not $c.ClassId) { continue }
                $r = New-MagpieComTask 'Task Scheduler (hidden)' $t ([string]$c.ClassId) ([string]$c.Data) $author $on $date "hidden task: $why"
                $r | Add-Member -NotePropertyName hidden -NotePropertyValue $true
                $r
                $made++
            }
            if (-not $made) {
                $r = New-MagpieAutorun 'Task Scheduler (hidden)' $t 'Tasks' $null $author $on $date "hidden task: $why; no program action read from $file" $null $machineVars
                $r | Add-Member -NotePropertyName hidden -NotePropertyValue $true
                $r
            }
        }
    }
}

# ---- persistence beyond Run keys: IFEO, AppInit, LSA, netsh helpers -------------------------
if ($hklm) {
    # Image File Execution Options: a Debugger runs instead of the program (sethc.exe → cmd.exe at
    # the logon screen); GlobalFlag 0x200 with SilentProcessExit's MonitorProcess runs one when it exits.
    $ifeoPath = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options'
    $ifeo = Open-MagpieKey $hklm 'HKLM' $ifeoPath 'System-wide'
    Get-MagpieNotRead
    if ($ifeo) {
        $exes = @()
        try { $exes = @($ifeo.GetSubKeyNames()) } catch { Write-Error -Message "cannot list HKLM\${ifeoPath}: $($_.Exception.Message)" -ErrorAction Continue }
        foreach ($exe in $exes) {
            $k = Open-MagpieKey $hklm 'HKLM' "$ifeoPath\$exe" 'System-wide'
            Get-MagpieNotRead
            if (-not $k) { continue }
            try {
                $dbg = $k.GetValue('Debugger', $null, $noExpand)
                if ($dbg) {
                    $r = New-MagpieAutorun "HKLM\$ifeoPath\$exe" 'Debugger' 'Image hijacks' ([string]$dbg) 'System-wide' $true $null "runs instead of $exe" $null $machineVars
                    $r | Add-Member -NotePropertyName hijacks -NotePropertyValue $exe.ToLowerInvariant() -PassThru
                }
                $flag = $k.GetValue('GlobalFlag', $null)
                if ($null -ne $flag -and ([int64]$flag -band 0x200)) {
                    $spPath = "SOFTWARE\Microsoft\Windows NT\CurrentVersion\SilentProcessExit\$exe"
                    $sp = Open-MagpieKey $hklm 'HKLM' $spPath 'System-wide'
                    Get-MagpieNotRead
                    if ($sp) {
                        try {
                            $mon = $sp.GetValue('MonitorProcess', $null, $noExpand)
                            if ($mon) {
                                $r = New-MagpieAutorun "HKLM\$spPath" 'MonitorProcess' 'Image hijacks' ([string]$mon) 'System-wide' $true $null "runs when $exe exits (GlobalFlag FLG_MONITOR_SILENT_PROCESS_EXIT)" $null $machineVars
                                $r | Add-Member -NotePropertyName hijacks -NotePropertyValue $exe.ToLowerInvariant() -PassThru
                            }
                        } finally { $sp.Close() }
                    }
                }
            } finally { $k.Close() }
        }
        $ifeo.Close()
    }

    # AppInit_DLLs: loaded into every process that loads user32.dll, while LoadAppInit_DLLs is 1.
    foreach ($p in 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Windows', 'SOFTWARE\WOW6432Node\Microsoft\Windows NT\CurrentVersion\Windows') {
        $k = Open-MagpieKey $hklm 'HKLM' $p 'System-wide'
        Get-MagpieNotRead
        if (-not $k) { continue }
        try {
            $dlls = [string]$k.GetValue('AppInit_DLLs', $null, $noExpand)
            $load = $k.GetValue('LoadAppInit_DLLs', $null)
            foreach ($d in @($dlls -split '[,\s]+' | Where-Object { $_ })) {
                New-MagpieAutorun "HKLM\$p" 'AppInit_DLLs' 'AppInit' $d 'System-wide' ($null -ne $load -and [int]$load -eq 1) $null $null $d $machineVars
            }
        } finally { $k.Close() }
    }

    # LSA packages: DLLs lsass.exe loads by name (msv1_0 is System32\msv1_0.dll); a password filter
    # or a security package elsewhere sees every password.
    $lsaPath = 'SYSTEM\CurrentControlSet\Control\Lsa'
    foreach ($kp in @($lsaPath, "$lsaPath\OSConfig")) {
        $k = Open-MagpieKey $hklm 'HKLM' $kp 'System-wide'
        Get-MagpieNotRead
        if (-not $k) { continue }
        try {
            foreach ($v in 'Authentication Packages', 'Security Packages', 'Notification Packages') {
                $names = $k.GetValue($v, $null, $noExpand)
                foreach ($n in @($names | ForEach-Object { ([string]$_).Trim().Trim('"') } | Where-Object { $_ })) {
                    $file = $(if ($n -match '\\') { $n } elseif ($n -match '\.dll$') { "$sys32\$n" } else { "$sys32\$n.dll" })
                    New-MagpieAutorun "HKLM\$kp" "$v`: $n" 'LSA Providers' $n 'System-wide' $true $null $null $file $machineVars
                }
            }
        } finally { $k.Close() }
    }

    # netsh helper DLLs: loaded each time netsh runs.
    $k = Open-MagpieKey $hklm 'HKLM' 'SOFTWARE\Microsoft\NetSh' 'System-wide'
    Get-MagpieNotRead
    if ($k) {
        try {
            $helpers = Read-MagpieValues $k 'HKLM\SOFTWARE\Microsoft\NetSh' 'System-wide'
            foreach ($v in $helpers) {
                if (-not $v.data) { continue }
                $file = $(if ([string]$v.data -match '\\') { [string]$v.data } else { "$sys32\$($v.data)" })
                New-MagpieAutorun 'HKLM\SOFTWARE\Microsoft\NetSh' $v.name 'Netsh helpers' ([string]$v.data) 'System-wide' $true $null $null $file $machineVars
            }
        } finally { $k.Close() }
    }
}

# ---- Winlogon Notify, print monitors and providers, Active Setup, service failure commands -------
function Get-MagpieSubKeys($Key, [string]$Location) {
    try { return @($Key.GetSubKeyNames()) } catch { Write-Error -Message "cannot list ${Location}: $($_.Exception.Message)" -ErrorAction Continue; return @() }
}
function Resolve-MagpieSystemDll([string]$Name) {
    # A DLL named without a folder is loaded from System32 (spoolsv, winlogon); a path stays a path.
    $n = $Name.Trim().Trim('"')
    if ($n -match '\\' -or $n -match '^%') { return $n }
    "$sys32\$n"
}
if ($hklm) {
    # Winlogon notification packages: DLLs winlogon.exe loads and calls at logon, logoff, lock…
    # (Windows XP / Server 2003 honour them; later Windows ignores the key, malware still writes it).
    $wnPath = 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon\Notify'
    $wn = Open-MagpieKey $hklm 'HKLM' $wnPath 'System-wide'
    Get-MagpieNotRead
    if ($wn) {
        try {
            foreach ($name in (Get-MagpieSubKeys $wn "HKLM\$wnPath")) {
                $k = Open-MagpieKey $hklm 'HKLM' "$wnPath\$name" 'System-wide'
                Get-MagpieNotRead
                if (-not $k) { continue }
                try {
                    $dll = $k.GetValue('DllName', $null, $noExpand)
                    if (-not $dll) { continue }
                    New-MagpieAutorun "HKLM\$wnPath\$name" $name 'Winlogon Notify' ([string]$dll) 'System-wide' $true $null 'Winlogon notification package (DllName)' (Resolve-MagpieSystemDll ([string]$dll)) $machineVars
                } catch { Write-Error -Message "cannot read HKLM\$wnPath\${name}: $($_.Exception.Message)" -ErrorAction Continue } finally { $k.Close() }
            }
        } finally { $wn.Close() }
    }

    # Print monitors (Driver) and print providers (Name): DLLs the spooler (SYSTEM) loads at start,
    # by name from System32.
    foreach ($pp in @(@{ path = 'SYSTEM\CurrentControlSet\Control\Print\Monitors'; value = 'Driver'; category = 'Print Monitors'; what = 'print monitor' },
                     @{ path = 'SYSTEM\CurrentControlSet\Control\Print\Providers'; value = 'Name'; category = 'Print Providers'; what = 'print provider' })) {
        $pk = Open-MagpieKey $hklm 'HKLM' $pp.path 'System-wide'
        Get-MagpieNotRead
        if (-not $pk) { continue }
        try {
            foreach ($name in (Get-MagpieSubKeys $pk "HKLM\$($pp.path)")) {
                $k = Open-MagpieKey $hklm 'HKLM' "$($pp.path)\$name" 'System-wide'
                Get-MagpieNotRead
                if (-not $k) { continue }
                try {
                    $dll = $k.GetValue($pp.value, $null, $noExpand)
                    if (-not $dll) { continue }
                    New-MagpieAutorun "HKLM\$($pp.path)\$name" $name $pp.category ([string]$dll) 'System-wide' $true $null "$($pp.what) loaded by the print spooler ($($pp.value))" (Resolve-MagpieSystemDll ([string]$dll)) $machineVars
                } catch { Write-Error -Message "cannot read HKLM\$($pp.path)\${name}: $($_.Exception.Message)" -ErrorAction Continue } finally { $k.Close() }
            }
        } finally { $pk.Close() }
    }

    # Active Setup: each component's StubPath runs once per user at logon (as that user) when the
    # user's own Version is older than the machine's; IsInstalled 0 switches it off.
    foreach ($ap in 'SOFTWARE\Microsoft\Active Setup\Installed Components', 'SOFTWARE\WOW6432Node\Microsoft\Active Setup\Installed Components') {
        $ak = Open-MagpieKey $hklm 'HKLM' $ap 'System-wide'
        Get-MagpieNotRead
        if (-not $ak) { continue }
        try {
            foreach ($id in (Get-MagpieSubKeys $ak "HKLM\$ap")) {
                $k = Open-MagpieKey $hklm 'HKLM' "$ap\$id" 'System-wide'
                Get-MagpieNotRead
                if (-not $k) { continue }
                try {
                    $stub = $k.GetValue('StubPath', $null, $noExpand)
                    if (-not $stub -or -not ([string]$stub).Trim()) { continue }
                    $title = [string]$k.GetValue('', $null)
                    $installed = $k.GetValue('IsInstalled', $null)
                    $on = -not ($null -ne $installed -and "$installed" -match '^\d+$' -and [int64]"$installed" -eq 0)
                    $entryName = $(if ($title.Trim()) { $title.Trim() } else { $id })
                    $r = New-MagpieAutorun "HKLM\$ap\$id" $entryName 'Active Setup' ([string]$stub) 'System-wide' $on $null "Active Setup component $id$(if ($title.Trim()) { " ($($title.Trim()))" }): StubPath runs once for each user at logon" $null $machineVars
                    $r | Add-Member -NotePropertyName componentId -NotePropertyValue $id
                    $r | Add-Member -NotePropertyName componentVersion -NotePropertyValue $(if ($null -ne $k.GetValue('Version', $null)) { [string]$k.GetValue('Version', $null) } else { $null }) -PassThru
                } catch { Write-Error -Message "cannot read HKLM\$ap\${id}: $($_.Exception.Message)" -ErrorAction Continue } finally { $k.Close() }
            }
        } finally { $ak.Close() }
    }

    # Service failure commands: FailureCommand runs (as the service's account) when the service
    # fails and FailureActions holds a run-command action (SC_ACTION_RUN_COMMAND, type 3). The
    # REG_BINARY is SERVICE_FAILURE_ACTIONS as stored: reset period, three 32-bit pointer slots,
    # the action count at byte 12, then from byte 20 one (type, delay) pair of DWORDs per action.
    $svcPath = 'SYSTEM\CurrentControlSet\Services'
    $sk = Open-MagpieKey $hklm 'HKLM' $svcPath 'System-wide'
    Get-MagpieNotRead
    if ($sk) {
        try {
            foreach ($name in (Get-MagpieSubKeys $sk "HKLM\$svcPath")) {
                $k = Open-MagpieKey $hklm 'HKLM' "$svcPath\$name" 'System-wide'
                Get-MagpieNotRead
                if (-not $k) { continue }
                try {
                    $cmd = $k.GetValue('FailureCommand', $null, $noExpand)
                    if (-not $cmd -or -not ([string]$cmd).Trim()) { continue }
                    $actions = $k.GetValue('FailureActions', $null)
                    $runs = @()
                    if ($actions -is [byte[]] -and $actions.Length -ge 20) {
                        $count = [BitConverter]::ToUInt32($actions, 12)
                        for ($i = 0; $i -lt $count -and 20 + 8 * $i + 8 -le $actions.Length; $i++) {
                            if ([BitConverter]::ToUInt32($actions, 20 + 8 * $i) -eq 3) { $runs += $(if ($i -eq 0) { 'first' } elseif ($i -eq 1) { 'second' } else { 'subsequent' }) }
                        }
                    }
                    $desc = $(if ($runs.Count) { "runs when the service fails (FailureActions: run a command after the $(($runs | Select-Object -Unique) -join ', ') failure)" } else { 'FailureCommand is set but no FailureActions entry runs it' })
                    $account = [string]$k.GetValue('ObjectName', $null)
                    $r = New-MagpieAutorun "HKLM\$svcPath\$name" $name 'Service failure' ([string]$cmd) $(if ($account) { $account } else { 'LocalSystem' }) ([bool]$runs.Count) $null $desc $null $machineVars
                    $r | Add-Member -NotePropertyName service -NotePropertyValue $name -PassThru
                } catch { Write-Error -Message "cannot read HKLM\$svcPath\${name}: $($_.Exception.Message)" -ErrorAction Continue } finally { $k.Close() }
            }
        } finally { $sk.Close() }
    }
}

# ---- WMI permanent event subscriptions: consumers that run a command or a script ---------------
foreach ($ns in 'root/subscription', 'root/default') {
    try {
        $filters = @{}
        foreach ($f in @(Get-CimInstance -Namespace $ns -ClassName __EventFilter -ErrorAction Stop)) { $filters[[string]$f.Name] = [string]$f.Query }
        $boundTo = @{}
        foreach ($b in @(Get-CimInstance -Namespace $ns -ClassName __FilterToConsumerBinding -ErrorAction Stop)) {
            if ($b.Consumer -and $b.Filter) { $boundTo[[string]$b.Consumer.Name] = [string]$b.Filter.Name }
        }
        $consumers = @()
        foreach ($c in @(Get-CimInstance -Namespace $ns -ClassName CommandLineEventConsumer -ErrorAction Stop)) {
            $launch = $(if ($c.CommandLineTemplate) { [string]$c.CommandLineTemplate } else { [string]$c.ExecutablePath })
            $consumers += @{ c = $c; type = 'CommandLine'; launch = $launch; image = $null }
        }
        foreach ($c in @(Get-CimInstance -Namespace $ns -ClassName ActiveScriptEventConsumer -ErrorAction Stop)) {
            $text = $(if ($c.ScriptText) { [string]$c.ScriptText } else { [string]$c.ScriptFileName })
            $consumers += @{ c = $c; type = 'ActiveScript'; launch = $text; image = $(if ($c.ScriptFileName) { [string]$c.ScriptFileName } else { $null }) }
        }
        foreach ($x in $consumers) {
            $name = [string]$x.c.Name
            $filter = $(if ($boundTo.ContainsKey($name)) { $boundTo[$name] } else { $null })
            $query = $(if ($filter -and $filters.ContainsKey($filter)) { $filters[$filter] } else { $null })
            $desc = $(if ($filter) { "runs on: $query (filter $filter)" } else { 'not bound to a filter (does not run)' })
            $r = $(if ($x.type -eq 'CommandLine') { New-MagpieAutorun "WMI $ns" $name 'WMI' $x.launch 'System-wide' ([bool]$filter) $null $desc $null $machineVars }
                   else { New-MagpieAutorun "WMI $ns" $name 'WMI' $x.launch 'System-wide' ([bool]$filter) $null $desc $x.image $machineVars })
            $r | Add-Member -NotePropertyName consumerType -NotePropertyValue $x.type
            $r | Add-Member -NotePropertyName wmiFilter -NotePropertyValue $query
            if ($x.type -eq 'ActiveScript') {
                $r | Add-Member -NotePropertyName scriptingEngine -NotePropertyValue ([string]$x.c.ScriptingEngine)
                # Script text held in WMI itself: there is no file to name, hash or sign.
                if (-not $x.image) { $r.imagePath = $null; $r.imageExists = $null; $r.sha256 = $null; $r.signed = $null; $r.signatureStatus = $null; $r.signer = $null }
            }
            $r
        }
    } catch {
        $msg = $_.Exception.Message
        if ($msg -match 'Invalid (namespace|class)') { continue }
        Write-Error -Message "cannot read WMI subscriptions in ${ns}: $msg" -ErrorAction Continue
        Write-MagpieStatus "WMI $ns" 'not-read' "WMI event subscriptions: $msg" 'System-wide'
    }
}

# ---- BITS jobs that run a program when they finish or fail -----------------------------------
# SetNotifyCmdLine: BITS starts the program (as the job's owner) when the job is transferred or in
# error, and again after each retry delay until the job is completed or cancelled (T1197). The
# BitsTransfer module gives the job objects (NotifyCmdLine: program, parameters; the parameters
# start with the program itself); without it, bitsadmin /list /allusers /verbose.
function ConvertFrom-MagpieBitsNotify($Program, $Parameters) {
    # The command line BITS runs: the program, then the parameters after their own first word.
    $prog = ([string]$Program).Trim()
    $params = ([string]$Parameters).Trim()
    if (-not $prog -or $prog -eq 'NULL') { return $null }
    if (-not $params -or $params -eq 'NULL') { return $(if ($prog.Contains(' ')) { "`"$prog`"" } else { $prog }) }
    $rest = (Split-MagpieFirst $params)[1]
    $q = $(if ($prog.Contains(' ')) { "`"$prog`"" } else { $prog })
    (("$q $rest")).Trim()
}
function Read-MagpieBitsAdmin([string[]]$Lines) {
    # bitsadmin /list /allusers /verbose: a job's block starts with "GUID: {…} DISPLAY: 'name'".
    $jobs = New-Object System.Collections.Generic.List[object]
    $cur = $null
    $inFiles = $false
    foreach ($line in $Lines) {
        if ($line -match "^GUID:\s*(\{[0-9A-Fa-f-]+\})\s+DISPLAY:\s*'?(.*?)'?\s*$") {
            $cur = @{ JobId = $Matches[1]; DisplayName = $Matches[2]; TransferType = $null; JobState = $null; OwnerAccount = $null; Program = $null; Parameters = $null; Files = @(); Created = $null }
            $jobs.Add($cur); $inFiles = $false; continue
        }
        if (-not $cur) { continue }
        if ($line -match '^TYPE:\s*(\S+)\s+STATE:\s*(\S+)\s+OWNER:\s*(.+?)\s*$') { $cur.TransferType = $Matches[1]; $cur.JobState = $Matches[2]; $cur.OwnerAccount = $Matches[3]; continue }
        if ($line -match '^CREATION TIME:\s*(.+?)\s+MODIFICATION TIME:') { $cur.Created = $Matches[1]; continue }
        if ($line -match '^JOB FILES:') { $inFiles = $true; continue }
        if ($line -match '^NOTIFICATION COMMAND LINE:\s*(.*)$') {
            $inFiles = $false
            $v = $Matches[1].Trim()
            if ($v -match "^'(.*?)'\s+'(.*)'$") { $cur.Program = $Matches[1]; $cur.Parameters = $Matches[2] }
            elseif ($v -match "^'(.*)'$") { $cur.Program = $Matches[1] }
            elseif ($v -and $v -notmatch '^(?i)(none|NULL)$') { $cur.Program = $v }
            continue
        }
        if ($inFiles -and $line -match '(\S+://\S+|\\\\\S+)\s+->\s+(.+?)\s*$') { $cur.Files += "$($Matches[1]) -> $($Matches[2])"; continue }
        if ($line -match '^[A-Z][A-Z ]+:') { $inFiles = $false }
    }
    , $jobs
}
$bitsJobs = $null
$bitsSource = $null
try {
    if (-not (Get-Command Get-BitsTransfer -ErrorAction SilentlyContinue)) { try { Import-Module BitsTransfer -ErrorAction Stop } catch { $null = $_ } }
    if (Get-Command Get-BitsTransfer -ErrorAction SilentlyContinue) {
        $bitsSource = 'Get-BitsTransfer -AllUsers'
        $bitsJobs = New-Object System.Collections.Generic.List[object]
        foreach ($j in @(Get-BitsTransfer -AllUsers -ErrorAction Stop)) {
            if (-not $j) { continue }
            $ncl = $null
            if ($j.PSObject.Properties['NotifyCmdLine']) { $ncl = $j.NotifyCmdLine }
            $prog = $null; $params = $null
            if ($ncl -is [array]) { $prog = $(if ($ncl.Count -gt 0) { [string]$ncl[0] }); $params = $(if ($ncl.Count -gt 1) { [string]$ncl[1] }) }
            elseif ($ncl) { $prog = [string]$ncl }
            $files = @()
            foreach ($f in @($j.FileList)) { if ($f -and $f.RemoteName) { $files += "$($f.RemoteName) -> $($f.LocalName)" } }
            $bitsJobs.Add(@{ JobId = [string]$j.JobId; DisplayName = [string]$j.DisplayName; TransferType = [string]$j.TransferType; JobState = [string]$j.JobState
                    OwnerAccount = [string]$j.OwnerAccount; Program = $prog; Parameters = $params; Files = $files; Created = $j.CreationTime })
        }
    } elseif (Get-Command bitsadmin.exe -ErrorAction SilentlyContinue) {
        $bitsSource = 'bitsadmin /list /allusers /verbose'
        $global:LASTEXITCODE = 0
        $out = @(bitsadmin.exe /list /allusers /verbose 2>&1 | ForEach-Object { [string]$_ })
        if ($LASTEXITCODE -and $LASTEXITCODE -ne 0) { throw "bitsadmin exited with $LASTEXITCODE`: $((@($out | Where-Object { $_ }) | Select-Object -Last 2) -join ' ')" }
        $bitsJobs = Read-MagpieBitsAdmin $out
    } else {
        Write-Warning 'BITS jobs not read: neither the BitsTransfer module nor bitsadmin.exe is available'
    }
} catch {
    $bitsJobs = $null
    Write-Error -Message "cannot list BITS jobs ($bitsSource): $($_.Exception.Message)" -ErrorAction Continue
    Write-MagpieStatus 'BITS' 'not-read' "$bitsSource`: $($_.Exception.Message)" 'System-wide'
}
# (Not @($bitsJobs): PowerShell 7 throws "Argument types do not match" on @() of a variable that
# held $null and then a generic List in the same scope.)
if ($null -ne $bitsJobs) { foreach ($j in $bitsJobs) {
    if (-not $j) { continue }
    $launch = ConvertFrom-MagpieBitsNotify $j.Program $j.Parameters
    if (-not $launch) { continue }
    $time = $null
    if ($j.Created -is [datetime]) { $time = $j.Created.ToUniversalTime() }
    $state = [string]$j.JobState
    try {
        $r = New-MagpieAutorun 'BITS' $j.DisplayName 'BITS jobs' $launch $j.OwnerAccount ($state -notmatch '^(?i)(Cancelled|Canceled|Acknowledged)$') $time "BITS job $($j.JobId) ($($j.TransferType), $state) runs this when it is transferred or in error" $null $machineVars
        $r | Add-Member -NotePropertyName bitsJobId -NotePropertyValue $j.JobId
        $r | Add-Member -NotePropertyName bitsJobState -NotePropertyValue $state
        $r | Add-Member -NotePropertyName bitsTransferType -NotePropertyValue ([string]$j.TransferType)
        $r | Add-Member -NotePropertyName bitsFiles -NotePropertyValue @($j.Files) -PassThru
    } catch { Write-Error -Message "cannot record BITS job $($j.JobId): $($_.Exception.Message)" -ErrorAction Continue }
} }

# ---- Startup folders (the machine's and each profile's) ---------------------------------------
# A shortcut is recorded with what it starts (its target and arguments); any other file as itself.
$startup = New-Object System.Collections.Generic.List[object]
$startup.Add(@{ dir = (Expand-MagpieVariables '%ProgramData%\Microsoft\Windows\Start Menu\Programs\StartUp' $machineVars); owner = 'System-wide' })
foreach ($sid in @($profiles.Keys)) { if ($profiles[$sid]) { $startup.Add(@{ dir = "$($profiles[$sid])\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup"; owner = $sid }) } }
# A user's shortcut may use %APPDATA% and the like: that user's, as for the hive's Run keys.
$userVars = @{}
foreach ($h in $hives) { if ($h.user) { $userVars[$h.profile] = $h.vars } }
foreach ($s in $startup) {
    $files = @()
    try { $files = @(Get-ChildItem -LiteralPath $s.dir -Force -File -ErrorAction Stop) }
    catch {
        if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { continue }
        Write-Error -Message "cannot list $($s.dir): $($_.Exception.Message)" -ErrorAction Continue
        Write-MagpieStatus $s.dir 'not-read' "cannot list the folder: $($_.Exception.Message)" $s.owner
        continue
    }
    $vars = $(if ($userVars.ContainsKey($s.owner)) { $userVars[$s.owner] } else { $machineVars })
    foreach ($f in $files) {
        $fname = $f.Name
        if ($fname -eq 'desktop.ini') { continue }
        $path = "$($s.dir)\$fname"
        $on = -not ($startupDisabled.ContainsKey($s.owner) -and $startupDisabled[$s.owner].ContainsKey($fname))
        $time = $f.LastWriteTimeUtc
        if ($fname -notmatch '(?i)\.lnk$') {
            New-MagpieAutorun $s.dir $fname 'Logon' $path $s.owner $on $time $null $path $vars
            continue
        }
        $bytes = $null
        try { $bytes = [IO.File]::ReadAllBytes($f.FullName) } catch { Write-Warning "cannot read ${path}: $($_.Exception.Message)" }
        $link = $(if ($null -ne $bytes) { ConvertFrom-MagpieShellLink $bytes } else { @{ error = 'not readable' } })
        $target = $link.target
        if (-not $target -and $link.relativePath) { $target = [IO.Path]::GetFullPath([IO.Path]::Combine($s.dir, $link.relativePath)) -replace '/', '\' }
        if ($link.error -or -not $target) {
            $why = $(if ($link.error) { $link.error } else { 'no target path in it' })
            Write-Warning "shortcut ${path}: $why"
            New-MagpieAutorun $s.dir $fname 'Logon' $null $s.owner $on $time "shortcut not read: $why" $null $vars
            continue
        }
        $launch = $(if ($target.Contains(' ')) { "`"$target`"" } else { $target })
        if ($link.arguments) { $launch = "$launch $($link.arguments)" }
        $r = New-MagpieAutorun $s.dir $fname 'Logon' $launch $s.owner $on $time $null $null $vars
        $r | Add-Member -NotePropertyName shortcut -NotePropertyValue $path
        $r
    }
}
if ($status.keysFailed) { Write-Warning "autoruns: $($status.keysFailed) registry key(s) could not be read (status records name them); $($status.keysRead) were read" }
