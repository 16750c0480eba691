# ---- Magpie prelude v1 ------------------------------------------------------------------
# Fixed wrapper around every step. It never contains a parameter value: the runner passes
# one base64 argument ($MagpieContext, JSON) that this code decodes into $Params, so no
# value from a user, a playbook or a host can become PowerShell code.
# The step's objects become JSON lines in records.jsonl; its other streams go to
# stdout.log / stderr.log; large data goes to files in $OutDir. Only a one-line summary
# comes back on the host's stdout. Runs on Windows PowerShell 5.1 and PowerShell 7.
param([Parameter(Mandatory = $true)][string]$MagpieContext)

$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
$MagpieCtx = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($MagpieContext)) | ConvertFrom-Json
$Params = $MagpieCtx.params
$OutDir = Join-Path $MagpieCtx.stage 'files'
$null = New-Item -ItemType Directory -Force -Path $OutDir

function ConvertTo-MagpieTime {
    # ISO 8601 UTC, the same text on 5.1 and 7 (ConvertTo-Json differs between them).
    param($Value)
    if ($null -eq $Value) { return $null }
    ([datetime]$Value).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ', [Globalization.CultureInfo]::InvariantCulture)
}

function Invoke-MagpieStep {
    param([scriptblock]$Step)
    $utf8 = New-Object System.Text.UTF8Encoding($false)
    $records = New-Object System.IO.StreamWriter((Join-Path $MagpieCtx.stage 'records.jsonl'), $false, $utf8)
    $stdout = New-Object System.IO.StreamWriter((Join-Path $MagpieCtx.stage 'stdout.log'), $false, $utf8)
    $stderr = New-Object System.IO.StreamWriter((Join-Path $MagpieCtx.stage 'stderr.log'), $false, $utf8)
    # Flushed per line so a step stopped at its timeout keeps everything it produced.
    $records.AutoFlush = $true; $stdout.AutoFlush = $true; $stderr.AutoFlush = $true
    $summary = [ordered]@{ status = 'ok'; records = 0; errors = 0; message = $null; files = @() }
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
                if ($item -is [System.Collections.IDictionary]) { $item = New-Object PSObject -Property $item }
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
    $root = (Resolve-Path -LiteralPath $OutDir).ProviderPath
    $summary.files = @(Get-ChildItem -LiteralPath $root -Recurse -Force -File -ErrorAction SilentlyContinue | ForEach-Object {
        [ordered]@{ path = $_.FullName.Substring($root.Length).TrimStart('\', '/'); size = $_.Length; sha256 = (Microsoft.PowerShell.Utility\Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash.ToLowerInvariant() }
    })
    if ($null -ne $summary.message -and $summary.message.Length -gt 4000) { $summary.message = $summary.message.Substring(0, 4000) + ' [truncated; see stderr.log]' }
    $json = ConvertTo-Json -InputObject $summary -Compress -Depth 4
    'MAGPIE-SUMMARY:' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
}
# ---- end of prelude ----------------------------------------------------------------------
