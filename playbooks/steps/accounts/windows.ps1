# accounts (Windows): local users, local group members, sessions (quser), cached profiles.
# Names and descriptions are data: they are compared and written out, never part of a command.
$now = [datetime]::UtcNow
$recentSince = $now.AddDays(-30)
$computer = [string]$env:COMPUTERNAME

function Get-AccountsSidText($Value) {
    # A SecurityIdentifier (Get-Local*) has .Value; CIM gives the text.
    if ($null -eq $Value) { return $null }
    $v = $Value.Value
    if ($v) { return [string]$v }
    return [string]$Value
}

function Get-AccountsRid([string]$Sid) {
    if ($Sid -match '^S-1-5-21-\d+-\d+-\d+-(\d+)$') { return [long]$Matches[1] }
    return $null
}

function Get-AccountsUtc($Value) {
    if ($null -eq $Value) { return $null }
    return ([datetime]$Value).ToUniversalTime()
}

function Get-AccountsEditDistance([string]$A, [string]$B) {
    $prev = New-Object 'int[]' ($B.Length + 1)
    for ($j = 0; $j -le $B.Length; $j++) { $prev[$j] = $j }
    for ($i = 1; $i -le $A.Length; $i++) {
        $cur = New-Object 'int[]' ($B.Length + 1)
        $cur[0] = $i
        for ($j = 1; $j -le $B.Length; $j++) {
            $cost = $(if ($A[$i - 1] -eq $B[$j - 1]) { 0 } else { 1 })
            $cur[$j] = [Math]::Min([Math]::Min($prev[$j] + 1, $cur[$j - 1] + 1), $prev[$j - 1] + $cost)
        }
        $prev = $cur
    }
    return $prev[$B.Length]
}

# Built-in account names and the RID the real one has (0: never a local user of that name).
$builtinNames = [ordered]@{
    administrator = 500; guest = 501; krbtgt = 502; defaultaccount = 503; wdagutilityaccount = 504
    system = 0; localsystem = 0; localservice = 0; networkservice = 0; trustedinstaller = 0
}
function Test-AccountsLookalike([string]$Name, $Rid) {
    # One edit (a digit for a letter, a letter added or left out, a trailing $) from a built-in
    # account's name, or its very name on an account that is not the built-in one.
    $n = $Name.ToLowerInvariant()
    foreach ($b in $builtinNames.Keys) {
        $real = $builtinNames[$b]
        if ($n -eq $b) {
            if ($real -ne 0 -and $Rid -eq $real) { return $false }
            return $true
        }
        if ((Get-AccountsEditDistance $n $b) -le 1) { return $true }
        if ($n.TrimEnd('$') -ne $n -and (Get-AccountsEditDistance $n.TrimEnd('$') $b) -le 1) { return $true }
    }
    return $false
}

function Get-AccountsPrincipalSource([string]$Domain, [string]$Sid) {
    # What Get-LocalGroupMember reports, for members read through CIM.
    if ($Domain -and $computer -and $Domain -eq $computer) { return 'Local' }
    if ($Domain -eq 'AzureAD' -or $Sid -like 'S-1-12-1-*') { return 'AzureAD' }
    if ($Domain -eq 'MicrosoftAccount') { return 'MicrosoftAccount' }
    if ($Sid -like 'S-1-5-21-*' -and $Domain) { return 'ActiveDirectory' }
    return 'Unknown'
}

# ---- sessions: quser (the most volatile first) ------------------------------------------
function ConvertFrom-AccountsQuser([string[]]$Lines) {
    # quser prints fixed-width columns under a header whose words follow the display language:
    #  USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME
    # >administrator         console             1  Active      none   11/26/2026 9:14 AM
    #  support$                                  2  Disc     1+02:03  11/26/2026 10:02 PM
    # The user name fills the first column (">" marks the caller's session); the session name
    # starts under the header's second word and is empty for a disconnected session; ID, state
    # and idle time are single words; the logon time (the host's culture) is the rest.
    $rows = @($Lines | Where-Object { $_ -and $_.Trim() })
    if (-not $rows.Count) { return }
    $sessionCol = 23
    $data = $rows
    if ($rows[0] -notmatch '\s\d+\s+\S+\s+\S+\s+\S') {
        $h = [regex]::Match($rows[0], '^\s*>?\S+\s+(\S)')
        if ($h.Success -and $h.Groups[1].Index -ge 12 -and $h.Groups[1].Index -le 30) { $sessionCol = $h.Groups[1].Index }
        $data = @($rows | Select-Object -Skip 1)
    }
    $tail = '^(?<session>\S*)\s+(?<id>\d+)\s+(?<state>\S+)\s+(?<idle>\S+)\s+(?<logon>\S.*?)\s*$'
    foreach ($line in $data) {
        $user = $null; $m = $null
        if ($line.Length -gt $sessionCol -and $line[$sessionCol - 1] -eq ' ') {
            $user = $line.Substring(1, $sessionCol - 1).Trim()
            $m = [regex]::Match($line.Substring($sessionCol), $tail)
        }
        if (-not $m -or -not $m.Success -or -not $user) {
            # Not aligned as the header says: a user name without spaces, then the same tail.
            $m = [regex]::Match($line.Substring(1), '^(?<user>\S+)\s+' + $tail.Substring(1))
            if (-not $m.Success) { Write-Warning "quser: a line not understood, left out: $line"; continue }
            $user = $m.Groups['user'].Value
        }
        $session = $m.Groups['session'].Value
        $state = $m.Groups['state'].Value
        $idle = $m.Groups['idle'].Value
        $idleMinutes = 0
        if ($idle -match '^(?:(\d+)\+)?(\d+):(\d+)$') {
            $idleMinutes = [int]$Matches[2] * 60 + [int]$Matches[3]
            if ($Matches[1]) { $idleMinutes += [int]$Matches[1] * 1440 }
        } elseif ($idle -match '^\d+$') { $idleMinutes = [int]$idle }
        # '.' (under a minute), 'none' and its translations: not idle.
        $logonText = $m.Groups['logon'].Value
        $logon = [datetime]::MinValue
        $parsed = [datetime]::TryParse($logonText, [Globalization.CultureInfo]::CurrentCulture, [Globalization.DateTimeStyles]::AssumeLocal, [ref]$logon)
        [pscustomobject][ordered]@{
            type = 'session'; source = 'quser'; user = $user; sessionName = $(if ($session) { $session } else { $null })
            id = [int]$m.Groups['id'].Value; state = $state
            disconnected = (-not $session) -or ($state -match '^(Disc|Getr|D.co|Desc|Disco|Odp|Roz)')
            current = ($line[0] -eq '>'); rdp = ($session -like 'rdp-tcp*')
            idle = $idle; idleMinutes = $idleMinutes
            logonTime = $(if ($parsed) { $logon } else { $null }); logonTimeText = $logonText
        }
    }
}

# 32-bit PowerShell on 64-bit Windows has no quser.exe in its System32 (SysWOW64): Sysnative.
$quser = $(if (Get-Command quser.exe -ErrorAction SilentlyContinue) { 'quser.exe' } elseif ([IO.File]::Exists("$env:SystemRoot\Sysnative\quser.exe")) { "$env:SystemRoot\Sysnative\quser.exe" } else { $null })
if ($quser) {
    $global:LASTEXITCODE = 0
    $out = @(& $quser 2>&1 | ForEach-Object { [string]$_ })
    $code = $LASTEXITCODE
    if ($code -and @($out | Where-Object { $_ -match '\s\d+\s' }).Count -eq 0) {
        # "No User exists for *" (exit 1): nobody is logged on.
        if (-not (@($out | Where-Object { $_ -match '\*' }).Count)) { Write-Error -Message "cannot list sessions (quser exited with $code): $(($out | Where-Object { $_ }) -join ' ')" -ErrorAction Continue }
    } else {
        ConvertFrom-AccountsQuser $out
    }
} else {
    Write-Warning 'sessions not read: quser.exe is not on this host (Home editions lack it)'
}

# ---- creation and group additions from the Security log (4720, 4732) ---------------------
$createdBySid = @{}
$addedByPair = @{}
try {
    foreach ($ev in @(Get-WinEvent -FilterHashtable @{ LogName = 'Security'; Id = @(4720, 4732) } -MaxEvents 5000 -ErrorAction Stop)) {
        $x = [xml]$ev.ToXml()
        $d = @{}
        foreach ($n in @($x.Event.EventData.ChildNodes)) { if ($n.LocalName -eq 'Data') { $d[$n.GetAttribute('Name')] = $n.InnerText } }
        $t = Get-AccountsUtc $ev.TimeCreated
        # Newest first: the oldest creation of a SID and the newest addition of a member win.
        if ([int]$ev.Id -eq 4720 -and $d['TargetSid']) { $createdBySid[$d['TargetSid']] = $t }
        if ([int]$ev.Id -eq 4732 -and $d['TargetSid'] -and $d['MemberSid']) {
            $key = "$($d['TargetSid'])|$($d['MemberSid'])"
            if (-not $addedByPair.ContainsKey($key)) { $addedByPair[$key] = $t }
        }
    }
} catch {
    if ([string]$_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') {
        Write-Warning "account creation and group addition times not read (Security log, events 4720 and 4732): $($_.Exception.Message)"
    }
}

# ---- users --------------------------------------------------------------------------------
$users = New-Object System.Collections.Generic.List[object]
function Add-AccountsUser([hashtable]$u) {
    $sid = $u.sid
    $rid = Get-AccountsRid $sid
    $created = $null
    if ($sid -and $createdBySid.ContainsKey($sid)) { $created = $createdBySid[$sid] }
    $rec = [pscustomobject][ordered]@{
        type = 'user'; source = $u.source; name = $u.name; fullName = $u.fullName; sid = $sid; rid = $rid
        enabled = $u.enabled; description = $u.description
        lastLogon = $u.lastLogon; passwordLastSet = $u.passwordLastSet; passwordExpires = $u.passwordExpires
        passwordNeverExpires = $u.passwordNeverExpires; passwordNotRequired = $u.passwordNotRequired
        userMayChangePassword = $u.userMayChangePassword; accountExpires = $u.accountExpires; lockedOut = $u.lockedOut
        principalSource = $u.principalSource
        created = $created; createdSource = $(if ($created) { 'Security 4720' } else { $null })
        recentlyCreated = $(if ($created) { $created -ge $recentSince } else { $null })
        hiddenName = ([string]$u.name).EndsWith('$')
        lookalikeName = (Test-AccountsLookalike ([string]$u.name) $rid)
    }
    $users.Add($rec)
    $rec
}

$usersRead = $false
if (Get-Command Get-LocalUser -ErrorAction SilentlyContinue) {
    try {
        $all = @(Get-LocalUser -ErrorAction Stop)
        $usersRead = $true
        foreach ($u in $all) {
            Add-AccountsUser @{
                source = 'Get-LocalUser'; name = [string]$u.Name; fullName = [string]$u.FullName; sid = (Get-AccountsSidText $u.SID)
                enabled = [bool]$u.Enabled; description = [string]$u.Description
                lastLogon = (Get-AccountsUtc $u.LastLogon); passwordLastSet = (Get-AccountsUtc $u.PasswordLastSet); passwordExpires = (Get-AccountsUtc $u.PasswordExpires)
                # Get-LocalUser leaves PasswordExpires empty when the password never expires.
                passwordNeverExpires = ($null -eq $u.PasswordExpires); passwordNotRequired = (-not $u.PasswordRequired)
                userMayChangePassword = [bool]$u.UserMayChangePassword; accountExpires = (Get-AccountsUtc $u.AccountExpires); lockedOut = $null
                principalSource = $(if ($null -ne $u.PrincipalSource) { [string]$u.PrincipalSource } else { 'Local' })
            }
        }
    } catch { Write-Warning "Get-LocalUser failed ($($_.Exception.Message)): local users read through Win32_UserAccount" }
}
if (-not $usersRead) {
    try {
        foreach ($u in @(Get-CimInstance -ClassName Win32_UserAccount -Filter 'LocalAccount = True' -ErrorAction Stop)) {
            Add-AccountsUser @{
                source = 'Win32_UserAccount'; name = [string]$u.Name; fullName = [string]$u.FullName; sid = [string]$u.SID
                enabled = (-not $u.Disabled); description = [string]$u.Description
                lastLogon = $null; passwordLastSet = $null; passwordExpires = $null
                passwordNeverExpires = (-not $u.PasswordExpires); passwordNotRequired = (-not $u.PasswordRequired)
                userMayChangePassword = [bool]$u.PasswordChangeable; accountExpires = $null; lockedOut = [bool]$u.Lockout
                principalSource = 'Local'
            }
        }
    } catch { Write-Error -Message "cannot read local users (Get-LocalUser, Win32_UserAccount): $($_.Exception.Message)" -ErrorAction Continue }
}
$userBySid = @{}
foreach ($u in $users) { if ($u.sid) { $userBySid[$u.sid] = $u } }

# ---- group members ------------------------------------------------------------------------
function New-AccountsMember([string]$Group, [string]$GroupSid, [string]$Member, [string]$Sid, [string]$Class, [string]$Source, [string]$Via) {
    $rid = Get-AccountsRid $Sid
    $local = $null
    if ($Sid -and $userBySid.ContainsKey($Sid)) { $local = $userBySid[$Sid] }
    $added = $null
    if ($Sid -and $addedByPair.ContainsKey("$GroupSid|$Sid")) { $added = $addedByPair["$GroupSid|$Sid"] }
    $name = $Member
    $domain = $null
    $i = $Member.IndexOf('\')
    if ($i -ge 0) { $domain = $Member.Substring(0, $i); $name = $Member.Substring($i + 1) }
    $isLocalUser = ($Source -eq 'Local' -and $Class -eq 'User')
    [pscustomobject][ordered]@{
        type = 'group-member'; source = $Via; group = $Group; groupSid = $GroupSid
        member = $Member; memberName = $name; memberDomain = $domain; memberSid = $(if ($Sid) { $Sid } else { $null }); memberRid = $rid
        memberClass = $Class; principalSource = $Source
        memberEnabled = $(if ($local) { $local.enabled } else { $null })
        memberCreated = $(if ($local) { $local.created } else { $null })
        recentlyCreated = $(if ($local) { $local.recentlyCreated } else { $null })
        hiddenName = $(if ($isLocalUser) { $name.EndsWith('$') } else { $null })
        lookalikeName = $(if ($isLocalUser) { Test-AccountsLookalike $name $rid } else { $null })
        added = $added; recentlyAdded = $(if ($added) { $added -ge $recentSince } else { $null })
    }
}

function Get-AccountsCimMembers($CimGroup, [string]$GroupSid) {
    # The group's members through the Win32_GroupUser association, as instances of
    # Win32_UserAccount, Win32_Group or Win32_SystemAccount (with their SIDs).
    foreach ($m in @(Get-CimAssociatedInstance -InputObject $CimGroup -Association Win32_GroupUser -ErrorAction Stop)) {
        $sid = [string]$m.SID
        $class = [string]$m.CimClass.CimClassName
        $kind = $(if ($class -eq 'Win32_UserAccount' -or [int]$m.SIDType -eq 1) { 'User' } else { 'Group' })
        New-AccountsMember ([string]$CimGroup.Name) $GroupSid "$($m.Domain)\$($m.Name)" $sid $kind (Get-AccountsPrincipalSource ([string]$m.Domain) $sid) 'Win32_GroupUser'
    }
}

$cimCache = @{}
function Get-AccountsCimGroups {
    if (-not $cimCache.ContainsKey('groups')) { $cimCache['groups'] = @(Get-CimInstance -ClassName Win32_Group -Filter 'LocalAccount = True' -ErrorAction Stop) }
    return $cimCache['groups']
}

$groupsRead = $false
if (Get-Command Get-LocalGroup -ErrorAction SilentlyContinue) {
    try {
        $groups = @(Get-LocalGroup -ErrorAction Stop)
        $groupsRead = $true
        foreach ($g in $groups) {
            $gsid = Get-AccountsSidText $g.SID
            try {
                $members = @(Get-LocalGroupMember -Group $g -ErrorAction Stop)
            } catch {
                # "Failed to compare two elements in the array." on a group holding a SID that no
                # longer resolves (a deleted domain account): the association still lists the rest.
                Write-Warning "Get-LocalGroupMember failed for $($g.Name) ($($_.Exception.Message)): its members read through Win32_GroupUser"
                try {
                    $cg = @(Get-AccountsCimGroups | Where-Object { [string]$_.SID -eq $gsid })
                    if (-not $cg.Count) { throw "no Win32_Group has the SID $gsid" }
                    Get-AccountsCimMembers $cg[0] $gsid
                } catch { Write-Error -Message "cannot read the members of $($g.Name): $($_.Exception.Message)" -ErrorAction Continue }
                continue
            }
            foreach ($m in $members) {
                $msid = Get-AccountsSidText $m.SID
                New-AccountsMember ([string]$g.Name) $gsid ([string]$m.Name) $msid ([string]$m.ObjectClass) ([string]$m.PrincipalSource) 'Get-LocalGroupMember'
            }
        }
    } catch { Write-Warning "Get-LocalGroup failed ($($_.Exception.Message)): local groups read through Win32_Group" }
}
if (-not $groupsRead) {
    try {
        foreach ($cg in @(Get-AccountsCimGroups)) {
            try { Get-AccountsCimMembers $cg ([string]$cg.SID) }
            catch { Write-Error -Message "cannot read the members of $($cg.Name): $($_.Exception.Message)" -ErrorAction Continue }
        }
    } catch { Write-Error -Message "cannot read local groups (Get-LocalGroup, Win32_Group): $($_.Exception.Message)" -ErrorAction Continue }
}

# ---- cached profiles ----------------------------------------------------------------------
try {
    foreach ($p in @(Get-CimInstance -ClassName Win32_UserProfile -ErrorAction Stop)) {
        $sid = [string]$p.SID
        $owner = $null
        if ($userBySid.ContainsKey($sid)) { $owner = $userBySid[$sid].name }
        [pscustomobject][ordered]@{
            type = 'profile'; source = 'Win32_UserProfile'; sid = $sid; rid = (Get-AccountsRid $sid); user = $owner
            path = [string]$p.LocalPath; lastUseTime = (Get-AccountsUtc $p.LastUseTime)
            loaded = [bool]$p.Loaded; special = [bool]$p.Special; roaming = [bool]$p.RoamingConfigured; status = $p.Status
        }
    }
} catch { Write-Error -Message "cannot read cached profiles (Win32_UserProfile): $($_.Exception.Message)" -ErrorAction Continue }
