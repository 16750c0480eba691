# host-info (Windows): Win32_OperatingSystem and Win32_ComputerSystem through CIM.
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$tz = [TimeZoneInfo]::Local
$now = [DateTime]::UtcNow
# Addresses as addresses (a parser must not meet "fe80::1%Intel(R) Ethernet"); which adapter holds
# which is in adapters.
$addresses = @()
$adapters = @()
foreach ($cfg in @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = True')) {
    $own = @($cfg.IPAddress | Where-Object { $_ })
    $addresses += $own
    $adapters += [pscustomobject]@{ description = [string]$cfg.Description; macAddress = [string]$cfg.MACAddress; ipAddresses = $own; dnsServers = @($cfg.DNSServerSearchOrder | Where-Object { $_ }) }
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
    adapters         = $adapters
    installDate      = $(if ($os.InstallDate) { ([datetime]$os.InstallDate).ToUniversalTime() } else { $null })
    manufacturer     = $cs.Manufacturer
    model            = $cs.Model
}
