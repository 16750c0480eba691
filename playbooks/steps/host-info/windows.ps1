# host-info (Windows): Win32_OperatingSystem and Win32_ComputerSystem through CIM.
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$tz = [TimeZoneInfo]::Local
$now = [DateTime]::UtcNow
$addresses = @()
foreach ($cfg in @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = True')) {
    foreach ($a in @($cfg.IPAddress)) { if ($a) { $addresses += ('{0}%{1}' -f $a, $cfg.Description) } }
}
$boot = $null
if ($os.LastBootUpTime) { $boot = ([datetime]$os.LastBootUpTime).ToUniversalTime() }
[pscustomobject]@{
    hostname         = $cs.Name
    fqdn             = $(if ($cs.PartOfDomain) { '{0}.{1}' -f $cs.DNSHostName, $cs.Domain } else { $cs.DNSHostName })
    domain           = $cs.Domain
    os               = 'windows'
    osName           = $os.Caption
    osVersion        = $os.Version
    build            = [string]$os.BuildNumber
    architecture     = $os.OSArchitecture
    psVersion        = $PSVersionTable.PSVersion.ToString()
    psEdition        = [string]$PSVersionTable.PSEdition
    timezone         = $tz.Id
    utcOffsetMinutes = [int]$tz.GetUtcOffset($now).TotalMinutes
    clockUtc         = $now
    bootTime         = $boot
    uptimeSeconds    = $(if ($boot) { [long]($now - $boot).TotalSeconds } else { $null })
    user             = $MagpieCtx.user
    admin            = [bool]$MagpieCtx.admin
    cpuCount         = [int]$cs.NumberOfLogicalProcessors
    memoryBytes      = [long]$cs.TotalPhysicalMemory
    ipAddresses      = $addresses
    installDate      = $(if ($os.InstallDate) { ([datetime]$os.InstallDate).ToUniversalTime() } else { $null })
    manufacturer     = $cs.Manufacturer
    model            = $cs.Model
}
