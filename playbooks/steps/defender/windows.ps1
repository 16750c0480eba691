# defender (Windows): protection state, exclusions and detections, as detection records.
$status = $null
try { $status = Get-MpComputerStatus -ErrorAction Stop } catch { Write-Warning "Get-MpComputerStatus failed (is Defender installed and running?): $($_.Exception.Message)" }
if ($status) {
    foreach ($key in @('RealTimeProtectionEnabled', 'AntivirusEnabled', 'BehaviorMonitorEnabled', 'IoavProtectionEnabled', 'OnAccessProtectionEnabled', 'AntispywareEnabled')) {
        if ($status.$key -eq $false) { [pscustomobject]@{ type = 'protection-disabled'; source = 'Get-MpComputerStatus'; detail = "$key is false" } }
    }
    [pscustomobject]@{
        type = 'status'; source = 'Get-MpComputerStatus'
        engineVersion = [string]$status.AMEngineVersion; signatureVersion = [string]$status.AntivirusSignatureVersion
        signatureAge = $status.AntivirusSignatureAge; realTimeProtection = $status.RealTimeProtectionEnabled
        tamperProtected = $status.IsTamperProtected; lastFullScan = $status.FullScanEndTime; lastQuickScan = $status.QuickScanEndTime
    }
}
$pref = $null
try { $pref = Get-MpPreference -ErrorAction Stop } catch { Write-Warning "Get-MpPreference failed: $($_.Exception.Message)" }
if ($pref) {
    foreach ($key in @('ExclusionPath', 'ExclusionExtension', 'ExclusionProcess', 'ExclusionIpAddress')) {
        foreach ($value in @($pref.$key)) {
            # Without administrator rights Windows shows a placeholder instead of the exclusions.
            if ($value -and $value -notlike 'N/A*') { [pscustomobject]@{ type = 'exclusion'; source = 'Get-MpPreference'; exclusionType = $key; detail = [string]$value } }
        }
    }
    if ($pref.DisableRealtimeMonitoring -eq $true) { [pscustomobject]@{ type = 'protection-disabled'; source = 'Get-MpPreference'; detail = 'DisableRealtimeMonitoring is true' } }
}
$names = @{}
try { foreach ($t in @(Get-MpThreat -ErrorAction Stop)) { $names[[string]$t.ThreatID] = $t.ThreatName } } catch { Write-Warning "Get-MpThreat failed: $($_.Exception.Message)" }
try {
    foreach ($d in @(Get-MpThreatDetection -ErrorAction Stop)) {
        $id = [string]$d.ThreatID
        [pscustomobject]@{
            type = 'threat'; source = 'Get-MpThreatDetection'; time = $d.InitialDetectionTime; detectionId = [string]$d.DetectionID
            threatName = $(if ($names.ContainsKey($id)) { $names[$id] } else { "ThreatID $id" }); threatId = $d.ThreatID
            action = $(if ($d.ActionSuccess -eq $true) { 'remediated' } elseif ($d.ActionSuccess -eq $false) { 'remediation failed' } else { $null })
            resources = @(foreach ($r in @($d.Resources)) { if ($r) { ([string]$r) -replace '^(file|process|regkey|containerfile|behavior|amsi_script):_', '' } })
            processName = $d.ProcessName; user = $d.DomainUser; remediationTime = $d.RemediationTime
        }
    }
} catch { Write-Warning "Get-MpThreatDetection failed: $($_.Exception.Message)" }
