# net-context (Windows): hosts file, DNS client cache, neighbours, SMB shares and sessions.
$hostsFile = "$env:SystemRoot\System32\drivers\etc\hosts"
try {
    $n = 0
    foreach ($line in @(Get-Content -LiteralPath $hostsFile -ErrorAction Stop)) {
        $n++
        $t = ([string]$line -replace '#.*$', '').Trim()
        if (-not $t) { continue }
        $parts = @($t -split '\s+')
        [pscustomobject][ordered]@{ source = 'hosts'; file = $hostsFile; line = $n; address = $parts[0]; names = @($parts | Select-Object -Skip 1) }
    }
} catch { Write-Error -Message "cannot read the hosts file ${hostsFile}: $($_.Exception.Message)" -ErrorAction Continue }

$types = @{ 1 = 'A'; 5 = 'CNAME'; 28 = 'AAAA'; 12 = 'PTR'; 15 = 'MX'; 33 = 'SRV'; 16 = 'TXT'; 6 = 'SOA' }
try {
    foreach ($d in @(Get-DnsClientCache -ErrorAction Stop)) {
        $type = $(if ($types.ContainsKey([int]$d.Type)) { $types[[int]$d.Type] } else { [string]$d.Type })
        [pscustomobject][ordered]@{ source = 'dns-cache'; name = [string]$d.Entry; recordName = [string]$d.Name; type = $type; data = [string]$d.Data; ttl = $d.TimeToLive }
    }
} catch { Write-Error -Message "cannot read the DNS client cache (Get-DnsClientCache): $($_.Exception.Message)" -ErrorAction Continue }

try {
    foreach ($nb in @(Get-NetNeighbor -ErrorAction Stop)) {
        if ([string]$nb.State -eq 'Unreachable' -or [string]$nb.State -eq 'Permanent') { continue }
        [pscustomobject][ordered]@{ source = 'neighbor'; address = [string]$nb.IPAddress; mac = [string]$nb.LinkLayerAddress; state = [string]$nb.State; interface = [string]$nb.InterfaceAlias }
    }
} catch { Write-Error -Message "cannot read the neighbour table (Get-NetNeighbor): $($_.Exception.Message)" -ErrorAction Continue }

try {
    foreach ($s in @(Get-SmbShare -ErrorAction Stop)) {
        [pscustomobject][ordered]@{ source = 'smb-share'; name = [string]$s.Name; path = [string]$s.Path; description = [string]$s.Description; special = [bool]$s.Special }
    }
    foreach ($s in @(Get-SmbSession -ErrorAction Stop)) {
        [pscustomobject][ordered]@{ source = 'smb-session'; client = [string]$s.ClientComputerName; user = [string]$s.ClientUserName; openFiles = $s.NumOpens; seconds = $s.SecondsExists }
    }
} catch { Write-Error -Message "cannot read SMB shares or sessions: $($_.Exception.Message)" -ErrorAction Continue }
