# Parses PowerShell files and reports what Windows PowerShell 5.1 cannot run: syntax added in 7
# (??, ??=, ?:, ?., &&, ||, clean {}) and commands or parameters that only PowerShell 7 has. In
# scripts meant for both (all but linux.ps1, which only PowerShell 7 runs): .NET members that
# .NET Framework lacks, and cmdlets that PowerShell 7 removed.
param([Parameter(Mandatory = $true)][string]$FilesBase64)
$files = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($FilesBase64)) | ConvertFrom-Json
$pwshOnlyCommands = @('Join-String', 'Get-Error', 'Test-Json', 'ConvertFrom-Markdown', 'Show-Markdown', 'Get-MarkdownOption', 'Set-MarkdownOption', 'Remove-Alias', 'Remove-Service', 'Get-Uptime', 'ConvertTo-CliXml', 'ConvertFrom-CliXml', 'Start-ThreadJob')
$pwshOnlyParameters = @{
    'ForEach-Object'    = @('Parallel', 'ThrottleLimit', 'AsJob', 'TimeoutSeconds', 'UseNewRunspace')
    'ConvertFrom-Json'  = @('AsHashtable', 'Depth', 'NoEnumerate', 'DateKind')
    'ConvertTo-Json'    = @('EscapeHandling', 'AsArray', 'EnumsAsStrings')
    'Get-Content'       = @('AsByteStream')
    'Set-Content'       = @('AsByteStream')
    'Add-Content'       = @('AsByteStream')
    'Invoke-WebRequest' = @('SkipCertificateCheck', 'Authentication', 'SslProtocol', 'StatusCodeVariable', 'SkipHttpErrorCheck', 'Resume')
    'Invoke-RestMethod' = @('SkipCertificateCheck', 'Authentication', 'SslProtocol', 'StatusCodeVariable', 'SkipHttpErrorCheck', 'ResponseHeadersVariable', 'FollowRelLink')
    'Test-Connection'   = @('TargetName', 'Ping', 'Traceroute', 'TcpPort', 'MtuSize', 'Detailed', 'Repeat')
    'Select-String'     = @('NoEmphasis', 'Raw')
    'Get-ChildItem'     = @('FollowSymlink')
    'Sort-Object'       = @('Top', 'Bottom', 'Stable')
    'Split-Path'        = @('Extension', 'LeafBase')
    'Start-Process'     = @('Environment')
    'Get-Date'          = @('AsUTC', 'FromUnixTime')
    'New-Item'          = @()
}
# Static members of .NET (Core) 5+ or later than .NET Framework 4.5.2, the least WMF 5.1 needs.
$netCoreOnly = @{
    'convert'      = @('ToHexString', 'ToHexStringLower', 'FromHexString')
    'io.path'      = @('GetRelativePath', 'Join', 'TrimEndingDirectorySeparator', 'EndsInDirectorySeparator', 'Exists')
    'array'        = @('Empty')
    'io.file'      = @('ResolveLinkTarget', 'CreateSymbolicLink', 'ReadAllTextAsync', 'ReadAllBytesAsync', 'ReadAllLinesAsync', 'WriteAllTextAsync', 'WriteAllBytesAsync', 'ReadLinesAsync')
    'io.directory' = @('ResolveLinkTarget', 'CreateSymbolicLink')
    'text.encoding' = @('Latin1')
    'environment'  = @('ProcessId', 'ProcessPath')
    'random'       = @('Shared')
    'math'         = @('Clamp')
    'string'       = @('Create')
}
$removedIn7 = @('Get-WmiObject', 'Set-WmiInstance', 'Invoke-WmiMethod', 'Remove-WmiObject', 'Register-WmiEvent', 'Get-EventLog', 'Clear-EventLog', 'Write-EventLog', 'Limit-EventLog', 'New-EventLog', 'Remove-EventLog', 'Show-EventLog', 'New-WebServiceProxy', 'Export-Console', 'Add-PSSnapin', 'Get-PSSnapin', 'Remove-PSSnapin')
$aliases = @{ '%' = 'ForEach-Object'; 'foreach' = 'ForEach-Object'; 'gc' = 'Get-Content'; 'cat' = 'Get-Content'; 'sc' = 'Set-Content'; 'ls' = 'Get-ChildItem'; 'dir' = 'Get-ChildItem'; 'gci' = 'Get-ChildItem'; 'sls' = 'Select-String'; 'sort' = 'Sort-Object'; 'iwr' = 'Invoke-WebRequest'; 'irm' = 'Invoke-RestMethod'; 'ni' = 'New-Item'; 'gwmi' = 'Get-WmiObject'; 'swmi' = 'Set-WmiInstance'; 'iwmi' = 'Invoke-WmiMethod'; 'rwmi' = 'Remove-WmiObject' }
$problems = New-Object System.Collections.Generic.List[string]
foreach ($file in @($files)) {
    $tokens = $null; $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($file, [ref]$tokens, [ref]$errors)
    foreach ($e in $errors) { $problems.Add(('{0}:{1}: does not parse: {2}' -f $file, $e.Extent.StartLineNumber, $e.Message)) }
    if ($errors.Count) { continue }
    $say = { param($node, $what) $problems.Add(('{0}:{1}: {2} is PowerShell 7 only; Windows PowerShell 5.1 (the WinRM default) cannot run it' -f $file, $node.Extent.StartLineNumber, $what)) }
    $forBoth = $file -notmatch '(^|[\\/-])linux\.ps1$'
    $sayBoth = { param($node, $what) $problems.Add(('{0}:{1}: {2}; this script runs on Windows PowerShell 5.1 and PowerShell 7 alike' -f $file, $node.Extent.StartLineNumber, $what)) }
    $nodes = $ast.FindAll({ $true }, $true)
    foreach ($n in $nodes) {
        $type = $n.GetType().Name
        if ($type -eq 'TernaryExpressionAst') { & $say $n 'the ternary operator (a ? b : c)' }
        elseif ($type -eq 'PipelineChainAst') { & $say $n 'a pipeline chain (&& or ||)' }
        elseif ($type -eq 'BinaryExpressionAst' -and [string]$n.Operator -eq 'QuestionQuestion') { & $say $n 'the null-coalescing operator ??' }
        elseif ($type -eq 'AssignmentStatementAst' -and [string]$n.Operator -eq 'QuestionQuestionEquals') { & $say $n 'the ??= operator' }
        elseif (($type -eq 'MemberExpressionAst' -or $type -eq 'InvokeMemberExpressionAst' -or $type -eq 'IndexExpressionAst') -and $n.NullConditional) { & $say $n 'null-conditional access (?. or ?[])' }
        elseif ($type -eq 'NamedBlockAst' -and [string]$n.BlockKind -eq 'Clean') { & $say $n 'the clean {} block' }
        elseif ($forBoth -and ($type -eq 'MemberExpressionAst' -or $type -eq 'InvokeMemberExpressionAst') -and $n.Static -and $n.Expression.GetType().Name -eq 'TypeExpressionAst') {
            $typeName = $n.Expression.TypeName.FullName.ToLowerInvariant() -replace '^system\.', ''
            $member = [string]$n.Member.Value
            if ($netCoreOnly.ContainsKey($typeName) -and @($netCoreOnly[$typeName] | Where-Object { $_ -eq $member }).Count) {
                & $sayBoth $n "[$($n.Expression.TypeName.FullName)]::$member needs .NET 5 or later (PowerShell 7); Windows PowerShell 5.1 runs on .NET Framework, which lacks it"
            }
        }
        elseif ($type -eq 'CommandAst') {
            $name = $n.GetCommandName()
            if (-not $name) { continue }
            if ($aliases.ContainsKey($name.ToLowerInvariant())) { $name = $aliases[$name.ToLowerInvariant()] }
            $canon = @($pwshOnlyCommands | Where-Object { $_ -eq $name })
            if ($canon.Count) { & $say $n "the command $name" }
            if ($forBoth -and @($removedIn7 | Where-Object { $_ -eq $name }).Count) { & $sayBoth $n "$name was removed in PowerShell 7 (use Get-CimInstance, Get-WinEvent or the like)" }
            $key = @($pwshOnlyParameters.Keys | Where-Object { $_ -eq $name })
            if ($key.Count) {
                foreach ($el in $n.CommandElements) {
                    if ($el.GetType().Name -ne 'CommandParameterAst') { continue }
                    foreach ($p in $pwshOnlyParameters[$key[0]]) {
                        # PowerShell accepts any unambiguous prefix of a parameter name.
                        if ($el.ParameterName.Length -ge 2 -and $p.StartsWith($el.ParameterName, [StringComparison]::OrdinalIgnoreCase)) { & $say $el "$name -$p" }
                    }
                }
            }
        }
    }
}
'MAGPIE-CHECK:' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject @($problems) -Compress)))
