# network (Windows): Get-NetTCPConnection / Get-NetUDPEndpoint, process names joined by PID.
# Names as the processes step has them (Win32_Process: svchost.exe), so the two join; Get-Process
# (no .exe) only for a process CIM did not list.
if (-not (Get-Command -Name Get-NetTCPConnection -ErrorAction SilentlyContinue)) {
    throw 'network: Get-NetTCPConnection is not available here (the NetTCPIP module comes with Windows 8 / Server 2012 and later); no connections were read'
}
$names = @{}
try {
    foreach ($wp in @(Get-CimInstance -ClassName Win32_Process -ErrorAction Stop)) { $names[[int]$wp.ProcessId] = [string]$wp.Name }
} catch { Write-Warning "network: Win32_Process could not be read ($($_.Exception.Message)); process names from Get-Process, without .exe" }
foreach ($gp in @(Get-Process -ErrorAction SilentlyContinue)) { if (-not $names.ContainsKey([int]$gp.Id)) { $names[[int]$gp.Id] = $gp.ProcessName } }
function Get-MagpieProcessName([int]$Id) { if ($names.ContainsKey($Id)) { $names[$Id] } else { $null } }
foreach ($c in @(Get-NetTCPConnection -ErrorAction Stop)) {
    $created = $null
    if ($c.CreationTime) { $created = ([datetime]$c.CreationTime).ToUniversalTime() }
    [pscustomobject]@{
        protocol      = 'tcp'
        localAddress  = [string]$c.LocalAddress
        localPort     = [int]$c.LocalPort
        remoteAddress = [string]$c.RemoteAddress
        remotePort    = [int]$c.RemotePort
        state         = [string]$c.State
        pid           = [int]$c.OwningProcess
        processName   = Get-MagpieProcessName $c.OwningProcess
        createdTime   = $created
    }
}
if ($Params.IncludeUdp) {
    foreach ($u in @(Get-NetUDPEndpoint -ErrorAction Stop)) {
        $created = $null
        if ($u.CreationTime) { $created = ([datetime]$u.CreationTime).ToUniversalTime() }
        [pscustomobject]@{
            protocol      = 'udp'
            localAddress  = [string]$u.LocalAddress
            localPort     = [int]$u.LocalPort
            remoteAddress = $null
            remotePort    = $null
            state         = $null
            pid           = [int]$u.OwningProcess
            processName   = Get-MagpieProcessName $u.OwningProcess
            createdTime   = $created
        }
    }
}
