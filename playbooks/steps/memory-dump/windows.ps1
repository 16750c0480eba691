# memory-dump (Windows): Sysinternals procdump64.exe, pushed by Magpie after its pin was checked,
# writes one dump per chosen process into $OutDir; one dump record each, shaped as linux.ps1's.
# ProcDump's exit code says nothing about success (it returns -2 after a good dump): the dump is
# the file ProcDump names on its "Dump N initiated: PATH" line, after a "Dump N complete" line,
# and it must be there. The pushed tool is deleted when the step ends, whatever happened.
$MB = 1048576

function Get-FileSha256 {
    param([string]$Path)
    $stream = [IO.File]::OpenRead($Path)
    try { ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose() }
}

$tool = $null
if ($Tools) { $tool = $Tools['procdump64.exe'] }
if (-not $tool -or -not [IO.File]::Exists($tool)) {
    throw 'memory-dump: procdump64.exe was not pushed with this step; put it in the tools folder on the collecting machine (tools/ or --tools DIR), pinned under tools: in steps/memory-dump/step.yaml'
}
$sha = [Security.Cryptography.SHA256]::Create()
try {
    # ---- parameters, before anything runs ---------------------------------------------------------
    $pids = New-Object System.Collections.Generic.List[int]
    foreach ($p in @($Params.Pids)) {
        if ($null -eq $p -or "$p".Trim() -eq '') { continue }
        if ("$p".Trim() -notmatch '^\d{1,9}$') { throw "memory-dump: Pids: not a process id: $p" }
        $pids.Add([int]"$p".Trim())
    }
    # Image names compare without .exe and in any case, as Windows compares them.
    $names = @(foreach ($n in @($Params.Names)) { if ("$n".Trim()) { ("$n".Trim() -replace '\.exe$', '').ToLowerInvariant() } })
    if (-not $pids.Count -and -not $names.Count) {
        [string]'memory-dump: nothing selected, nothing dumped'
        Write-Warning 'memory-dump: nothing selected, nothing dumped: name the processes with --param memory-dump.Pids=1234,5678 (or flagged:high) and/or --param memory-dump.Names=w3wp'
        return
    }
    $dumpType = 'full'
    if ($Params.DumpType) { $dumpType = "$($Params.DumpType)".Trim().ToLowerInvariant() }
    $typeSwitch = @{ full = '-ma'; miniplus = '-mp' }[$dumpType]
    if (-not $typeSwitch) { throw "memory-dump: DumpType must be full (procdump -ma) or miniplus (procdump -mp), got: $dumpType" }
    $timeoutSec = 600
    if ($null -ne $Params.DumpTimeout) { $timeoutSec = [int]$Params.DumpTimeout }
    if ($timeoutSec -lt 1) { throw "memory-dump: DumpTimeout must be at least 1 second, got $timeoutSec" }

    # ---- the targets --------------------------------------------------------------------------
    $procs = @{}
    foreach ($w in @(Get-CimInstance -ClassName Win32_Process -ErrorAction Stop)) { $procs[[int]$w.ProcessId] = $w }
    $users = @{}
    try {
        foreach ($g in @(Get-Process -IncludeUserName -ErrorAction SilentlyContinue)) { if ($g.UserName) { $users[[int]$g.Id] = [string]$g.UserName } }
    } catch { Write-Warning "process owners unknown: $($_.Exception.Message)" }
    # This PowerShell and the processes it runs under (WinRM's host, sshd, the shell): ProcDump
    # suspends a process while it writes the dump, and suspending one of these stalls the collection.
    $ancestors = @{}
    $walk = [int]$PID
    while ($walk -gt 4 -and -not $ancestors.ContainsKey($walk) -and $procs.ContainsKey($walk)) {
        $ancestors[$walk] = $true
        $walk = [int]$procs[$walk].ParentProcessId
    }
    $targets = New-Object System.Collections.Generic.List[object]
    $seen = @{}
    foreach ($id in $pids) {
        if ($seen.ContainsKey($id)) { continue }
        $seen[$id] = $true
        if ($id -eq 0 -or $id -eq 4) { Write-Warning "pid $id is the System Idle Process or System: not a process ProcDump can dump"; continue }
        if ($ancestors.ContainsKey($id)) { Write-Warning "pid $id ($($procs[$id].Name)) is not dumped: Magpie's PowerShell runs under it (suspending it would stall this collection); dump it from another session"; continue }
        if (-not $procs.ContainsKey($id)) { Write-Warning "pid $id is not running"; continue }
        $targets.Add($procs[$id])
    }
    if ($names.Count) {
        $found = @{}
        foreach ($id in @($procs.Keys | Sort-Object)) {
            $w = $procs[$id]
            $short = ([string]$w.Name -replace '\.exe$', '').ToLowerInvariant()
            if ($names -notcontains $short) { continue }
            if ($seen.ContainsKey($id) -or $ancestors.ContainsKey($id) -or $id -eq 0 -or $id -eq 4) { continue }
            $seen[$id] = $true
            $found[$short] = $true
            $targets.Add($w)
        }
        foreach ($n in $names) { if (-not $found.ContainsKey($n)) { Write-Warning "no process named $n (besides Magpie's own PowerShell and what it runs under)" } }
    }
    if (-not $targets.Count) { Write-Warning 'memory-dump: none of the processes asked for is running: nothing dumped'; return }

    # ---- room for the dumps -------------------------------------------------------------------
    $root = [IO.Path]::GetPathRoot([IO.Path]::GetFullPath($OutDir))
    $device = $root.TrimEnd('\', '/')
    function Get-FreeBytes {
        # The volume's free space as Windows reports it (Win32_LogicalDisk), else .NET's view.
        try {
            $disk = @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DeviceID='$device'" -ErrorAction Stop) | Select-Object -First 1
            if ($disk -and $null -ne $disk.FreeSpace) { return [long]$disk.FreeSpace }
        } catch { $null = $_ }
        [long]([IO.DriveInfo]::new($root)).AvailableFreeSpace
    }
    $wsSum = [long]0
    foreach ($t in $targets) { $wsSum += [long]$t.WorkingSetSize }
    $needAll = [long]($wsSum * 1.2) + 256 * $MB
    $free = Get-FreeBytes
    if ($free -lt $needAll) {
        Write-Warning ('not enough free space on {0} for every dump: they need {1:N0} MB (working sets {2:N0} MB x 1.2 + 256 MB), {3:N0} MB are free; dumping those that fit, in the order asked' -f $root, ($needAll / $MB), ($wsSum / $MB), ($free / $MB))
    }

    # ---- dump ---------------------------------------------------------------------------------
    $toolVersion = $null
    $imageHashes = @{}
    foreach ($t in $targets) {
        $id = [int]$t.ProcessId
        $name = [string]$t.Name
        $ws = [long]$t.WorkingSetSize
        $need = [long]($ws * 1.2) + 256 * $MB
        $free = Get-FreeBytes
        if ($free -lt $need) {
            Write-Warning ('pid {0} ({1}) not dumped: it needs {2:N0} MB (working set {3:N0} MB x 1.2 + 256 MB), {4:N0} MB are free on {5}' -f $id, $name, ($need / $MB), ($ws / $MB), ($free / $MB), $root)
            continue
        }
        $safe = ($name -replace '[^A-Za-z0-9._-]', '_')
        if ($safe.Length -gt 40) { $safe = $safe.Substring(0, 40) }
        if (-not $safe) { $safe = 'process' }
        $asked = [IO.Path]::Combine($OutDir, "$safe-$id.dmp")
        $began = [datetime]::UtcNow
        $run = Invoke-MagpieTool $tool @('-accepteula', $typeSwitch, [string]$id, $asked) $timeoutSec
        $ended = [datetime]::UtcNow
        $lines = @($run.Output -split "`r?`n" | Where-Object { $_.Trim() })
        foreach ($l in $lines) { [string]"procdump $($id): $($l.TrimEnd())" }
        [string]"procdump $($id): exit code $($run.ExitCode) (not a success signal: the dump file is)"
        if (-not $toolVersion) { foreach ($l in $lines) { if ($l -match '^\s*(ProcDump v\S+)') { $toolVersion = $Matches[1]; break } } }
        # "[hh:mm:ss] Dump 1 initiated: C:\...\x.dmp" and "[hh:mm:ss] Dump 1 complete: 5 MB written in 0.1 seconds".
        $written = $null
        $complete = $false
        foreach ($l in $lines) {
            if ($l -match 'Dump \d+ initiated:\s*(.+?)\s*$') { $written = $Matches[1] }
            elseif ($l -match 'Dump \d+ complete:') { $complete = $true }
        }
        $problem = $null
        if ($run.TimedOut) { $complete = $false; $problem = "procdump stopped after $timeoutSec s" }
        $there = $false
        if (-not $written) {
            if (-not $problem) { $problem = 'procdump named no dump file' }
        } else {
            $full = [IO.Path]::GetFullPath($written)
            $inside = $full.StartsWith([IO.Path]::GetFullPath($OutDir) + [IO.Path]::DirectorySeparatorChar, [StringComparison]::OrdinalIgnoreCase)
            if (-not $inside) { $problem = "procdump wrote the dump outside the step's folder: $written" }
            elseif (-not [IO.File]::Exists($full) -or ([IO.FileInfo]::new($full)).Length -eq 0) {
                $problem = "procdump said it wrote $written$(if ($complete) { ' and that the dump completed' }), but there is no such file (or it is empty)"
            } else { $there = $true; $written = $full }
        }
        if (-not $there) {
            $tail = ($lines | Select-Object -Last 15) -join ' | '
            Write-Error "pid $id ($name) was not dumped: $($problem): $tail"
            continue
        }
        if (-not $complete) {
            if (-not $problem) { $problem = 'procdump did not say the dump completed' }
            [IO.File]::Move($written, "$written.partial")
            $written = "$written.partial"
        }
        # Relative to the step's files/, as the record names every file.
        $file = $written.Substring([IO.Path]::GetFullPath($OutDir).Length + 1)
        if (-not $complete) {
            Write-Error "pid $id ($name): the dump is incomplete ($problem); kept as $file"
        }
        $path = $written
        $image = [string]$t.ExecutablePath
        $imageHash = $null
        if ($image) {
            if (-not $imageHashes.ContainsKey($image)) {
                $imageHashes[$image] = $null
                try { $imageHashes[$image] = Get-FileSha256 $image } catch { Write-Warning "pid $id ($name): the image $image could not be hashed: $($_.Exception.Message)" }
            }
            $imageHash = $imageHashes[$image]
        }
        $user = $null
        if ($users.ContainsKey($id)) { $user = $users[$id] }
        [pscustomobject]@{
            pid = $id; name = $name; file = $file; size = ([IO.FileInfo]::new($path)).Length; sha256 = (Get-FileSha256 $path)
            path = $(if ($image) { $image } else { $null }); imageSha256 = $imageHash; cmdline = $(if ($t.CommandLine) { [string]$t.CommandLine } else { $null })
            user = $user; ppid = [int]$t.ParentProcessId; rss = $ws; deleted = $false
            complete = $complete; error = $problem; dumpType = $dumpType
            time = $began; durationMs = [long]($ended - $began).TotalMilliseconds; tool = 'procdump'; toolVersion = $toolVersion; exitCode = $run.ExitCode
        }
    }
} finally {
    $sha.Dispose()
    # The pushed tool leaves with the step (a step killed at its timeout leaves it in the staging
    # folder, which Magpie removes).
    try {
        if ([IO.File]::Exists($tool)) { [IO.File]::Delete($tool) }
        [string]"memory-dump: removed the pushed $tool"
    } catch {
        Write-Warning "the pushed tool $tool could not be removed: $($_.Exception.Message)"
    }
}
