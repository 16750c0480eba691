# traffic-capture (Linux): tcpdump (pcap) or dumpcap (pcapng) for Seconds or until MaxMB, Magpie's
# own session left out by a capture filter. Programs get argument arrays, never a shell string.
# The capture program runs under coreutils' timeout with a deadline of its own: if this
# PowerShell is killed or the session is lost, the capture still ends.

$seconds = 120
if ($null -ne $Params.Seconds) { $seconds = [int]$Params.Seconds }
if ($seconds -lt 1 -or $seconds -gt 3600) { throw "traffic-capture: Seconds must be 1 to 3600, got $seconds" }
$maxMB = 200
if ($null -ne $Params.MaxMB) { $maxMB = [int]$Params.MaxMB }
if ($maxMB -lt 1 -or $maxMB -gt 4096) { throw "traffic-capture: MaxMB must be 1 to 4096, got $maxMB" }
$maxBytes = [long]$maxMB * 1048576
$interfaces = @(foreach ($i in @($Params.Interfaces)) { if ($i -and "$i".Trim()) { "$i".Trim() } })
foreach ($i in $interfaces) {
    if ($i -notmatch '^[A-Za-z0-9._:@-]{1,32}$') { throw "traffic-capture: Interfaces: not an interface name: $i" }
    if ($i -ne 'any' -and -not [IO.Directory]::Exists("/sys/class/net/$i")) { throw "traffic-capture: no interface $i on this host (ip link lists them)" }
}

# ---- what to leave out ------------------------------------------------------------------------
# The session's own TCP connection: SSH_CONNECTION ("client port server port") as this host sees it
# where sshd set it (right behind NAT); else the responder's view, passed in the context.
$filter = $null
$excluded = $null
if ($Params.ExcludeManagement -ne $false) {
    $mg = $null
    $ssh = "$env:SSH_CONNECTION".Trim().Split(' ')
    if ($ssh.Count -eq 4) { $mg = @($ssh[0], $ssh[2], $ssh[3]) }
    elseif ($MagpieCtx.mgmt) { $mg = @("$($MagpieCtx.mgmt)".Trim().Split(' ')) }
    if ($mg -and $mg.Count -eq 3) {
        $a = $null; $b = $null; $p = 0
        if ([Net.IPAddress]::TryParse($mg[0], [ref]$a) -and [Net.IPAddress]::TryParse($mg[1], [ref]$b) -and [int]::TryParse($mg[2], [ref]$p) -and $p -ge 1 -and $p -le 65535) {
            # IPAddress.ToString() gives the canonical text: nothing from the environment reaches the filter unchecked.
            $ra = $a.ToString(); $ta = $b.ToString()
            $filter = "not (tcp and host $ra and host $ta and port $p)"
            $excluded = "tcp $ra <-> $ta port $p (Magpie's session, by capture filter)"
        } else { Write-Warning "traffic-capture: the session's address is not an address and port ($($mg -join ' ')); nothing is left out" }
    }
}

# ---- the capture program -------------------------------------------------------------------------
$tcpdump = Get-Command tcpdump -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$dumpcap = Get-Command dumpcap -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$timeoutCmd = Get-Command timeout -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$killCmd = Get-Command kill -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$prlimit = Get-Command prlimit -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $tcpdump -and -not $dumpcap) {
    throw 'traffic-capture: neither tcpdump nor dumpcap is installed; install one: apt-get install tcpdump (Debian/Ubuntu) or dnf install tcpdump (RHEL/Fedora)'
}
$want = 'auto'
if ($Params.Tool) { $want = "$($Params.Tool)".ToLowerInvariant() }
if ($want -notin @('auto', 'tcpdump', 'dumpcap')) { throw "traffic-capture: Tool must be auto, tcpdump or dumpcap on Linux, got $want" }
if ($want -eq 'dumpcap') {
    if (-not $dumpcap) { throw 'traffic-capture: Tool dumpcap: dumpcap is not installed (apt-get install wireshark-common, or tshark)' }
    $tcpdump = $null
} elseif ($want -eq 'tcpdump' -and -not $tcpdump) { throw 'traffic-capture: Tool tcpdump: tcpdump is not installed (apt-get install tcpdump)' }
$captures = New-Object System.Collections.Generic.List[object]
if ($tcpdump) {
    # tcpdump takes one -i: one process and one file per interface named.
    $tool = 'tcpdump'
    $toolVersion = $null
    try { $toolVersion = @(& $tcpdump.Source --version 2>&1)[0].ToString() } catch { $toolVersion = $null }
    $ifs = $interfaces
    if (-not $ifs.Count) { $ifs = @('any') }
    foreach ($i in $ifs) {
        $name = $(if ($ifs.Count -eq 1) { 'capture.pcap' } else { "capture-$($i -replace '[^A-Za-z0-9._-]', '_').pcap" })
        # -U: every packet reaches the file when it is written (the size check and a kill lose nothing);
        # -Z root: Debian's tcpdump otherwise becomes user tcpdump, who cannot write into $OutDir.
        $argv = @('-i', $i, '-n', '-s', '0', '-U', '-Z', 'root', '-w', [IO.Path]::Combine($OutDir, $name))
        if ($filter) { $argv += $filter }
        $captures.Add([pscustomobject]@{ file = $name; format = 'pcap'; interfaces = @($i); argv = $argv; exe = $tcpdump.Source; proc = $null; err = $null })
    }
} else {
    $tool = 'dumpcap'
    $toolVersion = $null
    try { $toolVersion = @(& $dumpcap.Source --version 2>&1)[0].ToString() } catch { $toolVersion = $null }
    $argv = @()
    foreach ($i in $interfaces) { $argv += @('-i', $i) }
    if (-not $interfaces.Count) { $argv += @('-i', 'any') }
    # dumpcap stops by itself at both bounds (filesize in kB).
    $argv += @('-q', '-n', '-a', "duration:$seconds", '-a', "filesize:$([long][math]::Floor($maxBytes / 1000))", '-w', [IO.Path]::Combine($OutDir, 'capture.pcapng'))
    if ($filter) { $argv += @('-f', $filter) }
    $ifList = $interfaces; if (-not $ifList.Count) { $ifList = @('any') }
    $captures.Add([pscustomobject]@{ file = 'capture.pcapng'; format = 'pcapng'; interfaces = $ifList; argv = $argv; exe = $dumpcap.Source; proc = $null; err = $null })
}

function Stop-Capture($c) {
    # SIGINT: tcpdump and dumpcap flush, close the file and print their counts.
    if (-not $c.proc -or $c.proc.HasExited) { return }
    if ($killCmd) { & $killCmd.Source -INT ([string]$c.proc.Id) 2>$null }
    if (-not $c.proc.WaitForExit(10000)) { try { $c.proc.Kill($true) } catch { $null = $_ } ; $c.proc.WaitForExit() }
}

# ---- capture ---------------------------------------------------------------------------------------
$began = [datetime]::UtcNow
$stoppedBy = 'time'
$problem = $null
try {
    foreach ($c in $captures) {
        $exe = $c.exe; $argv = $c.argv
        if ($timeoutCmd) {
            # The capture's own deadline, a little after ours: it ends even if nothing is left to stop it.
            $argv = @('-s', 'INT', '-k', '10', [string]($seconds + 30), $exe) + $argv
            $exe = $timeoutCmd.Source
        } else { Write-Warning 'traffic-capture: coreutils timeout is missing: the capture has no deadline of its own if the session is lost' }
        if ($prlimit) {
            # And its own size limit (RLIMIT_FSIZE, a little above the cap, which this script enforces
            # to the packet): a capture left alone cannot fill the host's disk.
            $argv = @("--fsize=$([long]($maxBytes / $captures.Count) + 1048576)", '--', $exe) + $argv
            $exe = $prlimit.Source
        } else { Write-Warning 'traffic-capture: prlimit (util-linux) is missing: the capture has no size limit of its own if the session is lost' }
        "run: $exe $($argv -join ' ')"
        $c.proc = Start-MagpieProcess $exe $argv
        $c.err = $c.proc.StandardError.ReadToEndAsync()
    }
    $deadline = $began.AddSeconds($seconds)
    while ([datetime]::UtcNow -lt $deadline) {
        Start-Sleep -Milliseconds 100
        $size = [long]0
        foreach ($c in $captures) {
            $f = [IO.Path]::Combine($OutDir, $c.file)
            if ([IO.File]::Exists($f)) { $size += ([IO.FileInfo]::new($f)).Length }
        }
        if ($size -ge $maxBytes) { $stoppedBy = 'size'; break }
        $ended = @($captures | Where-Object { $_.proc.HasExited })
        if ($ended.Count -eq $captures.Count) {
            # dumpcap stops itself at a bound; anything else ending early is a failure.
            if ($tool -eq 'dumpcap' -and $ended[0].proc.ExitCode -eq 0) { if ($size -ge $maxBytes * 0.95) { $stoppedBy = 'size' } }
            else { $stoppedBy = 'error'; $problem = "$tool ended on its own (exit code $($ended[0].proc.ExitCode))" }
            break
        }
    }
} catch {
    $stoppedBy = 'error'
    $problem = $_.ToString()
} finally {
    foreach ($c in $captures) { Stop-Capture $c }
}
$ended = [datetime]::UtcNow

# ---- the records ---------------------------------------------------------------------------------
function Limit-PcapSize {
    # tcpdump has no size cap that keeps the first packets (-C -W 1 overwrites them): the file is cut
    # after the last whole packet that fits. Classic pcap: 24-byte header, then 16-byte record
    # headers whose third field is the captured length. Says how many packets it kept and cut (the
    # count tcpdump prints is lost when its own size limit stopped it).
    param([string]$Path, [long]$Cap)
    $fs = [IO.File]::Open($Path, 'Open', 'ReadWrite')
    try {
        $br = [IO.BinaryReader]::new($fs)
        # The magic as bytes: a big-endian file starts a1 b2 c3 d4 (or a1 b2 3c 4d for nanoseconds).
        $head = $br.ReadBytes(4)
        $swap = ($head[0] -eq 0xa1 -and $head[1] -eq 0xb2) -eq [BitConverter]::IsLittleEndian
        $pos = [long]24; $cut = [long]24; $kept = 0; $dropped = 0
        while ($pos + 16 -le $fs.Length) {
            $fs.Position = $pos + 8
            $b = $br.ReadBytes(4)
            if ($swap) { [Array]::Reverse($b) }
            $next = $pos + 16 + [BitConverter]::ToUInt32($b, 0)
            if ($next -le $Cap -and $next -le $fs.Length) { $cut = $next; $kept++ } else { $dropped++ }
            $pos = $next
        }
        # A partial last record (the writer stopped mid-packet) goes too.
        if ($cut -lt $fs.Length) { $fs.SetLength($cut) }
        return [pscustomobject]@{ kept = $kept; dropped = $dropped }
    } finally { $fs.Dispose() }
}

$sha = [Security.Cryptography.SHA256]::Create()
foreach ($c in $captures) {
    $path = [IO.Path]::Combine($OutDir, $c.file)
    $stderrText = ''
    if ($c.err) { $stderrText = $c.err.Result }
    foreach ($l in $stderrText.Split("`n")) { if ($l.Trim()) { "$($tool): $($l.Trim() -replace "^$($tool):\s*", '')" } }
    if (-not [IO.File]::Exists($path)) {
        Write-Error "traffic-capture: $tool wrote no capture on $($c.interfaces -join ', '): $($stderrText.Trim())"
        continue
    }
    $packets = $null
    if ($c.format -eq 'pcap') {
        $limit = Limit-PcapSize $path ([long]($maxBytes / $captures.Count))
        $packets = [long]$limit.kept
        if ($limit.dropped) { $stoppedBy = 'size'; "$($c.file): $($limit.dropped) packets past the size cap were cut" }
    } elseif ($stderrText -match 'Packets(?: captured)?: (\d+)') { $packets = [long]$Matches[1] }
    $stream = [IO.File]::OpenRead($path)
    try { $hash = ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose() }
    [pscustomobject]@{
        file = $c.file; format = $c.format; size = ([IO.FileInfo]::new($path)).Length; sha256 = $hash
        tool = $tool; toolVersion = $toolVersion; interfaces = @($c.interfaces); filter = $filter; excluded = $excluded
        startTime = $began; endTime = $ended; durationMs = [long]($ended - $began).TotalMilliseconds
        seconds = $seconds; maxBytes = $maxBytes; stoppedBy = $stoppedBy; complete = ($stoppedBy -ne 'error')
        packets = $packets; error = $problem
    }
}
$sha.Dispose()
if ($problem) { Write-Error "traffic-capture: $problem" }
