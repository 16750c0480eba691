# network (Linux): /proc/net/{tcp,tcp6,udp,udp6}, sockets joined to processes through /proc/<pid>/fd.
# State names follow Get-NetTCPConnection so rules read both systems alike.
$states = @{ '01' = 'Established'; '02' = 'SynSent'; '03' = 'SynReceived'; '04' = 'FinWait1'; '05' = 'FinWait2'; '06' = 'TimeWait';
             '07' = 'Closed'; '08' = 'CloseWait'; '09' = 'LastAck'; '0A' = 'Listen'; '0B' = 'Closing'; '0C' = 'SynReceived' }
$owner = @{}
foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
    $procId = [IO.Path]::GetFileName($dir)
    if ($procId -notmatch '^\d+$') { continue }
    $fds = @()
    try { $fds = [IO.Directory]::GetFiles("$dir/fd") } catch { continue }
    $name = $null
    try { $name = [IO.File]::ReadAllText("$dir/comm").TrimEnd("`n") } catch { $name = $null }
    foreach ($fd in $fds) {
        try { $target = [IO.File]::ResolveLinkTarget($fd, $false) } catch { continue }
        if ($target -and $target.Name -match '^socket:\[(\d+)\]$' -and -not $owner.ContainsKey($Matches[1])) {
            $owner[$Matches[1]] = @{ pid = [int]$procId; name = $name }
        }
    }
}
function ConvertFrom-ProcAddress([string]$Hex) {
    $parts = $Hex.Split(':')
    $a = $parts[0]
    $bytes = New-Object byte[] ($a.Length / 2)
    # The kernel prints each 32-bit word in host (little-endian) order.
    for ($w = 0; $w -lt $a.Length / 8; $w++) {
        for ($b = 0; $b -lt 4; $b++) { $bytes[$w * 4 + $b] = [Convert]::ToByte($a.Substring($w * 8 + (3 - $b) * 2, 2), 16) }
    }
    $ip = New-Object Net.IPAddress (, $bytes)
    if ($ip.IsIPv4MappedToIPv6) { $ip = $ip.MapToIPv4() }
    @{ address = $ip.ToString(); port = [Convert]::ToInt32($parts[1], 16) }
}
$tables = @(@{ file = '/proc/net/tcp'; proto = 'tcp' }, @{ file = '/proc/net/tcp6'; proto = 'tcp' })
if ($Params.IncludeUdp) { $tables += @(@{ file = '/proc/net/udp'; proto = 'udp' }, @{ file = '/proc/net/udp6'; proto = 'udp' }) }
foreach ($t in $tables) {
    if (-not (Test-Path -LiteralPath $t.file)) { continue }
    foreach ($line in ([IO.File]::ReadAllLines($t.file) | Select-Object -Skip 1)) {
        $f = $line.Trim() -split '\s+'
        if ($f.Count -lt 10) { continue }
        $local = ConvertFrom-ProcAddress $f[1]
        $remote = ConvertFrom-ProcAddress $f[2]
        $o = $owner[$f[9]]
        $isTcp = $t.proto -eq 'tcp'
        [pscustomobject]@{
            protocol      = $t.proto
            localAddress  = $local.address
            localPort     = $local.port
            remoteAddress = $(if ($isTcp) { $remote.address } else { $null })
            remotePort    = $(if ($isTcp) { $remote.port } else { $null })
            state         = $(if ($isTcp) { $states[$f[3]] } else { $null })
            pid           = $(if ($o) { $o.pid } else { $null })
            processName   = $(if ($o) { $o.name } else { $null })
            createdTime   = $null
        }
    }
}
