# traffic-capture (Windows): pktmon (recent Windows 10 and 11, Server 2022) writes an ETL that
# pktmon etl2pcap turns into pcapng here; where pktmon is missing or older than that syntax, netsh
# trace writes an ETL that is kept as it is. One capture record per capture file.
#
# Commands, as Microsoft documents them (learn.microsoft.com/windows-server/administration/windows-commands/):
#   pktmon-status, pktmon-list, pktmon-filter-list, pktmon-start, pktmon-stop, pktmon-etl2pcap
#     (also networking/technologies/pktmon/pktmon-pcapng-support and pktmon-syntax);
#   netsh-trace (start, stop, show status; capture filters: `netsh trace show CaptureFilterHelp`);
#   schtasks-create, schtasks-delete.
# A capture left running on a host is a defect: before it starts, a one-shot SYSTEM task is
# registered that stops it a little after the deadline (the session may be killed); the capture is
# stopped in `finally` whatever happened, and the task is deleted there. A capture somebody else
# started is never touched. Every command is written to stdout.log before it runs.

$MB = 1048576

# ---- parameters, before anything runs -----------------------------------------------------------
$seconds = 120
if ($null -ne $Params.Seconds) { $seconds = [int]$Params.Seconds }
if ($seconds -lt 1 -or $seconds -gt 3600) { throw "traffic-capture: Seconds must be 1 to 3600, got $seconds" }
$maxMB = 200
if ($null -ne $Params.MaxMB) { $maxMB = [int]$Params.MaxMB }
if ($maxMB -lt 1 -or $maxMB -gt 4096) { throw "traffic-capture: MaxMB must be 1 to 4096, got $maxMB" }
$maxBytes = [long]$maxMB * $MB
$interfaces = @(foreach ($i in @($Params.Interfaces)) { if ($null -ne $i -and "$i".Trim()) { "$i".Trim() } })
foreach ($i in $interfaces) {
    # Adapter names reach netsh as one argument; quotes and control characters have no place in one.
    if ($i.Length -gt 256 -or $i -match '["\x00-\x1f]') { throw "traffic-capture: Interfaces: not an adapter name: $i" }
}

# ---- the session to leave out ---------------------------------------------------------------------
# mgmt is "RESPONDER TARGET PORT" as the responder saw its socket; it comes from outside this host's
# control, so it is parsed, and only IPAddress's own text of it is used from here on.
$session = $null
if ($Params.ExcludeManagement -ne $false -and $MagpieCtx.mgmt) {
    $parts = @("$($MagpieCtx.mgmt)".Trim() -split '\s+')
    $ra = $null; $ta = $null; $port = 0
    # IPAddress.TryParse also takes "10.5" or "167772165" as IPv4: only the usual forms pass here.
    $usual = '^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%\w+)?)$'
    if ($parts.Count -eq 3 -and $parts[0] -match $usual -and $parts[1] -match $usual -and [Net.IPAddress]::TryParse($parts[0], [ref]$ra) -and [Net.IPAddress]::TryParse($parts[1], [ref]$ta) -and [int]::TryParse($parts[2], [ref]$port) -and $port -ge 1 -and $port -le 65535) {
        # A socket on a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; the packets carry IPv4.
        if ($ra.IsIPv4MappedToIPv6) { $ra = $ra.MapToIPv4() }
        if ($ta.IsIPv4MappedToIPv6) { $ta = $ta.MapToIPv4() }
        if ($ra.AddressFamily -ne $ta.AddressFamily) {
            Write-Warning "traffic-capture: the session's two ends are of different address families ($ra, $ta); nothing is left out"
        } else {
            $session = [pscustomobject]@{ R = $ra; T = $ta; Port = $port; Text = "tcp $ra <-> $ta port $port" }
        }
    } else {
        # The text may hold anything: it is shown, not used.
        $shown = "$($MagpieCtx.mgmt)" -replace '[^\x20-\x7e]', '?'
        if ($shown.Length -gt 120) { $shown = $shown.Substring(0, 120) + '...' }
        Write-Warning "traffic-capture: the session's address is not RESPONDER-ADDRESS TARGET-ADDRESS PORT ($shown); nothing is left out"
    }
}

# ---- helpers ------------------------------------------------------------------------------------------
function Get-FileLength([string]$Path) {
    if ([IO.File]::Exists($Path)) { return ([IO.FileInfo]::new($Path)).Length }
    return [long]0
}

function Get-ToolVersion([string]$Exe) {
    # pktmon and netsh print no version: the file's is the Windows build they came with.
    $windir = $env:SystemRoot
    if (-not $windir) { return $null }
    $path = [IO.Path]::Combine($windir, 'System32', $Exe)
    if (-not [IO.File]::Exists($path)) { return $null }
    try { return [string]([Diagnostics.FileVersionInfo]::GetVersionInfo($path)).FileVersion } catch { return $null }
}

function Copy-PcapngWithout {
    # Copies a pcapng block by block, each block byte for byte, and leaves out the packets of one TCP
    # connection: between R and T, T's end on Port, either direction. With -CountOnly nothing is
    # written and every packet is counted. pktmon cannot filter a connection out while capturing
    # (its filters only select), so this runs after the capture, on the host, before the file is
    # hashed and fetched. Streaming with one reused buffer: a 4 GB capture needs no 4 GB of memory.
    # Block layout: pcapng (draft-ietf-opsawg-pcapng): SHB 0x0A0D0D0A with its byte-order magic,
    # IDB 1 (link type), EPB 6, SPB 3, obsolete PB 2; every other block is copied as it is.
    param([string]$InPath, [string]$OutPath, $Session, [switch]$CountOnly)
    $in = [IO.FileStream]::new($InPath, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read, 1048576)
    $out = $null
    if (-not $CountOnly) { $out = [IO.FileStream]::new($OutPath, [IO.FileMode]::CreateNew, [IO.FileAccess]::Write, [IO.FileShare]::None, 1048576) }
    $buf = New-Object byte[] 262144
    $links = New-Object System.Collections.Generic.List[int]
    $hostLE = [BitConverter]::IsLittleEndian
    $native = $true
    $packets = [long]0; $removed = [long]0; $blocks = [long]0; $trailing = 0
    $pos = [long]0
    $rb = $null; $tb = $null; $alen = 0; $port = 0; $want = 0
    if ($Session) {
        $rb = $Session.R.GetAddressBytes(); $tb = $Session.T.GetAddressBytes(); $alen = $rb.Length; $port = [int]$Session.Port
        $want = $(if ($alen -eq 4) { 4 } else { 6 })
    }
    try {
        while ($true) {
            $got = 0
            while ($got -lt 8) { $r = $in.Read($buf, $got, 8 - $got); if ($r -le 0) { break }; $got += $r }
            if ($got -eq 0) { break }
            if ($got -lt 8) { $trailing = $got; if ($out) { $out.Write($buf, 0, $got) }; break }
            $head = 8
            if ($buf[0] -eq 0x0A -and $buf[1] -eq 0x0D -and $buf[2] -eq 0x0D -and $buf[3] -eq 0x0A) {
                # A section header: its byte-order magic (1A2B3C4D) says how to read this section.
                while ($got -lt 12) { $r = $in.Read($buf, $got, 12 - $got); if ($r -le 0) { break }; $got += $r }
                if ($got -lt 12) { $trailing = $got; if ($out) { $out.Write($buf, 0, $got) }; break }
                if ($buf[8] -eq 0x4D -and $buf[9] -eq 0x3C -and $buf[10] -eq 0x2B -and $buf[11] -eq 0x1A) { $native = $hostLE }
                elseif ($buf[8] -eq 0x1A -and $buf[9] -eq 0x2B -and $buf[10] -eq 0x3C -and $buf[11] -eq 0x4D) { $native = -not $hostLE }
                else { throw "pcapng: the section header at byte $pos has no byte-order magic" }
                $links.Clear()
                $head = 12
            } elseif ($blocks -eq 0) {
                throw 'pcapng: the file does not begin with a section header block'
            }
            if ($native) { $type = [BitConverter]::ToUInt32($buf, 0); $len = [long][BitConverter]::ToUInt32($buf, 4) }
            else {
                $type = ([long]$buf[0] -shl 24) + ([long]$buf[1] -shl 16) + ([long]$buf[2] -shl 8) + $buf[3]
                $len = ([long]$buf[4] -shl 24) + ([long]$buf[5] -shl 16) + ([long]$buf[6] -shl 8) + $buf[7]
            }
            if ($len -lt 12 -or ($len % 4) -ne 0) { throw "pcapng: the block at byte $pos has length $len" }
            if ($len -gt $buf.Length) {
                if ($len -gt 268435456) { throw "pcapng: the block at byte $pos claims $len bytes" }
                $bigger = New-Object byte[] ([int][Math]::Max($len, 2 * $buf.Length))
                [Array]::Copy($buf, $bigger, $head)
                $buf = $bigger
            }
            while ($got -lt $len) { $r = $in.Read($buf, $got, [int]($len - $got)); if ($r -le 0) { break }; $got += $r }
            if ($got -lt $len) {
                # A block cut short (the writer was stopped): kept as it is, and said.
                $trailing = $got
                if ($out) { $out.Write($buf, 0, $got) }
                break
            }
            $blocks++
            $pos += $len
            $drop = $false
            $data = -1; $cap = 0; $link = -1
            if ($type -eq 1) {
                if ($native) { $links.Add([int][BitConverter]::ToUInt16($buf, 8)) } else { $links.Add([int]$buf[8] * 256 + $buf[9]) }
            } elseif ($type -eq 6 -or $type -eq 2) {
                $packets++
                if ($native) {
                    if ($type -eq 6) { $ifid = [long][BitConverter]::ToUInt32($buf, 8) } else { $ifid = [long][BitConverter]::ToUInt16($buf, 8) }
                    $cap = [long][BitConverter]::ToUInt32($buf, 20)
                } else {
                    if ($type -eq 6) { $ifid = ([long]$buf[8] -shl 24) + ([long]$buf[9] -shl 16) + ([long]$buf[10] -shl 8) + $buf[11] } else { $ifid = [long]$buf[8] * 256 + $buf[9] }
                    $cap = ([long]$buf[20] -shl 24) + ([long]$buf[21] -shl 16) + ([long]$buf[22] -shl 8) + $buf[23]
                }
                $data = 28
                if ($cap -gt $len - 32) { $cap = $len - 32 }
                if ($ifid -lt $links.Count) { $link = $links[[int]$ifid] }
            } elseif ($type -eq 3) {
                $packets++
                if ($native) { $cap = [long][BitConverter]::ToUInt32($buf, 8) } else { $cap = ([long]$buf[8] -shl 24) + ([long]$buf[9] -shl 16) + ([long]$buf[10] -shl 8) + $buf[11] }
                $data = 12
                if ($cap -gt $len - 16) { $cap = $len - 16 }
                if ($links.Count) { $link = $links[0] }
            }
            if ($Session -and -not $CountOnly -and $data -ge 0 -and $cap -gt 0) {
                # Link layer to IP: Ethernet (1, 802.1Q/802.1ad tags skipped), raw IP (101, 228, 229),
                # BSD loopback (0, 108), Linux cooked (113, 276).
                $end = $data + $cap
                $ip = -1; $v = 0
                if ($link -eq 1) {
                    if ($cap -ge 14) {
                        $et = [int]$buf[$data + 12] * 256 + $buf[$data + 13]
                        $ip = $data + 14
                        while (($et -eq 0x8100 -or $et -eq 0x88A8 -or $et -eq 0x9100) -and $ip + 4 -le $end) { $et = [int]$buf[$ip + 2] * 256 + $buf[$ip + 3]; $ip += 4 }
                        if ($et -eq 0x0800) { $v = 4 } elseif ($et -eq 0x86DD) { $v = 6 }
                    }
                } elseif ($link -eq 101 -or $link -eq 228 -or $link -eq 229 -or $link -eq 0 -or $link -eq 108) {
                    $ip = $data
                    if ($link -eq 0 -or $link -eq 108) { $ip += 4 }
                    if ($ip -lt $end) { $v = $buf[$ip] -shr 4 }
                } elseif ($link -eq 113) {
                    if ($cap -ge 16) { $et = [int]$buf[$data + 14] * 256 + $buf[$data + 15]; $ip = $data + 16; if ($et -eq 0x0800) { $v = 4 } elseif ($et -eq 0x86DD) { $v = 6 } }
                } elseif ($link -eq 276) {
                    if ($cap -ge 20) { $et = [int]$buf[$data] * 256 + $buf[$data + 1]; $ip = $data + 20; if ($et -eq 0x0800) { $v = 4 } elseif ($et -eq 0x86DD) { $v = 6 } }
                }
                $tcp = -1; $src = -1; $dst = -1
                if ($v -eq 4 -and $want -eq 4 -and $ip + 20 -le $end -and ($buf[$ip] -shr 4) -eq 4 -and $buf[$ip + 9] -eq 6) {
                    # Only the first fragment carries the TCP header.
                    if ((([int]$buf[$ip + 6] -band 0x1F) * 256 + $buf[$ip + 7]) -eq 0) { $tcp = $ip + ($buf[$ip] -band 0x0F) * 4; $src = $ip + 12; $dst = $ip + 16 }
                } elseif ($v -eq 6 -and $want -eq 6 -and $ip + 40 -le $end -and ($buf[$ip] -shr 4) -eq 6) {
                    $nh = $buf[$ip + 6]; $o = $ip + 40
                    # Extension headers before TCP: hop-by-hop, routing, destination options, fragment, AH.
                    while ($o + 8 -le $end -and ($nh -eq 0 -or $nh -eq 43 -or $nh -eq 60 -or $nh -eq 44 -or $nh -eq 51)) {
                        if ($nh -eq 44) { if ((([int]$buf[$o + 2] * 256 + $buf[$o + 3]) -band 0xFFF8) -ne 0) { $nh = -1; break }; $next = $o + 8 }
                        elseif ($nh -eq 51) { $next = $o + ([int]$buf[$o + 1] + 2) * 4 }
                        else { $next = $o + ([int]$buf[$o + 1] + 1) * 8 }
                        $nh = $buf[$o]; $o = $next
                    }
                    if ($nh -eq 6) { $tcp = $o; $src = $ip + 8; $dst = $ip + 24 }
                }
                if ($tcp -ge 0 -and $tcp + 4 -le $end) {
                    $sp = [int]$buf[$tcp] * 256 + $buf[$tcp + 1]
                    $dp = [int]$buf[$tcp + 2] * 256 + $buf[$tcp + 3]
                    if ($dp -eq $port -or $sp -eq $port) {
                        $sR = $true; $dT = $true; $sT = $true; $dR = $true
                        for ($k = 0; $k -lt $alen; $k++) {
                            $a = $buf[$src + $k]; $b = $buf[$dst + $k]
                            if ($a -ne $rb[$k]) { $sR = $false }
                            if ($b -ne $tb[$k]) { $dT = $false }
                            if ($a -ne $tb[$k]) { $sT = $false }
                            if ($b -ne $rb[$k]) { $dR = $false }
                        }
                        $drop = ($sR -and $dT -and $dp -eq $port) -or ($sT -and $dR -and $sp -eq $port)
                    }
                }
            }
            if ($drop) { $removed++ } elseif ($out) { $out.Write($buf, 0, [int]$len) }
        }
    } finally {
        $in.Dispose()
        if ($out) { $out.Dispose() }
    }
    [pscustomobject]@{ Packets = $packets - $removed; Removed = $removed; Blocks = $blocks; Trailing = $trailing }
}

# ---- which tool ---------------------------------------------------------------------------------------
$windir = $env:SystemRoot
if (-not $windir) { $windir = 'C:\Windows' }
# Windows paths for Windows programs: joined with \ whatever PowerShell runs this.
$system32 = "$windir\System32"
$tool = $null
$why = $null
$want = 'auto'
if ($Params.Tool) { $want = "$($Params.Tool)".ToLowerInvariant() }
if (@('auto', 'pktmon', 'netsh') -notcontains $want) { throw "traffic-capture: Tool must be auto, pktmon or netsh on Windows, got $want" }
if ($want -eq 'netsh') { $why = 'Tool netsh was asked for' }
elseif (Get-Command pktmon.exe -ErrorAction SilentlyContinue) {
    # The syntax used here (start --capture, etl2pcap) is that of Microsoft's current reference;
    # a pktmon whose help lacks etl2pcap is an older build with other commands (1903's: filter,
    # comp, reset, start, stop, format, unload) and is left alone rather than guessed at. Command
    # names are not translated, so this reads on any display language.
    $help = Invoke-MagpieCommand 'pktmon.exe' @('help')
    if ($help.Text -match '\betl2pcap\b') { $tool = 'pktmon' }
    else { $why = 'this pktmon has no etl2pcap command (an older Windows build)' }
} else { $why = 'pktmon is not on this host (it comes with Windows 10 2004 and Server 2022)' }
if (-not $tool -and $want -eq 'pktmon') { throw "traffic-capture: Tool pktmon: $why; nothing was captured" }
if (-not $tool) {
    if (Get-Command netsh.exe -ErrorAction SilentlyContinue) { $tool = 'netsh'; [string]"traffic-capture: netsh trace, because $why" }
    else { throw "traffic-capture: neither pktmon nor netsh.exe is on this host ($why); nothing was captured" }
}
$toolVersion = Get-ToolVersion "$tool.exe"

# ---- somebody else's capture? --------------------------------------------------------------------------
# Only one pktmon capture and one netsh trace can run at a time; one already running belongs to
# somebody else: refused before anything is touched. The status text is English here; on another
# display language it is not recognised and the start itself fails on a running capture, which is
# refused the same way (and never stopped, as it is not ours).
$busy = "traffic-capture: a $tool capture is already running on this host; it belongs to somebody else, so Magpie neither stopped nor changed it and captured nothing. Find out whose it is ($tool"
if ($tool -eq 'pktmon') {
    $status = Invoke-MagpieCommand 'pktmon.exe' @('status')
    if ($status.Text -notmatch '(?i)\bnot running\b' -and $status.Text -match '(?i)\brunning\b|log file|logger') { throw "$busy status: $($status.Text)); when it is over, run the step again" }
} else {
    $status = Invoke-MagpieCommand 'netsh.exe' @('trace', 'show', 'status')
    if ($status.Text -notmatch '(?i)no trace session' -and $status.Text -match '(?i)status:\s*running|trace file:') { throw "$busy trace show status: $($status.Text)); when it is over, run the step again" }
}

# ---- what to capture ----------------------------------------------------------------------------------
$etl = [IO.Path]::Combine($OutDir, 'capture.etl')
$recordInterfaces = @('all')
$filter = $null
$excluded = $null
$netshFilters = @()
if ($tool -eq 'pktmon') {
    # pcapng does not say at which component a packet was seen (pktmon-pcapng-support), so capturing
    # every component writes each packet once per layer it crosses: network adapters only.
    $comp = 'nics'
    if ($interfaces.Count) {
        $list = Invoke-MagpieCommand 'pktmon.exe' @('list')
        # "  Id MAC Address       Name": rows begin with the component id; the MAC is optional.
        $adapters = @(foreach ($l in $list.Lines) { if ($l -match '^\s*(\d+)\s+(?:[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\s+)?(\S.*?)\s*$') { [pscustomobject]@{ Id = $Matches[1]; Name = $Matches[2] } } })
        $ids = New-Object System.Collections.Generic.List[string]
        foreach ($i in $interfaces) {
            $hit = @($adapters | Where-Object { $_.Name -eq $i })
            if (-not $hit.Count) {
                $known = ($adapters | ForEach-Object { $_.Name }) -join '; '
                if (-not $known) { $known = 'no adapter at all' }
                throw "traffic-capture: Interfaces: pktmon list shows no adapter named '$i' (it shows: $known); name the adapter as pktmon list shows it, or leave Interfaces empty for all adapters. Nothing was captured"
            }
            foreach ($h in $hit) { if (-not $ids.Contains($h.Id)) { $ids.Add($h.Id) } }
        }
        $comp = $ids -join ','
        $recordInterfaces = $interfaces
    }
    # pktmon's packet filters select; ones left set by somebody else would silently narrow this
    # capture. They are not ours to remove: the record names them.
    $filters = Invoke-MagpieCommand 'pktmon.exe' @('filter', 'list')
    $rows = @($filters.Lines | Where-Object { $_ -match '^\s*\d+\s+\S' } | ForEach-Object { ($_.Trim() -replace '\s+', ' ') })
    if ($rows.Count) {
        $filter = 'pktmon filters set before this step: ' + ($rows -join '; ')
        Write-Warning "traffic-capture: pktmon has packet filters that somebody else set; only packets they match are captured, and Magpie left them as they are: $($rows -join '; ')"
    }
    # Circular is pktmon's default and overwrites the earliest packets once the file is full: the
    # file is given twice MaxMB, so it never fills before this step stops it at MaxMB. If the
    # session is lost the task stops it at the deadline, and the disk use stays bounded (multi-file
    # would keep everything, with no bound at all).
    $startArgs = @('start', '--capture', '--comp', $comp, '--pkt-size', '0', '--file-name', $etl, '--file-size', [string](2 * $maxMB), '--log-mode', 'circular')
    $stopArgs = @('stop')
} else {
    if ($interfaces.Count -gt 1) { throw "traffic-capture: netsh trace captures one adapter or all of them (CaptureInterface= takes one name); name one in Interfaces or none. Nothing was captured" }
    if ($interfaces.Count) { $netshFilters += "CaptureInterface=$($interfaces[0])"; $recordInterfaces = $interfaces }
    if ($session) {
        # netsh's capture filters match addresses, not connections (CaptureFilterHelp: negation
        # with !(…)): the responder's address is left out altogether.
        $family = $(if ($session.R.AddressFamily -eq [Net.Sockets.AddressFamily]::InterNetwork) { 'IPv4' } else { 'IPv6' })
        $netshFilters += "$family.Address=!($($session.R))"
        $excluded = "every $family packet to or from $($session.R), the responder (netsh trace filters addresses, not connections), the session $($session.Text) with it"
    }
    if ($netshFilters.Count) { $filter = $netshFilters -join ' ' }
    # fileMode=single: the trace stops writing at maxSize instead of overwriting its beginning
    # (netsh's default is circular). report=disabled and persistent=no: no report, nothing that
    # survives a reboot. perfMerge=no: the ETL stays as the packet logger wrote it.
    $startArgs = @('trace', 'start', 'capture=yes', 'report=disabled', 'persistent=no', 'correlation=disabled', 'perfMerge=no', 'fileMode=single', 'overwrite=yes', "maxSize=$maxMB", "traceFile=$etl") + $netshFilters
    $stopArgs = @('trace', 'stop')
}

# ---- the safety net: a task that stops the capture if this session dies ------------------------------
# pktmon and netsh trace capture in the kernel: killing this PowerShell (a step timeout, Ctrl-C on the
# responder, a lost WinRM shell, which Magpie ends by terminating it) does not stop them, and no
# finally block runs. So a SYSTEM task checks every minute (schtasks /SC MINUTE) whether this
# PowerShell ($PID) still runs and whether the deadline (two minutes past Seconds) has passed; when
# either says so, it stops the capture and deletes itself. Its command holds only numbers and the
# generated task name, and stays under schtasks' 261-character /TR limit.
$taskName = 'Magpie-capture-stop-' + [guid]::NewGuid().ToString('N').Substring(0, 12)
$deadlineTicks = [datetime]::UtcNow.AddSeconds($seconds + 120).Ticks
$stopLine = "$tool " + ($stopArgs -join ' ')
$taskRun = "$system32\WindowsPowerShell\v1.0\powershell.exe -NoP -NonI -C ""if(!(Get-Process -Id $PID -EA 0) -or [datetime]::UtcNow.Ticks -gt $deadlineTicks){$stopLine;schtasks /Delete /TN $taskName /F}"""
$taskArgs = @('/Create', '/TN', $taskName, '/SC', 'MINUTE', '/MO', '1', '/RU', 'SYSTEM', '/TR', $taskRun, '/F')
$task = Invoke-MagpieCommand 'schtasks.exe' $taskArgs
if ($task.Code -ne 0) {
    throw "traffic-capture: the scheduled task that would stop the capture if this session were lost could not be created (schtasks exit code $($task.Code): $($task.Text)); nothing was captured. Check that the Task Scheduler service runs and that this account may create tasks as SYSTEM"
}

# ---- capture ------------------------------------------------------------------------------------------
$started = $false
$stoppedBy = 'time'
$problem = $null
$failure = $null
$stopResult = $null
$began = [datetime]::UtcNow
try {
    $start = Invoke-MagpieCommand "$tool.exe" $startArgs
    if ($start.Code -ne 0) {
        throw "traffic-capture: $tool did not start the capture (exit code $($start.Code): $($start.Text)). If a capture was already running it belongs to somebody else and was left as it is; nothing was captured"
    }
    $started = $true
    $began = [datetime]::UtcNow
    [string]"traffic-capture: capturing for up to $seconds s or $maxMB MB"
    # netsh's single-file trace stops writing at maxSize, on a buffer boundary just short of it.
    $limit = $maxBytes
    if ($tool -eq 'netsh') { $limit = [Math]::Max($maxBytes - $MB, [long]($maxBytes * 0.9)) }
    $clock = [Diagnostics.Stopwatch]::StartNew()
    while ($true) {
        if ((Get-FileLength $etl) -ge $limit) { $stoppedBy = 'size'; break }
        if ($clock.Elapsed.TotalSeconds -ge $seconds) { $stoppedBy = 'time'; break }
        Start-Sleep -Milliseconds 250
    }
} catch {
    $failure = $_
    if ($started) {
        $stoppedBy = 'error'
        if ($_.Exception -is [Management.Automation.PipelineStoppedException]) { $stoppedBy = 'interrupted' }
        $problem = "the capture failed while running: $($_.Exception.Message)"
    }
} finally {
    # A stopped pipeline (Ctrl-C, the step's timeout) refuses all output, the log line of the usual
    # call with it: then the program is started directly, unlogged, rather than not at all.
    if ($started) {
        try { $stopResult = Invoke-MagpieCommand "$tool.exe" $stopArgs }
        catch {
            $stopResult = [pscustomobject]@{ Code = -1; Lines = @(); Text = "$_" }
            try { $p = [Diagnostics.Process]::Start("$system32\$tool.exe", ($stopArgs -join ' ')); if ($p.WaitForExit(120000)) { $stopResult.Code = $p.ExitCode } } catch { $null = $_ }
        }
        if ($stopResult.Code -ne 0) {
            Write-Error "traffic-capture: $tool did not confirm that it stopped (exit code $($stopResult.Code): $($stopResult.Text)); the scheduled task $taskName is kept to stop it within a minute of the deadline. Check with: $($tool) $(if ($tool -eq 'pktmon') { 'status' } else { 'trace show status' })"
        }
    }
    if (-not $stopResult -or $stopResult.Code -eq 0) {
        try { $null = Invoke-MagpieCommand 'schtasks.exe' @('/Delete', '/TN', $taskName, '/F') }
        catch { try { $null = [Diagnostics.Process]::Start("$system32\schtasks.exe", "/Delete /TN $taskName /F").WaitForExit(60000) } catch { $null = $_ } }
    }
}
$ended = [datetime]::UtcNow
if ($failure -and -not $started) { throw $failure }

# ---- the file -------------------------------------------------------------------------------------------
$complete = ($stoppedBy -eq 'time' -or $stoppedBy -eq 'size')
$file = $null; $format = $null; $packets = $null
if (-not [IO.File]::Exists($etl) -or (Get-FileLength $etl) -eq 0) {
    $complete = $false
    if (-not $problem) { $problem = "$tool wrote no capture file ($etl)" }
} elseif ($tool -eq 'netsh') {
    $file = 'capture.etl'; $format = 'etl'
    # netsh trace stop packs its own diagnostics into a .cab beside the trace: not part of the capture.
    $cab = [IO.Path]::Combine($OutDir, 'capture.cab')
    if ([IO.File]::Exists($cab)) { [IO.File]::Delete($cab); [string]'traffic-capture: removed capture.cab (netsh trace diagnostics, not packets)' }
    Write-Warning 'traffic-capture: netsh trace writes ETL, which Wireshark does not read: convert capture.etl on Windows with Microsoft etl2pcapng (https://github.com/microsoft/etl2pcapng): etl2pcapng.exe capture.etl capture.pcapng, then import the pcapng'
} else {
    if ($stopResult -and $stopResult.Text -match '\((\d+) events? lost\)' -and [long]$Matches[1] -gt 0) {
        $complete = $false
        $problem = "pktmon lost $($Matches[1]) events while capturing (packets it could not log)"
    }
    if ((Get-FileLength $etl) -ge 2 * $maxBytes) {
        $complete = $false
        $problem = "the ETL reached pktmon's file size ($(2 * $maxMB) MB) before it was stopped: its earliest packets may have been overwritten"
    }
    $pcapng = [IO.Path]::Combine($OutDir, 'capture.pcapng')
    $converted = $pcapng
    if ($session) { $converted = [IO.Path]::Combine($OutDir, 'capture-with-session.pcapng') }
    $conv = Invoke-MagpieCommand 'pktmon.exe' @('etl2pcap', $etl, '--out', $converted)
    $head = New-Object byte[] 4
    $ok = $false
    if ($conv.Code -eq 0 -and (Get-FileLength $converted) -ge 28) {
        $fs = [IO.File]::OpenRead($converted)
        try { $null = $fs.Read($head, 0, 4) } finally { $fs.Dispose() }
        $ok = ($head[0] -eq 0x0A -and $head[1] -eq 0x0D -and $head[2] -eq 0x0D -and $head[3] -eq 0x0A)
    }
    if (-not $ok) {
        if ([IO.File]::Exists($converted)) { [IO.File]::Delete($converted) }
        $file = 'capture.etl'; $format = 'etl'
        if ($session) { $excluded = "nothing: $($session.Text) is in the ETL, which could not be converted to be filtered" }
        $problem = "pktmon etl2pcap did not make a pcapng of the capture (exit code $($conv.Code): $($conv.Text)); the ETL is kept as capture.etl: convert it on Windows with pktmon etl2pcap capture.etl --out capture.pcapng, or Microsoft etl2pcapng (https://github.com/microsoft/etl2pcapng)"
        Write-Error "traffic-capture: $problem"
    } else {
        [IO.File]::Delete($etl)
        [string]'traffic-capture: converted the ETL to pcapng and removed capture.etl'
        $file = 'capture.pcapng'; $format = 'pcapng'
        if ($session) {
            try {
                $copy = Copy-PcapngWithout -InPath $converted -OutPath $pcapng -Session $session
                [IO.File]::Delete($converted)
                $packets = $copy.Packets
                $excluded = "$($session.Text) ($($copy.Removed) packets removed after capture)"
                [string]"traffic-capture: left out $($copy.Removed) packets of $($session.Text) (Magpie's session); $($copy.Packets) packets kept"
                if ($copy.Trailing) { Write-Warning "traffic-capture: the pcapng ends in $($copy.Trailing) bytes that are not a whole block; they are kept as they are" }
            } catch {
                # The capture matters more than leaving the session out of it: kept whole, and said.
                if ([IO.File]::Exists($pcapng)) { [IO.File]::Delete($pcapng) }
                [IO.File]::Move($converted, $pcapng)
                $excluded = "nothing: $($session.Text) could not be removed"
                Write-Error "traffic-capture: the session's packets could not be removed ($($_.Exception.Message)); capture.pcapng is kept whole, $($session.Text) included"
            }
        }
        if ($null -eq $packets) {
            try { $packets = (Copy-PcapngWithout -InPath $pcapng -OutPath $null -Session $null -CountOnly).Packets } catch { Write-Warning "traffic-capture: capture.pcapng could not be read back: $($_.Exception.Message)" }
        }
    }
}

if ($file) {
    $path = [IO.Path]::Combine($OutDir, $file)
    [pscustomobject]@{
        file = $file; format = $format; size = (Get-FileLength $path); sha256 = (Get-MagpieFileSha256 $path)
        tool = $tool; toolVersion = $toolVersion; interfaces = @($recordInterfaces); filter = $filter; excluded = $excluded
        startTime = $began; endTime = $ended; durationMs = [long]($ended - $began).TotalMilliseconds
        seconds = $seconds; maxBytes = $maxBytes; stoppedBy = $stoppedBy; complete = $complete
        packets = $packets; error = $problem
    }
}
if ($failure) { throw "traffic-capture: $problem; the capture was stopped$(if ($file) { " and what it holds is kept as $file" })" }
if (-not $file) { throw "traffic-capture: $problem" }
