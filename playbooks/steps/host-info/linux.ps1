# host-info (Linux): facts from /etc/os-release, /proc and .NET; no external commands needed.
$osRelease = @{}
if (Test-Path -LiteralPath '/etc/os-release') {
    foreach ($line in Get-Content -LiteralPath '/etc/os-release') {
        if ($line -match '^([A-Z_]+)=(.*)$') { $osRelease[$Matches[1]] = $Matches[2].Trim('"') }
    }
}
$bootSeconds = $null
foreach ($line in Get-Content -LiteralPath '/proc/stat') {
    if ($line -like 'btime *') { $bootSeconds = [long]($line.Split(' ')[1]) }
}
$boot = $null
if ($null -ne $bootSeconds) { $boot = [DateTimeOffset]::FromUnixTimeSeconds($bootSeconds).UtcDateTime }
$memKb = $null
foreach ($line in Get-Content -LiteralPath '/proc/meminfo') {
    if ($line -match '^MemTotal:\s+(\d+) kB') { $memKb = [long]$Matches[1] }
}
$addresses = @()
foreach ($nic in [Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces()) {
    foreach ($ua in $nic.GetIPProperties().UnicastAddresses) { $addresses += ('{0}%{1}' -f $ua.Address.ToString(), $nic.Name) }
}
$tz = [TimeZoneInfo]::Local
$now = [DateTime]::UtcNow
$uid = (& id -u)
[pscustomobject]@{
    hostname         = [Environment]::MachineName
    # No name lookup: on an isolated or compromised host DNS may hang or lie.
    fqdn             = [Net.Dns]::GetHostName()
    domain           = (Get-Content -LiteralPath '/proc/sys/kernel/domainname' -ErrorAction SilentlyContinue)
    os               = 'linux'
    osName           = $osRelease['PRETTY_NAME']
    osVersion        = $osRelease['VERSION_ID']
    build            = (Get-Content -LiteralPath '/proc/sys/kernel/osrelease' -ErrorAction SilentlyContinue)
    architecture     = [Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString()
    psVersion        = $PSVersionTable.PSVersion.ToString()
    psEdition        = [string]$PSVersionTable.PSEdition
    timezone         = $tz.Id
    utcOffsetMinutes = [int]$tz.GetUtcOffset($now).TotalMinutes
    clockUtc         = $now
    bootTime         = $boot
    uptimeSeconds    = $(if ($boot) { [long]($now - $boot).TotalSeconds } else { $null })
    user             = [Environment]::UserName
    admin            = ($uid -eq '0')
    cpuCount         = [Environment]::ProcessorCount
    memoryBytes      = $(if ($memKb) { $memKb * 1024 } else { $null })
    ipAddresses      = $addresses
}
