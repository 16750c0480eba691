# autorunsc (Windows): Sysinternals autorunsc64.exe, pushed by Magpie after its pin was checked,
# writes every autostart as UTF-16 CSV into $OutDir\autorunsc.csv. That file is the evidence: this
# script emits no records; Magpie reads the file on the responder with `magpie import autoruns`'s
# code (step.yaml records:). The pushed tool is deleted when the step ends, whatever happened.
$tool = $null
if ($Tools) { $tool = $Tools['autorunsc64.exe'] }
if (-not $tool -or -not [IO.File]::Exists($tool)) {
    throw 'autorunsc: autorunsc64.exe was not pushed with this step; put it in the tools folder on the collecting machine (tools/ or --tools DIR), pinned under tools: in steps/autorunsc/step.yaml'
}
$user = '*'
if ($null -ne $Params.User -and "$($Params.User)".Trim() -ne '') { $user = "$($Params.User)".Trim() }
# An account name, or *: never an option (a leading - or /) and never a second argument.
if ($user -match '^[-/]' -or $user.Contains('"')) { throw "autorunsc: User must be * or one account name, got: $user" }

$timeoutSec = 1500
if ($null -ne $Params.TimeoutSec) { $timeoutSec = [int]$Params.TimeoutSec }
if ($timeoutSec -lt 1) { throw "autorunsc: TimeoutSec must be at least 1, got $timeoutSec" }

$csv = [IO.Path]::Combine($OutDir, 'autorunsc.csv')
# -a * every category, -c CSV, -h hashes, -s signatures, -t UTC times, -o the file (autorunsc writes
# it itself, UTF-16: no console code page in between), then the user profile(s).
$arguments = @('-accepteula', '-nobanner', '-a', '*', '-c', '-h', '-s', '-t', '-o', $csv, $user)
$code = $null
try {
    $began = [datetime]::UtcNow
    $run = Invoke-MagpieTool $tool $arguments $timeoutSec
    $code = $run.ExitCode
    $seconds = [math]::Round(([datetime]::UtcNow - $began).TotalSeconds, 1)
    [string]"autorunsc: $tool $($run.CommandLine)"
    $output = @($run.Output -split "`r?`n" | Where-Object { $_.Trim() })
    foreach ($line in $output) { [string]"autorunsc: $($line.TrimEnd())" }
    [string]"autorunsc: exit code $code after $seconds s"
    if ($run.TimedOut) { throw "autorunsc did not finish within $timeoutSec s (the TimeoutSec parameter) and was stopped" }
    $size = 0
    if ([IO.File]::Exists($csv)) { $size = ([IO.FileInfo]::new($csv)).Length }
    if ($size -eq 0) {
        $tail = ($output | Select-Object -Last 20) -join ' | '
        throw "autorunsc wrote no output (exit code $code): $tail".Trim()
    }
    if ($code -ne 0) { Write-Warning "autorunsc exited with code $code but wrote $size bytes of CSV; the CSV is read as it is" }
} finally {
    # The pushed tool leaves with the step, also when autorunsc failed (a step killed at its
    # timeout leaves it in the staging folder, which Magpie removes).
    try {
        if ([IO.File]::Exists($tool)) { [IO.File]::Delete($tool) }
        [string]"autorunsc: removed the pushed $tool"
    } catch {
        Write-Warning "the pushed tool $tool could not be removed: $($_.Exception.Message)"
    }
}
