# processes (Windows): Win32_Process for command lines and parents, Get-Process for owners,
# Get-FileHash and Get-AuthenticodeSignature once per distinct image.
$owners = @{}
try {
    # -IncludeUserName needs administrator rights; without them owners stay empty (said in stderr).
    foreach ($gp in @(Get-Process -IncludeUserName -ErrorAction Stop)) { $owners[[int]$gp.Id] = $gp.UserName }
} catch { Write-Warning "process owners not collected: $($_.Exception.Message)" }

$images = @{}
$procs = New-Object System.Collections.Generic.List[object]
foreach ($wp in @(Get-CimInstance -ClassName Win32_Process)) {
    $procId = [int]$wp.ProcessId
    $path = $wp.ExecutablePath
    if ($path -and -not $images.ContainsKey($path)) { $images[$path] = [pscustomobject]@{ sha256 = $null; md5 = $null; status = $null; signer = $null } }
    $start = $null
    if ($wp.CreationDate) { $start = ([datetime]$wp.CreationDate).ToUniversalTime() }
    # CPU time so far (kernel + user, in 100 ns units): a miner has burnt hours of it.
    $cpu = $null
    if ($null -ne $wp.KernelModeTime -and $null -ne $wp.UserModeTime) { $cpu = [math]::Round(([double]$wp.KernelModeTime + [double]$wp.UserModeTime) / 1e7, 2) }
    $procs.Add([pscustomobject]@{
        pid             = $procId
        ppid            = [int]$wp.ParentProcessId
        name            = $wp.Name
        path            = $path
        commandLine     = $wp.CommandLine
        user            = $(if ($owners.ContainsKey($procId)) { $owners[$procId] } else { $null })
        startTime       = $start
        sha256          = $null
        md5             = $null
        signatureStatus = $null
        signer          = $null
        signed          = $null
        sessionId       = [int]$wp.SessionId
        cpuSeconds      = $cpu
        # Open handles (Win32_Process HandleCount): thousands in a process that holds many files or keys open.
        handles         = $(if ($null -ne $wp.HandleCount) { [long]$wp.HandleCount } else { $null })
    })
}
foreach ($path in @($images.Keys)) {
    $img = $images[$path]
    if ($Params.HashImages) {
        try {
            $img.sha256 = (Get-FileHash -LiteralPath $path -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()
            # MD5 too: responders paste it into VirusTotal and older IOC lists carry only MD5.
            $img.md5 = (Get-FileHash -LiteralPath $path -Algorithm MD5 -ErrorAction Stop).Hash.ToLowerInvariant()
        } catch { Write-Warning "cannot hash ${path}: $($_.Exception.Message)" }
    }
    if ($Params.CheckSignatures) {
        try {
            $sig = Get-AuthenticodeSignature -LiteralPath $path -ErrorAction Stop
            $img.status = [string]$sig.Status
            if ($sig.SignerCertificate) { $img.signer = $sig.SignerCertificate.Subject }
        } catch { $img.status = 'UnknownError'; Write-Warning "cannot check the signature of ${path}: $($_.Exception.Message)" }
    }
}
foreach ($p in $procs) {
    if ($p.path) {
        $img = $images[$p.path]
        $p.sha256 = $img.sha256
        $p.md5 = $img.md5
        $p.signatureStatus = $img.status
        $p.signer = $img.signer
        $p.signed = $(if ($img.status) { $img.status -eq 'Valid' } else { $null })
    }
    $p
}
