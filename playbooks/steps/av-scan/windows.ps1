# av-scan (Windows): a Microsoft Defender scan (quick, full or of given paths), then the detections
# that appeared since it started, each joined with its threat, and one status record.
# Start-MpScan where the Defender module is there, else MpCmdRun.exe; the detections and the
# engine state come from the Defender cmdlets, else from the CIM classes they wrap
# (root/Microsoft/Windows/Defender). Where Defender is not the active antivirus (passive or EDR
# block mode, service off, another product registered and on) or the account is not elevated,
# nothing is scanned: a status record (status skipped) says why. Defender's configured actions
# apply to what the scan finds (it may quarantine); this script removes nothing itself.
$defenderNs = 'root/Microsoft/Windows/Defender'
$mpCmdRun = "$env:ProgramFiles\Windows Defender\MpCmdRun.exe"
# The step's timeout (step.yaml: 3600 s) less five minutes to read the detections and report.
$waitSeconds = 3300

$severities = @{ 0 = 'Unknown'; 1 = 'Low'; 2 = 'Moderate'; 4 = 'High'; 5 = 'Severe' }
# MPTHREAT_CATEGORY (MpClient.h), the values behind CategoryID.
$categories = @{
    0 = 'Invalid'; 1 = 'Adware'; 2 = 'Spyware'; 3 = 'PasswordStealer'; 4 = 'TrojanDownloader'; 5 = 'Worm'; 6 = 'Backdoor'
    7 = 'RemoteAccessTrojan'; 8 = 'Trojan'; 9 = 'EmailFlooder'; 10 = 'Keylogger'; 11 = 'Dialer'; 12 = 'MonitoringSoftware'
    13 = 'BrowserModifier'; 14 = 'Cookie'; 15 = 'BrowserPlugin'; 16 = 'AOLExploit'; 17 = 'Nuker'; 18 = 'SecurityDisabler'
    19 = 'JokeProgram'; 20 = 'HostileActiveXControl'; 21 = 'SoftwareBundler'; 22 = 'StealthNotifier'; 23 = 'SettingsModifier'
    24 = 'Toolbar'; 25 = 'RemoteControlSoftware'; 26 = 'TrojanFTP'; 27 = 'PotentialUnwantedSoftware'; 28 = 'ICQExploit'
    29 = 'TrojanTelnet'; 30 = 'Exploit'; 31 = 'FileSharingProgram'; 32 = 'MalwareCreationTool'; 33 = 'RemoteControlSoftware'
    34 = 'Tool'; 36 = 'TrojanDenialOfService'; 37 = 'TrojanDropper'; 38 = 'TrojanMassMailer'; 39 = 'TrojanMonitoringSoftware'
    40 = 'TrojanProxyServer'; 42 = 'Virus'; 43 = 'Known'; 44 = 'Unknown'; 45 = 'SPP'; 46 = 'Behavior'; 47 = 'Vulnerability'; 48 = 'Policy'
}
# MPTHREAT_ACTION and MPTHREAT_STATUS (MpClient.h), the values behind CleaningActionID and ThreatStatusID.
$cleaningActions = @{ 0 = 'Unknown'; 1 = 'Clean'; 2 = 'Quarantine'; 3 = 'Remove'; 6 = 'Allow'; 8 = 'UserDefined'; 9 = 'NoAction'; 10 = 'Block' }
$threatStatuses = @{
    0 = 'Unknown'; 1 = 'Detected'; 2 = 'Cleaned'; 3 = 'Quarantined'; 4 = 'Removed'; 5 = 'Allowed'; 6 = 'Blocked'
    102 = 'CleanFailed'; 103 = 'QuarantineFailed'; 104 = 'RemoveFailed'; 105 = 'AllowFailed'; 106 = 'Abandoned'; 107 = 'BlockFailed'
}

function Get-Name {
    # The name of a numeric id, or "unknown (N)"; null stays null.
    param([hashtable]$Map, $Id)
    if ($null -eq $Id) { return $null }
    $n = [int]$Id
    if ($Map.ContainsKey($n)) { return $Map[$n] }
    "unknown ($n)"
}

function Get-Defender {
    # A Defender cmdlet's objects, or where the module is missing the CIM class it wraps.
    param([string]$Cmdlet, [string]$Class)
    if (Get-Command $Cmdlet -ErrorAction SilentlyContinue) { & $Cmdlet -ErrorAction Stop }
    else { Get-CimInstance -Namespace $defenderNs -ClassName $Class -ErrorAction Stop }
}

function Skip-Scan {
    param([string]$Reason, [hashtable]$Extra = @{})
    Write-Warning "av-scan skipped: $Reason"
    $r = [ordered]@{ type = 'status'; source = 'defender-scan'; status = 'skipped'; reason = $Reason; time = [datetime]::UtcNow; scanType = $scanType }
    foreach ($k in $Extra.Keys) { $r[$k] = $Extra[$k] }
    [pscustomobject]$r
}

# ---- parameters: checked before anything runs ------------------------------------------------
$scanType = 'quick'
if ($Params.ScanType) { $scanType = ([string]$Params.ScanType).Trim().ToLowerInvariant() }
if (@('quick', 'full', 'custom') -notcontains $scanType) { throw "av-scan: ScanType must be quick, full or custom, got '$($Params.ScanType)'" }
$given = @($Params.Paths | Where-Object { $null -ne $_ -and $_ -ne '' })
$paths = New-Object System.Collections.Generic.List[string]
if ($scanType -eq 'custom') {
    if (-not $given.Count) { throw 'av-scan: ScanType custom needs Paths (the files or folders to scan)' }
    foreach ($p in $given) {
        if (-not [IO.Path]::IsPathRooted($p)) { throw "av-scan: path is not absolute: $p (give a full path such as C:\Users\Public)" }
        if (-not ([IO.File]::Exists($p) -or [IO.Directory]::Exists($p))) { throw "av-scan: path does not exist: $p" }
        $paths.Add($p)
    }
} elseif ($given.Count) {
    Write-Warning "av-scan: Paths are scanned with ScanType custom only; a $scanType scan chooses its own places (ignored: $($given -join ', '))"
}

# ---- is Defender the active antivirus? ----------------------------------------------------------
$status = $null
$statusError = $null
try { $status = @(Get-Defender 'Get-MpComputerStatus' 'MSFT_MpComputerStatus')[0] } catch { $statusError = $_.Exception.Message }
# Security Center knows which antivirus is on; Windows Server has no root/SecurityCenter2.
$products = @()
$securityCenter = $true
try { $products = @(Get-CimInstance -Namespace 'root/SecurityCenter2' -ClassName AntiVirusProduct -ErrorAction Stop) }
catch {
    $securityCenter = $false
    if ($_.Exception.Message -notmatch 'Invalid namespace' -and [string]$_.FullyQualifiedErrorId -notmatch '0x8004100e') { Write-Warning "root/SecurityCenter2 AntiVirusProduct: $($_.Exception.Message)" }
}
# productState: bits 12-15 say whether the product is on (0x1000), bits 4-7 whether its signatures are current.
$thirdParty = @(foreach ($p in $products) {
    $name = [string]$p.displayName
    if ($name -match '^(Windows|Microsoft) Defender') { continue }
    [pscustomobject]@{ name = $name; enabled = (([long]$p.productState -band 0x1000) -ne 0); path = [string]$p.pathToSignedProductExe }
})
$active = @($thirdParty | Where-Object { $_.enabled } | ForEach-Object { $_.name })
$others = @{ registeredProducts = @($thirdParty | ForEach-Object { $_.name }) }
$named = $(if ($active.Count) { "the active antivirus is $($active -join ', ') (registered and on in root/SecurityCenter2)" }
    elseif ($securityCenter) { 'no other antivirus is registered as on in root/SecurityCenter2' }
    else { 'the active product is not named here (Windows Server has no root/SecurityCenter2: ask the EDR/antivirus console)' })
if ($status) {
    $mode = [string]$status.AMRunningMode
    $others['amRunningMode'] = $mode
    if ($mode -match 'Passive|EDR Block|Not running') { return (Skip-Scan "Microsoft Defender Antivirus is not the active antivirus: AMRunningMode is '$mode'; $named" $others) }
    if ($status.AMServiceEnabled -eq $false) { return (Skip-Scan "Microsoft Defender's antimalware service is not running (AMServiceEnabled false); $named" $others) }
    if ($active.Count) { return (Skip-Scan "Microsoft Defender Antivirus is not the active antivirus: $named" $others) }
} elseif ($active.Count) {
    return (Skip-Scan "Microsoft Defender does not answer ($statusError); $named" $others)
} elseif ($statusError) {
    Write-Warning "Get-MpComputerStatus failed ($statusError); trying the scan anyway"
}
if (-not [bool]$MagpieCtx.admin) {
    return (Skip-Scan "a Defender scan needs administrator rights (Start-MpScan, MpCmdRun.exe -Scan); $($MagpieCtx.user) is not elevated: run the step as an administrator" $others)
}

# ---- scan ---------------------------------------------------------------------------------------
$cmdletTypes = @{ quick = 'QuickScan'; full = 'FullScan'; custom = 'CustomScan' }
$mpCmdRunTypes = @{ quick = '1'; full = '2'; custom = '3' }
# One scan per custom path; quick and full scan once, with no path.
if ($scanType -eq 'custom') { $targets = @($paths) } else { $targets = @($null) }
$useCmdlet = [bool](Get-Command Start-MpScan -ErrorAction SilentlyContinue)
$method = $(if ($useCmdlet) { 'Start-MpScan' } else { 'MpCmdRun.exe' })
if (-not $useCmdlet -and -not (Get-Command $mpCmdRun -ErrorAction SilentlyContinue)) {
    return (Skip-Scan "Microsoft Defender is not installed here: neither Start-MpScan (Defender module) nor $mpCmdRun" $others)
}
# Detection times are kept to the second or finer: from the whole second the scan started in.
$now = [datetime]::UtcNow
$started = [datetime]::new($now.Ticks - ($now.Ticks % [TimeSpan]::TicksPerSecond), [DateTimeKind]::Utc)
$deadline = $started.AddSeconds($waitSeconds)
$scanState = 'completed'
$scanError = $null
$exitCodes = New-Object System.Collections.Generic.List[int]
foreach ($target in $targets) {
    if ($useCmdlet) {
        $scanArgs = @{ ScanType = $cmdletTypes[$scanType]; AsJob = $true }
        if ($target) { $scanArgs['ScanPath'] = $target }
        $job = Start-MpScan @scanArgs
        $left = [int][Math]::Max(1, ($deadline - [datetime]::UtcNow).TotalSeconds)
        $null = Wait-Job -Job $job -Timeout $left
        if ($job.State -eq 'Running' -or $job.State -eq 'NotStarted') {
            $scanState = 'incomplete'
            Write-Warning "the $scanType scan was still running after $waitSeconds s; Defender carries on with it: its later detections show in Get-MpThreatDetection (the defender step)"
            break
        }
        $jobErrors = $null
        $null = Receive-Job -Job $job -ErrorVariable jobErrors -ErrorAction SilentlyContinue
        if ($job.State -eq 'Failed' -or @($jobErrors).Count) {
            $scanState = 'failed'
            $scanError = "Start-MpScan failed: $((@($jobErrors) | ForEach-Object { $_.ToString() }) -join '; ') $(if ($job.ChildJobs.Count -and $job.ChildJobs[0].JobStateInfo.Reason) { $job.ChildJobs[0].JobStateInfo.Reason.Message })".Trim()
            break
        }
        Remove-Job -Job $job -Force -ErrorAction SilentlyContinue
    } else {
        # MpCmdRun: -ScanType 1 quick, 2 full, 3 custom (-File); exit code 0 clean, 2 threats found.
        $cmdArgs = @('-Scan', '-ScanType', $mpCmdRunTypes[$scanType])
        if ($target) { $cmdArgs += @('-File', $target) }
        $out = @(& $mpCmdRun @cmdArgs 2>&1 | ForEach-Object { [string]$_ })
        $code = [int]$LASTEXITCODE
        $exitCodes.Add($code)
        if ($code -ne 0 -and $code -ne 2) {
            $scanState = 'failed'
            $tail = ($out | Select-Object -Last 20) -join "`n"
            $scanError = "MpCmdRun.exe -Scan failed (exit code $code): $tail".Trim()
            break
        }
    }
}
$ended = [datetime]::UtcNow
$codes = $null
if (-not $useCmdlet) { $codes = $exitCodes.ToArray() }

# ---- what appeared since the scan started -------------------------------------------------------
$threats = @{}
try { foreach ($t in @(Get-Defender 'Get-MpThreat' 'MSFT_MpThreat')) { if ($t) { $threats[[string]$t.ThreatID] = $t } } } catch { Write-Warning "Get-MpThreat failed: $($_.Exception.Message)" }
$count = 0
try {
    $detections = @(Get-Defender 'Get-MpThreatDetection' 'MSFT_MpThreatDetection')
    foreach ($d in $detections) {
        if (-not $d) { continue }
        $first = $(if ($null -ne $d.InitialDetectionTime) { ([datetime]$d.InitialDetectionTime).ToUniversalTime() } else { $null })
        $last = $(if ($null -ne $d.LastThreatStatusChangeTime) { ([datetime]$d.LastThreatStatusChangeTime).ToUniversalTime() } else { $null })
        if (-not (($first -and $first -ge $started) -or ($last -and $last -ge $started))) { continue }
        $id = [string]$d.ThreatID
        $t = $(if ($threats.ContainsKey($id)) { $threats[$id] } else { $null })
        if (-not $t) { Write-Warning "no threat $id in Get-MpThreat for detection $($d.DetectionID)" }
        $count++
        [pscustomobject]@{
            type = 'threat'; source = 'defender-scan'; time = $first; detectionId = [string]$d.DetectionID
            threatName = $(if ($t) { [string]$t.ThreatName } else { "ThreatID $id" }); threatId = $d.ThreatID
            severity = $(if ($t) { Get-Name $severities $t.SeverityID } else { $null }); severityId = $(if ($t) { $t.SeverityID } else { $null })
            category = $(if ($t) { Get-Name $categories $t.CategoryID } else { $null }); categoryId = $(if ($t) { $t.CategoryID } else { $null })
            action = $(if ($d.ActionSuccess -eq $true) { 'remediated' } elseif ($d.ActionSuccess -eq $false) { 'remediation failed' } else { $null })
            actionSuccess = $d.ActionSuccess
            cleaningAction = Get-Name $cleaningActions $d.CleaningActionID; cleaningActionId = $d.CleaningActionID
            threatStatus = Get-Name $threatStatuses $d.ThreatStatusID; threatStatusId = $d.ThreatStatusID
            resources = @(foreach ($r in @($d.Resources)) { if ($r) { ([string]$r) -replace '^(file|process|regkey|containerfile|behavior|amsi_script):_', '' } })
            processName = $d.ProcessName; user = $d.DomainUser
            initialDetectionTime = $first; lastThreatStatusChangeTime = $last
            remediationTime = $(if ($null -ne $d.RemediationTime) { ([datetime]$d.RemediationTime).ToUniversalTime() } else { $null })
            threatActive = $(if ($t) { $t.IsActive } else { $null }); didThreatExecute = $(if ($t) { $t.DidThreatExecute } else { $null })
            scanType = $scanType
        }
    }
} catch { Write-Warning "Get-MpThreatDetection failed: $($_.Exception.Message)" }

# Versions after the scan: what the scan ran with.
try { $after = @(Get-Defender 'Get-MpComputerStatus' 'MSFT_MpComputerStatus')[0]; if ($after) { $status = $after } } catch { $null = $_ }
[pscustomobject]@{
    type = 'status'; source = 'defender-scan'; status = $scanState; time = $ended; error = $scanError
    scanType = $scanType; method = $method; paths = @($paths); started = $started; ended = $ended
    engineVersion = $(if ($status) { [string]$status.AMEngineVersion } else { $null })
    productVersion = $(if ($status) { [string]$status.AMProductVersion } else { $null })
    signatureVersion = $(if ($status) { [string]$status.AntivirusSignatureVersion } else { $null })
    signatureAge = $(if ($status) { $status.AntivirusSignatureAge } else { $null })
    amRunningMode = $(if ($status) { [string]$status.AMRunningMode } else { $null })
    exitCodes = $codes
    count = $count; durationSec = [Math]::Round(($ended - $started).TotalSeconds, 1)
}
if ($scanError) { throw "av-scan: $scanError" }
