# eventlogs (Windows): chosen logs and event IDs through Get-WinEvent, newest first, each event
# read from its own XML (the same fields on 5.1 and 7, whatever the display language).
$sources = @(
    @{ log = 'Security'; ids = @(1102, 4624, 4625, 4648, 4672, 4720, 4732) }
    @{ log = 'System'; ids = @(104, 7040, 7045) }
    @{ log = 'Microsoft-Windows-TaskScheduler/Operational'; ids = @(106, 140, 200) }
    @{ log = 'Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational'; ids = @(1149) }
    @{ log = 'Microsoft-Windows-TerminalServices-LocalSessionManager/Operational'; ids = @(21, 24, 25) }
    @{ log = 'Microsoft-Windows-PowerShell/Operational'; ids = @(4104) }
    @{ log = 'Windows PowerShell'; ids = @(400, 600) }
    @{ log = 'Microsoft-Windows-Windows Defender/Operational'; ids = @(1116, 1117, 5001, 5007) }
    @{ log = 'Microsoft-Windows-Sysmon/Operational'; ids = @(1, 3, 11, 13, 22) }
)
if ([int]$Params.Days -le 0 -or [int]$Params.MaxEvents -le 0) { throw "Days and MaxEvents must be above 0 (got $($Params.Days) and $($Params.MaxEvents))" }
$wanted = @($Params.Logs | Where-Object { $_ })
foreach ($w in $wanted) {
    if (-not @($sources | Where-Object { $_.log -eq $w }).Count) { throw "Logs: $w is not one of the logs this step reads: $(($sources | ForEach-Object { $_.log }) -join ', ')" }
}
$start = (Get-Date).AddDays(-[double]$Params.Days)

function ConvertFrom-MagpieEvent($WinEvent) {
    $text = $WinEvent.ToXml()
    $x = [xml]$text
    $data = [ordered]@{}
    $i = 0
    if ($x.Event.EventData) {
        foreach ($d in @($x.Event.EventData.ChildNodes)) {
            if ($d.LocalName -ne 'Data') { continue }
            $i++
            $name = $d.GetAttribute('Name')
            if (-not $name) { $name = "Data$i" }
            $data[$name] = $d.InnerText
        }
    }
    if ($x.Event.UserData) {
        # UserData (1102, 1149 …): its innermost elements by name.
        foreach ($n in @($x.Event.UserData.SelectNodes('.//*[not(*)]'))) { $data[$n.LocalName] = $n.InnerText }
    }
    $user = $null
    if ($WinEvent.UserId) { $user = [string]$WinEvent.UserId.Value }
    [pscustomobject][ordered]@{
        channel = [string]$WinEvent.LogName
        provider = [string]$WinEvent.ProviderName
        eventId = [int]$WinEvent.Id
        time = $WinEvent.TimeCreated
        computer = [string]$WinEvent.MachineName
        recordId = [long]$WinEvent.RecordId
        level = $(if ($null -ne $WinEvent.Level) { [int]$WinEvent.Level } else { $null })
        user = $user
        processId = $WinEvent.ProcessId
        threadId = $WinEvent.ThreadId
        data = [pscustomobject]$data
        xml = $(if ($Params.KeepXml) { $text } else { $null })
    }
}

foreach ($s in $sources) {
    if ($wanted.Count -and $wanted -notcontains $s.log) { continue }
    $filter = @{ LogName = $s.log; Id = $s.ids; StartTime = $start }
    try {
        Get-WinEvent -FilterHashtable $filter -MaxEvents ([int]$Params.MaxEvents) -ErrorAction Stop | ForEach-Object { ConvertFrom-MagpieEvent $_ }
    } catch {
        $id = [string]$_.FullyQualifiedErrorId
        if ($id -like 'NoMatchingEventsFound*') { continue }
        if ($id -like 'NoMatchingLogsFound*') { Write-Warning "$($s.log): this host has no such log"; continue }
        Write-Error -Message "cannot read the $($s.log) log: $($_.Exception.Message)" -ErrorAction Continue
    }
}
