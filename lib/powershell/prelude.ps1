# ---- Magpie prelude v1 ------------------------------------------------------------------
# Fixed wrapper around every step. It never contains a parameter value: the runner passes
# one argument ($MagpieContext: names and base64 values) that this code decodes into $Params, so no
# value from a user, a playbook or a host can become PowerShell code.
# The step's objects become JSON lines in records.jsonl; its other streams go to
# stdout.log / stderr.log; large data goes to files in $OutDir. Only a one-line summary
# comes back on the host's stdout. Runs on Windows PowerShell 5.1 and PowerShell 7.
param([Parameter(Mandatory = $true)][string]$MagpieContext)

$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'

function ConvertFrom-MagpieContext {
    # `name=type:base64;…` (see lib/script.ts encodeContext). Not JSON: ConvertFrom-Json's first
    # use costs ~150 ms on a cold host, and parameters are flat typed values anyway.
    param([string]$Text)
    $utf8 = [Text.Encoding]::UTF8
    $ctx = [ordered]@{}
    $prm = [ordered]@{}
    $tools = @{}
    foreach ($pair in $Text.Split(';')) {
        if (-not $pair) { continue }
        $eq = $pair.IndexOf('=')
        $name = $pair.Substring(0, $eq)
        $type = $pair.Substring($eq + 1, 1)
        $data = $pair.Substring($eq + 3)
        $value = $null
        switch ($type) {
            's' { $value = $utf8.GetString([Convert]::FromBase64String($data)) }
            'i' { $value = [long]$utf8.GetString([Convert]::FromBase64String($data)) }
            'n' { $value = [double]::Parse($utf8.GetString([Convert]::FromBase64String($data)), [Globalization.CultureInfo]::InvariantCulture) }
            'b' { $value = ($data -eq '1') }
            # A list: base64 items joined by ',', '-' for an empty item, nothing at all for no items.
            'l' { $value = @(if ($data) { foreach ($item in $data.Split(',')) { if ($item -eq '-') { '' } else { $utf8.GetString([Convert]::FromBase64String($item)) } } }) }
        }
        if ($name.StartsWith('p.')) { $prm[$name.Substring(2)] = $value }
        elseif ($name.StartsWith('t.')) {
            # Tool names may hold dots: they travel base64 (padding dropped).
            $b = $name.Substring(2); while ($b.Length % 4) { $b += '=' }
            $tools[$utf8.GetString([Convert]::FromBase64String($b))] = $value
        } else { $ctx[$name] = $value }
    }
    $ctx['params'] = [pscustomobject]$prm
    $ctx['tools'] = $tools
    [pscustomobject]$ctx
}

$MagpieCtx = ConvertFrom-MagpieContext $MagpieContext
$Params = $MagpieCtx.params
# Helper programs the step declared (tools: in step.yaml), pushed and hash-checked: name → path.
$Tools = $MagpieCtx.tools
# .NET calls rather than Join-Path/New-Item/Get-ChildItem here: on a cold host the provider
# cmdlets' first use costs more than the rest of the prelude together.
$OutDir = [IO.Path]::Combine($MagpieCtx.stage, 'files')
$null = [IO.Directory]::CreateDirectory($OutDir)

function Start-MagpieProcess {
    # A program with exactly these arguments (an array, never a shell string: names from the host
    # stay data), stdin closed, stdout and stderr for the caller to read. PowerShell 7 only
    # (ProcessStartInfo.ArgumentList): for Linux steps.
    param([string]$File, [string[]]$Arguments, [Text.Encoding]$OutputEncoding)
    $psi = [Diagnostics.ProcessStartInfo]::new($File)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    if ($OutputEncoding) { $psi.StandardOutputEncoding = $OutputEncoding }
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $p
}

function ConvertTo-MagpieCommandLine {
    # Arguments as one Windows command line, quoted the way CommandLineToArgvW and the C runtime
    # split it again: each value arrives as exactly one argument (an account name with a space, a
    # path), and nothing is expanded on the way (no wildcard, no variable). For Windows PowerShell
    # 5.1, whose ProcessStartInfo has no ArgumentList.
    param([string[]]$Arguments)
    $parts = foreach ($a in $Arguments) {
        if ($a -ne '' -and $a -notmatch '[\s"]') { $a; continue }
        $sb = [Text.StringBuilder]::new()
        $null = $sb.Append('"')
        $slashes = 0
        foreach ($ch in $a.ToCharArray()) {
            if ($ch -eq [char]92) { $slashes++; continue }
            if ($ch -eq [char]34) { $null = $sb.Append([char]92, 2 * $slashes + 1) }
            elseif ($slashes) { $null = $sb.Append([char]92, $slashes) }
            $null = $sb.Append($ch)
            $slashes = 0
        }
        $null = $sb.Append([char]92, 2 * $slashes)
        $null = $sb.Append('"')
        $sb.ToString()
    }
    $parts -join ' '
}

function Invoke-MagpieTool {
    # Runs a pushed tool (Windows) with exactly these arguments, stdin closed, its output read as it
    # comes, in $OutDir; stopped after $TimeoutSec. The exit code is returned, not judged: each
    # tool means its own by it (ProcDump returns -2 after a good dump).
    param([string]$File, [string[]]$Arguments, [int]$TimeoutSec)
    $psi = [Diagnostics.ProcessStartInfo]::new($File)
    $psi.Arguments = ConvertTo-MagpieCommandLine $Arguments
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.WorkingDirectory = $OutDir
    $p = [Diagnostics.Process]::Start($psi)
    $p.StandardInput.Close()
    $out = $p.StandardOutput.ReadToEndAsync()
    $err = $p.StandardError.ReadToEndAsync()
    $timedOut = $false
    if (-not $p.WaitForExit($TimeoutSec * 1000)) {
        $timedOut = $true
        try { $p.Kill() } catch { $null = $_ }
    }
    $p.WaitForExit()
    [pscustomobject]@{ ExitCode = $p.ExitCode; Output = ($out.Result + $err.Result); TimedOut = $timedOut; CommandLine = $psi.Arguments }
}

function Invoke-MagpieCommand {
    # A Windows program with exactly these arguments; the line goes to stdout.log before it runs
    # (information stream: the caller keeps only the result), and its output, which is host text,
    # after, each line prefixed with the program's name. Exit code and lines are returned, not judged.
    param([string]$Name, [string[]]$Arguments)
    Write-Information -MessageData ("run: $Name " + (ConvertTo-MagpieCommandLine $Arguments))
    $global:LASTEXITCODE = 0
    $lines = @(& $Name @Arguments 2>&1 | ForEach-Object { ([string]$_).TrimEnd() })
    $code = [int]$LASTEXITCODE
    $short = $Name -replace '\.exe$', ''
    foreach ($l in $lines) { if ($l) { Write-Information -MessageData "$($short): $l" } }
    [pscustomobject]@{ Code = $code; Lines = $lines; Text = (($lines | Where-Object { $_ }) -join ' | ') }
}

function Get-MagpieFileSha256([string]$Path) {
    # Lower-case hex, read as a stream: captures and hives are too large for memory.
    $sha = [Security.Cryptography.SHA256]::Create()
    $stream = [IO.File]::OpenRead($Path)
    try { ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose(); $sha.Dispose() }
}

function Test-MagpieLink([string]$Path) {
    # A junction or symbolic link: walks never enter one. GetAttributes throws for a path that is
    # not there (FileInfo.Attributes would say -1: every flag).
    try { return [bool]([IO.File]::GetAttributes($Path) -band [IO.FileAttributes]::ReparsePoint) } catch { return $false }
}

function Get-MagpieUserProfiles {
    # Windows: the profile folders under the Users folder, Public included; never through a
    # junction ('Default User' and 'All Users' are junctions to Default and ProgramData).
    $drive = $env:SystemDrive
    if (-not $drive) { $drive = 'C:' }
    $usersDir = "$drive\Users"
    if ($env:PUBLIC) { $usersDir = [IO.Path]::GetDirectoryName($env:PUBLIC) }
    if (-not [IO.Directory]::Exists($usersDir)) { return }
    foreach ($profile in [IO.Directory]::GetDirectories($usersDir)) { if (-not (Test-MagpieLink $profile)) { $profile } }
}

function ConvertTo-MagpieTime {
    # ISO 8601 UTC, the same text on 5.1 and 7 (ConvertTo-Json differs between them).
    param($Value)
    if ($null -eq $Value) { return $null }
    ([datetime]$Value).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ', [Globalization.CultureInfo]::InvariantCulture)
}

function Invoke-MagpieStep {
    param([scriptblock]$Step)
    # ::new rather than New-Object: the cmdlet's first use on a cold host costs ~130 ms.
    $utf8 = [System.Text.UTF8Encoding]::new($false)
    $records = [System.IO.StreamWriter]::new([IO.Path]::Combine($MagpieCtx.stage, 'records.jsonl'), $false, $utf8)
    $stdout = [System.IO.StreamWriter]::new([IO.Path]::Combine($MagpieCtx.stage, 'stdout.log'), $false, $utf8)
    $stderr = [System.IO.StreamWriter]::new([IO.Path]::Combine($MagpieCtx.stage, 'stderr.log'), $false, $utf8)
    # Flushed per line so a step stopped at its timeout keeps everything it produced.
    $records.AutoFlush = $true; $stdout.AutoFlush = $true; $stderr.AutoFlush = $true
    $summary = [ordered]@{ status = 'ok'; records = 0; errors = 0; message = $null; files = @(); psVersion = $PSVersionTable.PSVersion.ToString(); psEdition = [string]$PSVersionTable.PSEdition }
    $depth = [int]$MagpieCtx.depth
    try {
        & $Step 2>&1 3>&1 4>&1 5>&1 6>&1 | & { process {
            $item = $_
            if ($null -eq $item) { return }
            if ($item -is [System.Management.Automation.ErrorRecord]) {
                $summary.errors++
                $stderr.WriteLine('[error] ' + $item.ToString())
            } elseif ($item -is [System.Management.Automation.WarningRecord]) {
                $stderr.WriteLine('[warning] ' + $item.Message)
            } elseif ($item -is [System.Management.Automation.VerboseRecord] -or $item -is [System.Management.Automation.DebugRecord]) {
                $stdout.WriteLine('[verbose] ' + $item.Message)
            } elseif ($item -is [System.Management.Automation.InformationRecord]) {
                $stdout.WriteLine([string]$item.MessageData)
            } elseif ($item -is [string] -or $item.GetType().IsPrimitive) {
                # Records are objects; bare text is what the step printed.
                $stdout.WriteLine([string]$item)
            } else {
                if ($item -is [System.Collections.IDictionary]) { $item = [pscustomobject]$item }
                if ($item -is [System.Management.Automation.PSCustomObject]) {
                    foreach ($p in $item.PSObject.Properties) {
                        if ($p.Value -is [datetime]) { $p.Value = ConvertTo-MagpieTime $p.Value }
                    }
                }
                $records.WriteLine((ConvertTo-Json -InputObject $item -Compress -Depth $depth))
                $summary.records++
            }
        } }
    } catch {
        $summary.status = 'failed'
        $summary.message = $_.ToString()
        $stderr.WriteLine('[terminating] ' + $_.ToString() + ' | ' + $_.ScriptStackTrace)
    } finally {
        $records.Dispose(); $stdout.Dispose(); $stderr.Dispose()
    }
    # Hashes computed here, on the target, are compared with the ones computed after the fetch.
    $root = [IO.Path]::GetFullPath($OutDir)
    $sha = [Security.Cryptography.SHA256]::Create()
    $summary.files = @(foreach ($file in [IO.Directory]::GetFiles($root, '*', [IO.SearchOption]::AllDirectories)) {
        $info = [IO.FileInfo]::new($file)
        # Links are not evidence the runner will take; hashing one could read outside $OutDir.
        if ($info.Attributes -band [IO.FileAttributes]::ReparsePoint) { continue }
        # Empty needs no read: a FIFO or device left in $OutDir also reports 0 bytes, and opening it
        # would block until the step's timeout. The runner takes regular files only.
        if ($info.Length -eq 0) {
            [ordered]@{ path = $file.Substring($root.Length).TrimStart('\', '/'); size = 0; sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }
            continue
        }
        try {
            $stream = [IO.File]::OpenRead($file)
            try { $hash = ([BitConverter]::ToString($sha.ComputeHash($stream)) -replace '-', '').ToLowerInvariant() } finally { $stream.Dispose() }
            [ordered]@{ path = $file.Substring($root.Length).TrimStart('\', '/'); size = $info.Length; sha256 = $hash }
        } catch { $null = $_ } # unreadable here: the runner hashes whatever arrives, and says so
    })
    $sha.Dispose()
    if ($null -ne $summary.message -and $summary.message.Length -gt 4000) { $summary.message = $summary.message.Substring(0, 4000) + ' [truncated; see stderr.log]' }
    $json = ConvertTo-Json -InputObject $summary -Compress -Depth 4
    'MAGPIE-SUMMARY:' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
}
# ---- end of prelude ----------------------------------------------------------------------
