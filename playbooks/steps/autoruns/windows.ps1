# autoruns (Windows): registry autostarts, Winlogon, services, scheduled tasks, Startup folders.
$found = New-Object System.Collections.Generic.List[object]

function Get-MagpieImagePath([string]$Launch) {
    # The program a launch string runs: quoted, or up to the first executable extension, or the first word.
    if (-not $Launch) { return $null }
    $s = $Launch.Trim()
    foreach ($pair in @(@('%windir%', 'C:\Windows'), @('%systemroot%', 'C:\Windows'), @('\SystemRoot\', 'C:\Windows\'), @('%programfiles%', 'C:\Program Files'), @('%programdata%', 'C:\ProgramData'))) {
        $i = $s.IndexOf($pair[0], [StringComparison]::OrdinalIgnoreCase)
        if ($i -eq 0) { $s = $pair[1] + $s.Substring($pair[0].Length) }
    }
    if ($s -match '^"([^"]+)"') { return $Matches[1] }
    if ($s -match '^(.+?\.(exe|com|bat|cmd|dll|sys|scr|ps1|vbs|js|hta|cpl))(\s|,|$)') { return $Matches[1] }
    if ($s -match '^(?i)system32\\') { return 'C:\Windows\' + ($s -split '\s')[0] }
    return ($s -split '\s')[0]
}

function Add-MagpieAutorun($Location, $Entry, $Category, $Launch, $Owner, $Enabled, $Time, $Description, $Image) {
    if (-not $Image) { $Image = Get-MagpieImagePath $Launch }
    $found.Add([pscustomobject]@{
        location = $Location; entry = $Entry; category = $Category; enabled = $Enabled; profile = $Owner
        description = $Description; company = $null; signer = $null; signed = $null; signatureStatus = $null
        imagePath = $Image; imageExists = $null; launchString = $Launch; time = $Time; sha256 = $null
    })
}

# Registry: the machine, then every user hive that is loaded (S-1-5-21-…).
$runKeys = @('SOFTWARE\Microsoft\Windows\CurrentVersion\Run', 'SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce',
             'SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run', 'SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run',
             'SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\RunOnce')
$hives = @(@{ name = 'HKLM'; path = 'Registry::HKEY_LOCAL_MACHINE'; profile = 'System-wide' })
foreach ($h in @(Get-ChildItem -Path 'Registry::HKEY_USERS' -ErrorAction SilentlyContinue)) {
    if ($h.PSChildName -match '^S-1-5-21-[\d-]+$') { $hives += @{ name = "HKU\$($h.PSChildName)"; path = "Registry::HKEY_USERS\$($h.PSChildName)"; profile = $h.PSChildName } }
}
foreach ($hive in $hives) {
    foreach ($key in $runKeys) {
        $props = Get-ItemProperty -Path "$($hive.path)\$key" -ErrorAction SilentlyContinue
        if (-not $props) { continue }
        foreach ($p in $props.PSObject.Properties) {
            if ($p.Name -like 'PS*' -or $p.Name -eq '(default)') { continue }
            Add-MagpieAutorun "$($hive.name)\$key" $p.Name 'Logon' ([string]$p.Value) $hive.profile $true $null $null $null
        }
    }
}
$winlogon = Get-ItemProperty -Path 'Registry::HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon' -ErrorAction SilentlyContinue
if ($winlogon) {
    foreach ($name in @('Shell', 'Userinit')) {
        if ($winlogon.$name) { Add-MagpieAutorun 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon' $name 'Logon' ([string]$winlogon.$name).TrimEnd(',') 'System-wide' $true $null $null $null }
    }
}

# Services that can start (not disabled), drivers included.
foreach ($svc in @(Get-CimInstance -ClassName Win32_Service -ErrorAction SilentlyContinue)) {
    if ($svc.StartMode -eq 'Disabled') { continue }
    Add-MagpieAutorun 'HKLM\System\CurrentControlSet\Services' $svc.Name 'Services' ([string]$svc.PathName) ([string]$svc.StartName) $true $null $svc.DisplayName $null
}

# Scheduled tasks: one record per action.
foreach ($task in @(Get-ScheduledTask -ErrorAction SilentlyContinue)) {
    $state = [string]$task.State
    $date = $null
    if ($task.Date) { try { $date = ([datetime]$task.Date).ToUniversalTime() } catch { $date = $null } }
    foreach ($a in @($task.Actions)) {
        if (-not $a.Execute) { continue }
        $launch = (([string]$a.Execute) + ' ' + ([string]$a.Arguments)).Trim()
        Add-MagpieAutorun 'Task Scheduler' ($task.TaskPath + $task.TaskName) 'Tasks' $launch ([string]$task.Author) ($state -ne 'Disabled') $date $task.Description $null
    }
}

# Startup folders (the machine's and each profile's).
$startup = @('C:\ProgramData\Microsoft\Windows\Start Menu\Programs\StartUp')
if ([IO.Directory]::Exists('C:\Users')) {
    foreach ($u in [IO.Directory]::GetDirectories('C:\Users')) { $startup += [IO.Path]::Combine($u, 'AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup') }
}
foreach ($dir in $startup) {
    if (-not [IO.Directory]::Exists($dir)) { continue }
    foreach ($f in [IO.Directory]::GetFiles($dir)) {
        if ([IO.Path]::GetFileName($f) -eq 'desktop.ini') { continue }
        Add-MagpieAutorun $dir ([IO.Path]::GetFileName($f)) 'Logon' $f $null $true ([IO.File]::GetLastWriteTimeUtc($f)) $null $f
    }
}

# Each distinct image once: hash, signature; an image that cannot be read is reported missing.
$images = @{}
foreach ($r in $found) {
    if (-not $r.imagePath -or $images.ContainsKey($r.imagePath)) { continue }
    $img = @{ sha256 = $null; exists = $null; status = $null; signer = $null; company = $null }
    if ($Params.HashImages) {
        try {
            $img.sha256 = (Get-FileHash -LiteralPath $r.imagePath -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
            $img.exists = $true
            $sig = Get-AuthenticodeSignature -LiteralPath $r.imagePath -ErrorAction Stop
            $img.status = [string]$sig.Status
            if ($sig.SignerCertificate) { $img.signer = $sig.SignerCertificate.Subject }
        } catch {
            if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { $img.exists = $false } else { Write-Warning "cannot check $($r.imagePath): $($_.Exception.Message)" }
        }
    }
    $images[$r.imagePath] = $img
}
foreach ($r in $found) {
    if ($r.imagePath -and $images.ContainsKey($r.imagePath)) {
        $img = $images[$r.imagePath]
        $r.sha256 = $img.sha256
        $r.imageExists = $img.exists
        $r.signatureStatus = $img.status
        $r.signer = $img.signer
        $r.signed = $(if ($img.status) { $img.status -eq 'Valid' } else { $null })
    }
    $r
}
