# network (Windows): Get-NetTCPConnection / Get-NetUDPEndpoint, process names joined by PID.
$names = @{}
foreach ($gp in @(Get-Process -ErrorAction SilentlyContinue)) { $names[[int]$gp.Id] = $gp.ProcessName }
function Get-MagpieProcessName([int]$Id) { if ($names.ContainsKey($Id)) { $names[$Id] } else { $null } }
foreach ($c in @(Get-NetTCPConnection -ErrorAction SilentlyContinue)) {
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
    foreach ($u in @(Get-NetUDPEndpoint -ErrorAction SilentlyContinue)) {
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
