# ps-history (Windows): PSReadLine history files of every profile under the Users folder.
if ([int]$Params.MaxLines -le 0) { throw "MaxLines must be above 0 (got $($Params.MaxLines))" }
$usersDir = $(if ($env:PUBLIC -and $env:PUBLIC.LastIndexOf('\') -gt 0) { $env:PUBLIC.Substring(0, $env:PUBLIC.LastIndexOf('\')) } else { "$env:SystemDrive\Users" })
$profiles = @()
try { $profiles = @(Get-ChildItem -LiteralPath $usersDir -Directory -Force -ErrorAction Stop) } catch { throw "cannot list ${usersDir}: $($_.Exception.Message)" }
foreach ($p in $profiles) {
    # 'All Users', 'Default User': junctions to folders listed on their own.
    if ($p.Attributes -band [IO.FileAttributes]::ReparsePoint) { continue }
    $dir = "$usersDir\$($p.Name)\AppData\Roaming\Microsoft\Windows\PowerShell\PSReadLine"
    $files = @()
    try { $files = @(Get-ChildItem -LiteralPath $dir -File -Force -Filter '*_history.txt' -ErrorAction Stop) }
    catch {
        if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { Write-Error -Message "cannot list ${dir}: $($_.Exception.Message)" -ErrorAction Continue }
        continue
    }
    foreach ($f in $files) {
        $path = "$dir\$($f.Name)"
        $lines = @()
        try { $lines = @(Get-Content -LiteralPath $path -Encoding UTF8 -ErrorAction Stop) }
        catch { Write-Error -Message "cannot read ${path}: $($_.Exception.Message)" -ErrorAction Continue; continue }
        # A command typed over several lines is kept with a backtick at the end of each but the last.
        $commands = New-Object System.Collections.Generic.List[object]
        $buf = $null
        $first = 0
        for ($i = 0; $i -lt $lines.Count; $i++) {
            $l = [string]$lines[$i]
            if ($null -eq $buf) { $buf = $l; $first = $i + 1 } else { $buf = "$buf`n$l" }
            if (-not $l.EndsWith('`')) { $commands.Add(@{ line = $first; text = $buf }); $buf = $null }
        }
        if ($null -ne $buf) { $commands.Add(@{ line = $first; text = $buf }) }
        $skip = [Math]::Max(0, $commands.Count - [int]$Params.MaxLines)
        if ($skip) { Write-Warning "${path}: $($commands.Count) commands, the oldest $skip left out (MaxLines $($Params.MaxLines))" }
        for ($i = $skip; $i -lt $commands.Count; $i++) {
            if (-not $commands[$i].text.Trim()) { continue }
            [pscustomobject][ordered]@{
                source = 'psreadline'; user = $p.Name; file = $path; line = $commands[$i].line
                command = $commands[$i].text; time = $null; fileModified = $f.LastWriteTimeUtc
            }
        }
    }
}
