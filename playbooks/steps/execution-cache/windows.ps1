# execution-cache (Windows): the Amcache hive with its transaction logs and the Shimcache
# (AppCompatCache) value, collected as files for parsing on the responder. The hive is locked by
# the system: esentutl /y SOURCE /vss /d DEST copies it from a Volume Shadow Copy (Windows 8 /
# Server 2012 and later). The logs are copied plainly first, through esentutl when locked. The
# registry value is read with RegistryKey and written byte for byte. Nothing on the host changes
# but the snapshot esentutl makes and removes.
$dir = [string]$Params.Folder
if (-not $dir) {
    $root = $(if ($env:SystemRoot) { $env:SystemRoot } else { 'C:\Windows' })
    $dir = "$root\AppCompat\Programs"
}
$dir = $dir.TrimEnd('\', '/')
$sep = $(if ($dir -match '^[A-Za-z]:\\|^\\\\') { '\' } else { [IO.Path]::DirectorySeparatorChar })

function New-CacheRecord([string]$Source, [string]$HostPath, [string]$Name, [string]$Method, $Modified) {
    $dest = [IO.Path]::Combine($OutDir, $Name)
    [pscustomobject][ordered]@{
        source = $Source; path = $HostPath; evidenceFile = $Name; method = $Method
        size = ([IO.FileInfo]::new($dest)).Length; sha256 = (Get-MagpieFileSha256 $dest); modified = $Modified
    }
}

$esentutlHelp = 'run the step as an administrator (esentutl /vss needs it); make sure the Volume Shadow Copy service is not disabled (Get-Service VSS: StartType Manual, not Disabled; Set-Service VSS -StartupType Manual) and the system volume has shadow storage (vssadmin list shadowstorage); esentutl /vss needs Windows 8 / Server 2012 or later (on older Windows collect the file with a raw NTFS reader such as KAPE or FTK Imager)'

function Copy-WithEsentutl([string]$Source, [string]$Dest) {
    # $null when the copy is there; else why not.
    try { $r = Invoke-MagpieCommand 'esentutl.exe' @('/y', $Source, '/vss', '/d', $Dest) }
    catch { return "esentutl.exe did not run: " + ($_.Exception.Message -replace '\s*[\r\n]+\s*', ' ').Trim() }
    if ($r.Code -eq 0 -and [IO.File]::Exists($Dest)) { return $null }
    # A partial copy is no evidence of anything: removed, and said.
    if ([IO.File]::Exists($Dest)) { Remove-Item -LiteralPath $Dest -Force -ErrorAction SilentlyContinue }
    $out = $(if ($r.Text) { ": $($r.Text)" } else { '' })
    "esentutl exit code $($r.Code)$out"
}

# ---- Amcache.hve and its transaction logs ----------------------------------------------------------
$hive = "$dir${sep}Amcache.hve"
if (-not [IO.File]::Exists($hive)) {
    Write-Warning "no Amcache.hve in ${dir}: Windows 7 and Server 2008 R2 without the compatibility updates keep RecentFileCache.bcf instead; nothing to copy"
} else {
    foreach ($name in @('Amcache.hve', 'Amcache.hve.LOG1', 'Amcache.hve.LOG2')) {
        $src = "$dir$sep$name"
        if (-not [IO.File]::Exists($src)) {
            if ($name -ne 'Amcache.hve') { Write-Information -MessageData "no $name beside the hive (a clean hive may have none)" }
            continue
        }
        $modified = $null
        try { $modified = ConvertTo-MagpieTime ([IO.File]::GetLastWriteTimeUtc($src)) } catch { $null = $_ }
        $dest = [IO.Path]::Combine($OutDir, $name)
        $method = $null
        if ($name -ne 'Amcache.hve') {
            # A log the system is not holding open copies as it is.
            Write-Information -MessageData "copy: $src"
            try {
                Copy-Item -LiteralPath $src -Destination $dest -Force -ErrorAction Stop
                $method = 'copy'
            } catch {
                Write-Information -MessageData "copy: ${src}: $($_.Exception.Message); through esentutl /vss instead"
                if ([IO.File]::Exists($dest)) { Remove-Item -LiteralPath $dest -Force -ErrorAction SilentlyContinue }
            }
        }
        if (-not $method) {
            $why = Copy-WithEsentutl $src $dest
            if ($why) {
                Write-Warning "${src} not collected ($why): $esentutlHelp"
                continue
            }
            $method = 'esentutl-vss'
        }
        New-CacheRecord $(if ($name -eq 'Amcache.hve') { 'amcache' } else { 'amcache-log' }) $src $name $method $modified
    }
}

# ---- Shimcache: the AppCompatCache value, byte for byte ----------------------------------------------
$keyPath = 'SYSTEM\CurrentControlSet\Control\Session Manager\AppCompatCache'
$hostPath = "HKLM\$keyPath\AppCompatCache"
$data = $null
try {
    $key = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Default).OpenSubKey($keyPath, $false)
    if (-not $key) { Write-Warning "no key HKLM\${keyPath}: no Shimcache on this host" }
    else {
        try {
            $data = $key.GetValue('AppCompatCache', $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
            if ($null -eq $data) { Write-Warning "no value ${hostPath}: the Shimcache is written at shutdown; a host not restarted since it was installed has none yet" }
            elseif ($key.GetValueKind('AppCompatCache') -ne [Microsoft.Win32.RegistryValueKind]::Binary) {
                Write-Warning "${hostPath} is $($key.GetValueKind('AppCompatCache')), not binary: not a Shimcache; not collected"
                $data = $null
            }
        } finally { $key.Close() }
    }
} catch {
    Write-Warning "cannot read ${hostPath}: $($_.Exception.Message); run the step as an administrator, or export it with reg.exe save HKLM\SYSTEM and parse the hive"
}
if ($null -ne $data) {
    [IO.File]::WriteAllBytes([IO.Path]::Combine($OutDir, 'AppCompatCache.bin'), [byte[]]$data)
    New-CacheRecord 'shimcache' $hostPath 'AppCompatCache.bin' 'registry' $null
}
