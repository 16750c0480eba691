# net-context (Windows): hosts file, DNS client cache, neighbours, SMB shares and sessions, routes,
# proxy settings (WinINET per loaded user hive, WinHTTP), enabled inbound Allow firewall rules and
# named pipes. Each source in its own error handling: a missing cmdlet is a warning (the module is
# not on this Windows), a failing source a counted error naming it; the others still come.
function Test-MagpieCommand([string]$Name, [string]$What) {
    if (Get-Command -Name $Name -ErrorAction SilentlyContinue) { return $true }
    Write-Warning "${What} not read: $Name is not available on this host"
    return $false
}
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
if (Test-MagpieCommand 'Get-DnsClientCache' 'the DNS client cache') { try {
    foreach ($d in @(Get-DnsClientCache -ErrorAction Stop)) {
        $type = $(if ($types.ContainsKey([int]$d.Type)) { $types[[int]$d.Type] } else { [string]$d.Type })
        [pscustomobject][ordered]@{ source = 'dns-cache'; name = [string]$d.Entry; recordName = [string]$d.Name; type = $type; data = [string]$d.Data; ttl = $d.TimeToLive }
    }
} catch { Write-Error -Message "cannot read the DNS client cache (Get-DnsClientCache): $($_.Exception.Message)" -ErrorAction Continue } }

if (Test-MagpieCommand 'Get-NetNeighbor' 'the neighbour table') { try {
    foreach ($nb in @(Get-NetNeighbor -ErrorAction Stop)) {
        if ([string]$nb.State -eq 'Unreachable' -or [string]$nb.State -eq 'Permanent') { continue }
        [pscustomobject][ordered]@{ source = 'neighbor'; address = [string]$nb.IPAddress; mac = [string]$nb.LinkLayerAddress; state = [string]$nb.State; interface = [string]$nb.InterfaceAlias }
    }
} catch { Write-Error -Message "cannot read the neighbour table (Get-NetNeighbor): $($_.Exception.Message)" -ErrorAction Continue } }

if (Test-MagpieCommand 'Get-SmbShare' 'SMB shares and sessions') { try {
    foreach ($s in @(Get-SmbShare -ErrorAction Stop)) {
        [pscustomobject][ordered]@{ source = 'smb-share'; name = [string]$s.Name; path = [string]$s.Path; description = [string]$s.Description; special = [bool]$s.Special }
    }
    foreach ($s in @(Get-SmbSession -ErrorAction Stop)) {
        [pscustomobject][ordered]@{ source = 'smb-session'; client = [string]$s.ClientComputerName; user = [string]$s.ClientUserName; openFiles = $s.NumOpens; seconds = $s.SecondsExists }
    }
} catch { Write-Error -Message "cannot read SMB shares or sessions: $($_.Exception.Message)" -ErrorAction Continue } }

# Routes (Get-NetRoute, every address family and store): where the host sends traffic; a host route
# or a default route through an unexpected gateway redirects it.
if (Test-MagpieCommand 'Get-NetRoute' 'the routing table') { try {
    foreach ($r in @(Get-NetRoute -ErrorAction Stop)) {
        [pscustomobject][ordered]@{ source = 'route'; destination = [string]$r.DestinationPrefix; nextHop = [string]$r.NextHop; interface = [string]$r.InterfaceAlias; metric = $r.RouteMetric; protocol = [string]$r.Protocol; store = [string]$r.Store }
    }
} catch { Write-Error -Message "cannot read the routing table (Get-NetRoute): $($_.Exception.Message)" -ErrorAction Continue } }

# Proxy settings. ProxyServer is "host:port" for every protocol or "http=host:port;https=host:port":
# its addresses are split out (proxyHosts, proxyPorts) and `localProxy` says one is this host.
function ConvertTo-MagpieProxy([string]$Server) {
    $hosts = New-Object System.Collections.Generic.List[string]
    $ports = New-Object System.Collections.Generic.List[int]
    foreach ($part in @($Server -split ';')) {
        $a = ($part -replace '^\s*[A-Za-z]+=', '').Trim() -replace '^[A-Za-z]+://', ''
        if (-not $a) { continue }
        $h = $a; $port = $null
        if ($a -match '^\[([^\]]+)\](?::(\d+))?') { $h = $Matches[1]; $port = $Matches[2] }
        elseif ($a -match '^([^:/]+)(?::(\d+))?') { $h = $Matches[1]; $port = $Matches[2] }
        if (-not $hosts.Contains($h)) { $hosts.Add($h) }
        if ($port -and -not $ports.Contains([int]$port)) { $ports.Add([int]$port) }
    }
    $local = [bool]@($hosts | Where-Object { $_ -match '^(?:localhost|127\.\d+\.\d+\.\d+|::1|0\.0\.0\.0)$' }).Count
    @{ hosts = $hosts.ToArray(); ports = $ports.ToArray(); local = $local }
}
try {
    $profileList = @{}
    try {
        $pl = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Default).OpenSubKey('SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList', $false)
        if ($pl) {
            foreach ($sid in @($pl.GetSubKeyNames())) { $k = $pl.OpenSubKey($sid, $false); if ($k) { $profileList[$sid] = [string]$k.GetValue('ProfileImagePath'); $k.Close() } }
            $pl.Close()
        }
    } catch { Write-Warning "cannot read the profile list (users' folders not named): $($_.Exception.Message)" }
    $users = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::Users, [Microsoft.Win32.RegistryView]::Default)
    foreach ($sid in @($users.GetSubKeyNames())) {
        if ($sid -like '*_Classes') { continue }
        $path = "HKU\$sid\Software\Microsoft\Windows\CurrentVersion\Internet Settings"
        try {
            $k = $users.OpenSubKey("$sid\Software\Microsoft\Windows\CurrentVersion\Internet Settings", $false)
            if (-not $k) { continue }
            $server = [string]$k.GetValue('ProxyServer', '')
            $p = ConvertTo-MagpieProxy $server
            [pscustomobject][ordered]@{
                source = 'proxy'; scope = 'user'; sid = $sid; profile = $(if ($profileList.ContainsKey($sid)) { $profileList[$sid] } else { $null }); key = $path
                proxyEnable = ([int]$k.GetValue('ProxyEnable', 0) -ne 0); proxyServer = $server; proxyOverride = [string]$k.GetValue('ProxyOverride', '')
                autoConfigURL = [string]$k.GetValue('AutoConfigURL', ''); proxyHosts = $p.hosts; proxyPorts = $p.ports; localProxy = $p.local
            }
            $k.Close()
        } catch { Write-Error -Message "cannot read ${path}: $($_.Exception.Message)" -ErrorAction Continue }
    }
} catch { Write-Error -Message "cannot read the users' proxy settings (HKEY_USERS): $($_.Exception.Message)" -ErrorAction Continue }

# WinHTTP (services, netsh winhttp set proxy): the WinHttpSettings binary, not `netsh winhttp show
# proxy`, whose text is in the host's language. Layout: DWORD size/version, DWORD counter, DWORD
# flags (1 direct, 2 proxy, 4 auto-config URL, 8 auto-detect), DWORD length + proxy (ASCII), DWORD
# length + bypass list (ASCII). No value: WinHTTP goes direct.
$winHttpKey = 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
try {
    $k = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Default).OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections', $false)
    $b = $null
    if ($k) { $b = $k.GetValue('WinHttpSettings'); $k.Close() }
    $server = ''; $bypass = ''; $flags = 1
    if ($b -is [byte[]] -and $b.Length -ge 16) {
        $flags = [BitConverter]::ToInt32($b, 8)
        $len = [BitConverter]::ToInt32($b, 12)
        if ($len -gt 0 -and 16 + $len -le $b.Length) { $server = [Text.Encoding]::ASCII.GetString($b, 16, $len) }
        $at = 16 + [Math]::Max($len, 0)
        if ($at + 4 -le $b.Length) {
            $blen = [BitConverter]::ToInt32($b, $at)
            if ($blen -gt 0 -and $at + 4 + $blen -le $b.Length) { $bypass = [Text.Encoding]::ASCII.GetString($b, $at + 4, $blen) }
        }
    } elseif ($null -ne $b) { Write-Warning "${winHttpKey}\WinHttpSettings is not the binary WinHTTP writes; left out" }
    $p = ConvertTo-MagpieProxy $server
    [pscustomobject][ordered]@{ source = 'proxy'; scope = 'winhttp'; key = "$winHttpKey\WinHttpSettings"; proxyEnable = [bool]($flags -band 2); proxyServer = $server; proxyOverride = $bypass; proxyHosts = $p.hosts; proxyPorts = $p.ports; localProxy = $p.local }
} catch { Write-Error -Message "cannot read the WinHTTP proxy (${winHttpKey}\WinHttpSettings): $($_.Exception.Message)" -ErrorAction Continue }

# Enabled inbound Allow firewall rules of the active (effective: local and Group Policy) store, with
# their program, ports and addresses: three bulk filter queries joined by the rule's id, not one per
# rule. Windows does not store when a rule was made, so no time is given.
if (Test-MagpieCommand 'Get-NetFirewallRule' 'the firewall rules') { try {
    $fwRules = @(Get-NetFirewallRule -PolicyStore ActiveStore -Enabled True -Direction Inbound -Action Allow -ErrorAction Stop)
    $apps = @{}; $ports = @{}; $addrs = @{}
    foreach ($f in @(Get-NetFirewallApplicationFilter -All -PolicyStore ActiveStore -ErrorAction Stop)) { $apps[[string]$f.InstanceID] = $f }
    foreach ($f in @(Get-NetFirewallPortFilter -All -PolicyStore ActiveStore -ErrorAction Stop)) { $ports[[string]$f.InstanceID] = $f }
    foreach ($f in @(Get-NetFirewallAddressFilter -All -PolicyStore ActiveStore -ErrorAction Stop)) { $addrs[[string]$f.InstanceID] = $f }
    foreach ($r in $fwRules) {
        $id = [string]$r.Name
        $app = $apps[$id]; $pf = $ports[$id]; $af = $addrs[$id]
        $localPort = @(); $remote = @()
        if ($pf) { $localPort = @($pf.LocalPort | ForEach-Object { [string]$_ }) }
        if ($af) { $remote = @($af.RemoteAddress | ForEach-Object { [string]$_ }) }
        [pscustomobject][ordered]@{
            source = 'firewall-rule'; name = $id; displayName = [string]$r.DisplayName; group = [string]$r.DisplayGroup; profile = [string]$r.Profile
            program = $(if ($app) { [string]$app.Program } else { $null }); package = $(if ($app -and $app.Package) { [string]$app.Package } else { $null })
            protocol = $(if ($pf) { [string]$pf.Protocol } else { $null }); localPort = $localPort; remoteAddress = $remote
            policySource = [string]$r.PolicyStoreSource
        }
    }
} catch { Write-Error -Message "cannot read the firewall rules (Get-NetFirewallRule): $($_.Exception.Message)" -ErrorAction Continue } }

# Named pipes (at most 5,000), names matched against those offensive tools use by default (SigmaHQ's
# CobaltStrike Named Pipe / Patterns / Regex, Malicious Named Pipe, credential dumping and remote
# execution pipe rules). Windows' own wkssvc, ntsvcs, scerpc, spoolss… do not match: the patterns
# need the suffix the tools add. Chrome's mojo pipes have random numbers; only Cobalt Strike's fixed
# mojo.5688.8052.<its numbers> match.
$offensivePipes = @(
    @('^MSSE-\d+-server$', 'Cobalt Strike (default artifact kit)'), @('^msagent_', 'Cobalt Strike (SMB beacon default)'),
    @('^postex_', 'Cobalt Strike (post-exploitation job)'), @('^status_', 'Cobalt Strike (default)'),
    @('^(?:mojo|interprocess|samr|netlogon|srvsvc|lsarpc|wkssvc)_', 'Cobalt Strike (malleable C2 profile)'),
    @('^mojo\.5688\.8052\.(?:183894939787088877|35780273329370473)', 'Cobalt Strike (malleable C2 profile)'),
    @('^(?:wkssvc|ntsvcs|scerpc)_?[0-9a-f]{2}', 'Cobalt Strike (malleable C2 profile)'),
    @('^(?:DserNamePipe|SearchTextHarvester|PGMessagePipe|MsFteWds|f4c3|f53f|fullduplex_|rpc_|spoolss_|win\\msrpc_|mypipe-[fh])[0-9a-f]{2}', 'Cobalt Strike (malleable C2 profile)'),
    @('^msrpc_[0-9a-f]{4}', 'Cobalt Strike (malleable C2 profile)'), @('^windows\.update\.manager[0-9a-f]{2,3}', 'Cobalt Strike (malleable C2 profile)'),
    @('^win_svc', 'Cobalt Strike (malleable C2 profile)'), @('^demoagent_(?:11|22)$', 'Cobalt Strike (malleable C2 profile)'),
    @('^Winsock2\\CatalogChangeListener-[0-9a-f]{3}-0,', 'Cobalt Strike (malleable C2 profile)'),
    @('^PSEXESVC', 'PsExec (remote execution service)'), @('^RemCom_', 'RemCom (remote execution)'), @('^csexecsvc', 'CSExec (remote execution)'),
    @('^PAExec', 'PAExec (remote execution)'), @('^gruntsvc$', 'Covenant (default)'), @('^jaccdpqnvbrrxlaf$', 'PoshC2 (default)'), @('^Posh', 'PoshC2'),
    @('(?:^|\\)(?:lsadump|cachedump|wceservicepipe)', 'credential dumping tool'),
    @('^(?:winsession|lsassw)$', 'Wild Neutron malware'), @('^(?:isapi_dg2?|isapi_http|adschemerpc)$', 'Turla malware'), @('^583da945-62af-10e8-4902-a8f205c72b2e$', 'SUNBURST'),
    @('^(?:46a676ab7f179e511e30dd2dc41bd388|9f81f59bc58452127884ce513865ed20|e710f28d59aa529d6792ca6ff0ca1b34|rpchlp_3)$', 'Project Sauron'),
    @('^(?:bizkaz)$', 'Snatch ransomware'), @('^dce_3d$', 'Qbot'), @('^NamePipe_MoreWindows$', 'RedLeaves'), @('^6e7645c4-32c5-4fe3-aabf-e94c2f4370e7$', 'LiquidSnake')
)
$pipeLimit = 5000
try {
    $all = [IO.Directory]::GetFiles('\\.\pipe\')
    if ($all.Count -gt $pipeLimit) { Write-Warning "named pipes: $($all.Count) on this host, only the first $pipeLimit recorded" }
    foreach ($full in @($all | Select-Object -First $pipeLimit)) {
        $name = ([string]$full) -replace '^\\\\\.\\pipe\\', ''
        $rec = [ordered]@{ source = 'named-pipe'; name = $name; knownOffensive = $false }
        foreach ($o in $offensivePipes) {
            if ([regex]::IsMatch($name, $o[0], [Text.RegularExpressions.RegexOptions]::IgnoreCase)) { $rec.knownOffensive = $true; $rec.pattern = $o[0]; $rec.tool = $o[1]; break }
        }
        [pscustomobject]$rec
    }
} catch { Write-Error -Message "cannot list the named pipes (\\.\pipe\): $($_.Exception.Message)" -ErrorAction Continue }
