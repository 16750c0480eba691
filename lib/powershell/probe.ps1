# Identifies the host a session reached. One JSON line, base64, like the step summary.
$isWin = ($PSVersionTable.PSEdition -ne 'Core') -or $IsWindows
$admin = $false
$user = $null
if ($isWin) {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    $user = $id.Name
    $admin = (New-Object Security.Principal.WindowsPrincipal($id)).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
} else {
    $user = [Environment]::UserName
    $admin = ((& id -u) -eq '0')
}
$info = [ordered]@{
    hostname  = [Environment]::MachineName
    fqdn      = [Net.Dns]::GetHostName()
    os        = $(if ($isWin) { 'windows' } else { 'linux' })
    osVersion = [Environment]::OSVersion.VersionString
    psVersion = $PSVersionTable.PSVersion.ToString()
    psEdition = [string]$PSVersionTable.PSEdition
    user      = $user
    admin     = [bool]$admin
    utcNow    = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ss.fffZ', [Globalization.CultureInfo]::InvariantCulture)
    tempDir   = [IO.Path]::GetTempPath()
}
'MAGPIE-PROBE:' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $info -Compress)))
