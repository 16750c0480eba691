# Identifies the host a session reached. One JSON line, base64, like the step summary.
$isWin = ($PSVersionTable.PSEdition -ne 'Core') -or $IsWindows
$admin = $false
$adminFiltered = $false
$user = $null
if ($isWin) {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $user = $id.Name
    $admin = (New-Object Security.Principal.WindowsPrincipal($id)).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
    # A local administrator reached over the network gets a UAC-filtered token: Administrators
    # (S-1-5-32-544) is in it for deny only, so IsInRole says no. whoami lists deny-only groups
    # too; matching the SID, not the localised attribute text, works in every language.
    if (-not $admin) {
        $adminFiltered = [bool](@(whoami.exe /groups /fo csv /nh 2>$null) -match 'S-1-5-32-544')
    }
} else {
    $user = [Environment]::UserName
    # /proc rather than `id -u`: starting a process costs more than the whole probe.
    $admin = [IO.File]::ReadAllText('/proc/self/status') -match '(?m)^Uid:\s+0\s'
}
$info = [ordered]@{
    hostname  = [Environment]::MachineName
    os        = $(if ($isWin) { 'windows' } else { 'linux' })
    osVersion = [Environment]::OSVersion.VersionString
    psVersion = $PSVersionTable.PSVersion.ToString()
    psEdition = [string]$PSVersionTable.PSEdition
    user      = $user
    admin     = [bool]$admin
    adminFiltered = [bool]$adminFiltered
    utcNow    = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ss.fffZ', [Globalization.CultureInfo]::InvariantCulture)
    tempDir   = [IO.Path]::GetTempPath()
}
# name=base64(value) pairs rather than ConvertTo-Json: the probe runs on a cold host, where
# the JSON cmdlets' first use costs more than everything else here together.
$pairs = foreach ($k in $info.Keys) { $k + '=' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([string]$info[$k])) }
'MAGPIE-PROBE:' + ($pairs -join ';')
