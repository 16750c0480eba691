# memory-dump (Linux): gcore dumps of the chosen processes into $OutDir, one dump record each.
# Programs get an argument array, never a shell string; the core's name is made from the process
# name reduced to [A-Za-z0-9._-] (a name on the host is untrusted).
$MB = 1048576

function Get-Target {
    # What /proc says about one process, or $null when it is gone.
    param([int]$ProcessId)
    $dir = "/proc/$ProcessId"
    if (-not [IO.Directory]::Exists($dir)) { return $null }
    $t = [ordered]@{ pid = $ProcessId; name = $null; ppid = $null; user = $null; rss = $null; path = $null; cmdline = $null; state = $null; kernelThread = $false }
    try {
        $t.name = [IO.File]::ReadAllText("$dir/comm").TrimEnd("`n")
        foreach ($l in [IO.File]::ReadAllLines("$dir/status")) {
            if ($l -match '^VmRSS:\s+(\d+) kB') { $t.rss = [long]$Matches[1] * 1024 }
            elseif ($l -match '^PPid:\s+(\d+)') { $t.ppid = [int]$Matches[1] }
            elseif ($l -match '^State:\s+(\S)') { $t.state = $Matches[1] }
            elseif ($l -match '^Uid:\s+(\d+)') { $t.user = $Matches[1] }
        }
    } catch { return $null }
    # Kernel threads have no memory map of their own: no VmRSS line.
    if ($null -eq $t.rss) { $t.kernelThread = $true }
    try { $link = [IO.File]::ResolveLinkTarget("$dir/exe", $false); if ($link) { $t.path = $link.FullName } } catch { $t.path = $null }
    try {
        $bytes = [IO.File]::ReadAllBytes("$dir/cmdline")
        if ($bytes.Length) { $t.cmdline = ([Text.Encoding]::UTF8.GetString($bytes).TrimEnd([char]0)).Replace([char]0, ' ') }
    } catch { $t.cmdline = $null }
    if ($null -ne $t.user -and $users.ContainsKey($t.user)) { $t.user = $users[$t.user] }
    $t
}

# ---- parameters, before anything runs ---------------------------------------------------------
$pids = New-Object System.Collections.Generic.List[int]
foreach ($p in @($Params.Pids)) {
    if ($null -eq $p -or "$p".Trim() -eq '') { continue }
    if ("$p".Trim() -notmatch '^\d{1,9}$') { throw "memory-dump: Pids: not a process id: $p" }
    $pids.Add([int]"$p".Trim())
}
$names = @(foreach ($n in @($Params.Names)) { if ($n) { [string]$n } })
if (-not $pids.Count -and -not $names.Count) { throw 'memory-dump: name the processes to dump: --param memory-dump.Pids=1234,5678 and/or --param memory-dump.Names=nginx' }
$timeoutSec = 600
if ($null -ne $Params.DumpTimeout) { $timeoutSec = [int]$Params.DumpTimeout }
if ($timeoutSec -lt 1) { throw "memory-dump: DumpTimeout must be at least 1 second, got $timeoutSec" }
if ($Params.DumpType -and "$($Params.DumpType)" -ne 'full') { Write-Warning "memory-dump: DumpType $($Params.DumpType) is for Windows (procdump); gcore writes full cores" }

$gcore = Get-Command gcore -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
if (-not $gcore) {
    Write-Warning 'memory-dump skipped: gcore is not installed (it comes with gdb); install it with: apt-get install gdb (Debian/Ubuntu) or dnf install gdb (RHEL/Fedora)'
    return
}
$scope = $null
try { $scope = [IO.File]::ReadAllText('/proc/sys/kernel/yama/ptrace_scope').Trim() } catch { $scope = $null }
if ($scope -eq '3') {
    Write-Warning 'memory-dump skipped: kernel.yama.ptrace_scope is 3, which forbids attaching to any process (root included) until the next reboot'
    return
}

$users = @{}
foreach ($line in Get-Content -LiteralPath '/etc/passwd' -ErrorAction SilentlyContinue) {
    $f = $line.Split(':')
    if ($f.Count -ge 3) { $users[$f[2]] = $f[0] }
}

# ---- the targets ------------------------------------------------------------------------------
# The processes this PowerShell runs under (its sshd session, shell, terminal, the responder's
# runner): gdb stops a process while it reads it, and stopping one of these stalls the collection
# itself. They are left out with a warning, whoever chose them; dump them from another session.
$ancestors = @{}
$walk = [int]$PID
while ($walk -gt 1 -and -not $ancestors.ContainsKey($walk)) {
    $ancestors[$walk] = $true
    try {
        $st = [IO.File]::ReadAllText("/proc/$walk/stat")
        $walk = [int]($st.Substring($st.LastIndexOf(')') + 2).Split(' ')[1])
    } catch { break }
}
$targets = New-Object System.Collections.Generic.List[object]
$seen = @{}
foreach ($id in $pids) {
    if ($seen.ContainsKey($id)) { continue }
    $seen[$id] = $true
    if ($id -ne $PID -and $ancestors.ContainsKey($id)) { Write-Warning "pid $id is not dumped: Magpie's PowerShell runs under it (stopping it would stall this collection); dump it from another session"; continue }
    $t = Get-Target $id
    if (-not $t) { Write-Warning "pid $id is not running"; continue }
    if ($t.kernelThread) { Write-Warning "pid $id ($($t.name)) is a kernel thread: nothing to dump"; continue }
    $targets.Add($t)
}
if ($names.Count) {
    $found = @{}
    foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
        $leaf = [IO.Path]::GetFileName($dir)
        if ($leaf -notmatch '^\d+$') { continue }
        $id = [int]$leaf
        # Magpie's own PowerShell and init only when asked for by PID.
        if ($id -eq $PID -or $id -eq 1 -or $ancestors.ContainsKey($id) -or $seen.ContainsKey($id)) { continue }
        try { $comm = [IO.File]::ReadAllText("$dir/comm").TrimEnd("`n") } catch { continue }
        if ($names -cnotcontains $comm) { continue }
        $t = Get-Target $id
        if (-not $t -or $t.kernelThread) { continue }
        $seen[$id] = $true
        $found[$comm] = $true
        $targets.Add($t)
    }
    foreach ($n in $names) { if (-not $found.ContainsKey($n)) { Write-Warning "no process named $n (as in /proc/PID/comm) besides Magpie's own and PID 1" } }
}
if (-not $targets.Count) { Write-Warning 'memory-dump: none of the processes asked for is running'; return }

# ---- room for the dumps -----------------------------------------------------------------------
$drive = [IO.DriveInfo]::new($OutDir)
$rssSum = [long]0
foreach ($t in $targets) { $rssSum += $t.rss }
$needAll = [long]($rssSum * 1.2) + 256 * $MB
$free = $drive.AvailableFreeSpace
if ($free -lt $needAll) {
    Write-Warning ('not enough free space in the file system of {0} for every dump: they need {1:N0} MB (resident memory {2:N0} MB x 1.2 + 256 MB), {3:N0} MB are free; dumping those that fit, in the order asked' -f $OutDir, ($needAll / $MB), ($rssSum / $MB), ($free / $MB))
}
$gdbVersion = $null
try { $gdbVersion = @(& gdb --version 2>$null)[0] } catch { $gdbVersion = $null }

# ---- dump -------------------------------------------------------------------------------------
$sha = [Security.Cryptography.SHA256]::Create()
foreach ($t in $targets) {
    $id = $t.pid
    $need = [long]($t.rss * 1.2) + 256 * $MB
    $free = $drive.AvailableFreeSpace
    if ($free -lt $need) {
        Write-Warning ('pid {0} ({1}) not dumped: it needs {2:N0} MB (resident {3:N0} MB x 1.2 + 256 MB), {4:N0} MB are free in the file system of {5}' -f $id, $t.name, ($need / $MB), ($t.rss / $MB), ($free / $MB), $OutDir)
        continue
    }
    $safe = ($t.name -replace '[^A-Za-z0-9._-]', '_')
    if ($safe.Length -gt 40) { $safe = $safe.Substring(0, 40) }
    if (-not $safe) { $safe = 'process' }
    $base = "core-$safe-$id"
    $prefix = [IO.Path]::Combine($OutDir, $base)
    # gcore writes PREFIX.PID; the core is then renamed to PREFIX.
    $written = "$prefix.$id"
    $began = [datetime]::UtcNow
    $proc = Start-MagpieProcess $gcore.Source @('-o', $prefix, [string]$id)
    $outTask = $proc.StandardOutput.ReadToEndAsync()
    $errTask = $proc.StandardError.ReadToEndAsync()
    $complete = $true
    $problem = $null
    if (-not $proc.WaitForExit($timeoutSec * 1000)) {
        try { $proc.Kill($true) } catch { $null = $_ }
        $proc.WaitForExit()
        $complete = $false
        $problem = "gcore stopped after $timeoutSec s"
        # A debugger killed mid-dump can leave the process stopped: let it run again.
        $after = Get-Target $id
        if ($after -and $after.state -eq 'T') {
            $kill = Get-Command kill -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
            if ($kill) { & $kill.Source -CONT ([string]$id) 2>$null; Write-Warning "pid $id was left stopped by the interrupted dump and was sent SIGCONT" }
        }
    }
    $proc.WaitForExit()
    $ended = [datetime]::UtcNow
    $output = ($outTask.Result + $errTask.Result).Trim()
    foreach ($l in $output.Split("`n")) { if ($l.Trim()) { [string]"gcore $($id): $($l.TrimEnd())" } }
    if ($complete -and $proc.ExitCode -ne 0) { $complete = $false; $problem = "gcore exit code $($proc.ExitCode)" }
    if (-not [IO.File]::Exists($written)) {
        $tail = $output; if ($tail.Length -gt 1500) { $tail = $tail.Substring($tail.Length - 1500) }
        Write-Error "pid $id ($($t.name)) was not dumped: $(if ($problem) { $problem } else { 'gcore wrote no core' }): $tail"
        continue
    }
    $file = $(if ($complete) { $base } else { "$base.partial" })
    [IO.File]::Move($written, [IO.Path]::Combine($OutDir, $file))
    $full = [IO.Path]::Combine($OutDir, $file)
    $hash = $null
    $stream = [IO.File]::OpenRead($full)
    try { $hash = ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose() }
    if (-not $complete) { Write-Error "pid $id ($($t.name)): the dump is incomplete ($problem); kept as $file" }
    [pscustomobject]@{
        pid = $id; name = $t.name; file = $file; size = ([IO.FileInfo]::new($full)).Length; sha256 = $hash
        path = $t.path; cmdline = $t.cmdline; user = $t.user; ppid = $t.ppid; rss = $t.rss
        deleted = $(if ($t.path) { $t.path.EndsWith(' (deleted)') } else { $false })
        complete = $complete; error = $problem
        time = $began; durationMs = [long]($ended - $began).TotalMilliseconds; tool = 'gcore'; toolVersion = $gdbVersion
    }
}
$sha.Dispose()
