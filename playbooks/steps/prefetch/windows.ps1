# prefetch (Windows): one file record per C:\Windows\Prefetch\*.pf, with the run count and last
# run times read from the file (format: libscca's "Windows Prefetch File (PF) format"). Windows 10
# and 11 files are MAM-compressed (Xpress Huffman), decompressed with ntdll's RtlDecompressBufferEx
# through a small Add-Type; where that fails, the file system's facts with parsed false.
$dir = [string]$Params.PrefetchPath
if (-not $dir) {
    $root = $(if ($env:SystemRoot) { $env:SystemRoot } else { 'C:\Windows' })
    $dir = "$root\Prefetch"
}
$sep = $(if ($dir -match '^[A-Za-z]:\\|^\\\\') { '\' } else { [IO.Path]::DirectorySeparatorChar })
$files = @()
try { $files = @(Get-ChildItem -LiteralPath $dir -File -Force -Filter '*.pf' -ErrorAction Stop) }
catch {
    if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw "cannot list ${dir}: $($_.Exception.Message)" }
}
if (-not $files.Count) {
    $setting = $null
    try {
        $k = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, [Microsoft.Win32.RegistryView]::Default).OpenSubKey('SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management\PrefetchParameters', $false)
        if ($k) { $setting = $k.GetValue('EnablePrefetcher') }
    } catch { $null = $_ }
    $why = $(if ($null -eq $setting) { 'EnablePrefetcher not readable; Windows Server does not prefetch by default' } elseif ([int]$setting -eq 0) { 'EnablePrefetcher is 0: prefetching is off on this host' } else { "EnablePrefetcher is $setting" })
    Write-Warning "no prefetch files in ${dir} ($why)"
    return
}

# The fields of the uncompressed file (SCCA) by format version: where the last run time(s) and the
# run count are, counted from the start of the file (the 84-byte header, then the file information).
function Read-MagpieScca([byte[]]$Bytes) {
    if ($Bytes.Length -lt 84 -or [Text.Encoding]::ASCII.GetString($Bytes, 4, 4) -ne 'SCCA') { throw 'not a prefetch file (no SCCA signature)' }
    $version = [BitConverter]::ToUInt32($Bytes, 0)
    $name = [Text.Encoding]::Unicode.GetString($Bytes, 16, 60)
    $end = $name.IndexOf([char]0)
    if ($end -ge 0) { $name = $name.Substring(0, $end) }
    $times = 0; $timesAt = 0; $countAt = 0
    switch ($version) {
        17 { $timesAt = 120; $times = 1; $countAt = 144 }
        23 { $timesAt = 128; $times = 1; $countAt = 152 }
        26 { $timesAt = 128; $times = 8; $countAt = 208 }
        { $_ -eq 30 -or $_ -eq 31 } {
            # Two layouts of the file information, told apart by where the metrics array starts:
            # 0x130 (220 bytes, run count at 124 in it) and 0x128 (212 bytes, run count at 116).
            $timesAt = 128; $times = 8
            $metrics = $(if ($Bytes.Length -ge 88) { [BitConverter]::ToUInt32($Bytes, 84) } else { 0 })
            if ($metrics -eq 0x130) { $countAt = 208 } elseif ($metrics -eq 0x128) { $countAt = 200 }
            else { throw ('format version {0} with a file information of unknown layout (metrics at 0x{1:x})' -f $version, $metrics) }
        }
        default { throw "unknown format version $version" }
    }
    if ($Bytes.Length -lt $countAt + 4) { throw "format version ${version}: the file ends inside its header ($($Bytes.Length) bytes)" }
    $runs = @(for ($i = 0; $i -lt $times; $i++) {
        $ft = [BitConverter]::ToInt64($Bytes, $timesAt + 8 * $i)
        # 0: not set; before 1970 or beyond year 9999: not a time (remnant data).
        if ($ft -gt 0x01A8E79FE1D58000 -and $ft -lt 0x24C85A5ED1C04000) { ConvertTo-MagpieTime ([DateTime]::FromFileTimeUtc($ft)) }
    })
    [pscustomobject]@{
        version = [int]$version
        program = $name
        hash = ('{0:X8}' -f [BitConverter]::ToUInt32($Bytes, 76))
        runCount = [long][BitConverter]::ToUInt32($Bytes, $countAt)
        lastRuns = $runs
    }
}

$script:xpress = $null # $true once RtlDecompressBufferEx is reachable; else the reason it is not
function Expand-MagpieMam([byte[]]$Bytes) {
    # MAM\x04: uncompressed size at 4, the Xpress Huffman data at 8 (at 12 after a CRC32 when the
    # signature's last byte has 0x80 set).
    if ($null -eq $script:xpress) {
        $doing = 'Add-Type'
        try {
            if (-not ('MagpiePrefetchXpress' -as [type])) {
                Add-Type -ErrorAction Stop -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
public static class MagpiePrefetchXpress {
    [DllImport("ntdll.dll")]
    static extern uint RtlGetCompressionWorkSpaceSize(ushort format, out uint bufferWorkSpaceSize, out uint fragmentWorkSpaceSize);
    [DllImport("ntdll.dll")]
    static extern uint RtlDecompressBufferEx(ushort format, byte[] uncompressed, int uncompressedSize, byte[] compressed, int compressedSize, out int finalSize, byte[] workSpace);
    const ushort XpressHuffman = 4;
    public static uint WorkSpaceSize() {
        uint bufferWs, fragmentWs;
        uint status = RtlGetCompressionWorkSpaceSize(XpressHuffman, out bufferWs, out fragmentWs);
        if (status != 0) throw new InvalidOperationException(String.Format("RtlGetCompressionWorkSpaceSize: NTSTATUS 0x{0:X8}", status));
        return bufferWs;
    }
    public static byte[] Expand(byte[] compressed, int size) {
        byte[] output = new byte[size];
        int finalSize;
        uint status = RtlDecompressBufferEx(XpressHuffman, output, size, compressed, compressed.Length, out finalSize, new byte[WorkSpaceSize()]);
        if (status != 0) throw new InvalidOperationException(String.Format("RtlDecompressBufferEx: NTSTATUS 0x{0:X8}", status));
        if (finalSize != size) throw new InvalidOperationException(String.Format("RtlDecompressBufferEx gave {0} bytes of {1}", finalSize, size));
        return output;
    }
}
'@
            }
            # Loads ntdll now (Windows 8 and later have both functions), so a host without it fails here, once.
            $doing = 'ntdll RtlGetCompressionWorkSpaceSize'
            $null = [MagpiePrefetchXpress]::WorkSpaceSize()
            $script:xpress = $true
        } catch {
            $e = $_.Exception
            while ($e.InnerException) { $e = $e.InnerException }
            $script:xpress = "cannot decompress Windows 10/11 prefetch files (MAM, Xpress Huffman) here: ${doing}: $($e.Message)"
        }
    }
    if ($script:xpress -ne $true) { return $null }
    $size = [int][BitConverter]::ToUInt32($Bytes, 4)
    $at = $(if ($Bytes[3] -band 0x80) { 12 } else { 8 })
    $data = New-Object byte[] ($Bytes.Length - $at)
    [Array]::Copy($Bytes, $at, $data, 0, $data.Length)
    # The comma: one byte[] out, not its bytes one by one.
    , [MagpiePrefetchXpress]::Expand($data, $size)
}

$unparsed = 0
foreach ($f in $files | Sort-Object -Property Name) {
    $path = "$dir$sep$($f.Name)"
    $program = $null; $hash = $null
    if ($f.Name -match '^(.+)-([0-9A-Fa-f]{8})\.pf$') { $program = $Matches[1]; $hash = $Matches[2].ToUpperInvariant() }
    $rec = [ordered]@{
        source = 'prefetch'; path = $path; name = $f.Name; program = $program; prefetchHash = $hash
        size = [long]$f.Length; created = ConvertTo-MagpieTime $f.CreationTimeUtc; modified = ConvertTo-MagpieTime $f.LastWriteTimeUtc
        parsed = $false; compressed = $null; formatVersion = $null; runCount = $null; lastRun = $null; lastRuns = @(); error = $null
    }
    try {
        $bytes = [IO.File]::ReadAllBytes($f.FullName)
        if ($bytes.Length -ge 8 -and $bytes[0] -eq 0x4D -and $bytes[1] -eq 0x41 -and $bytes[2] -eq 0x4D -and ($bytes[3] -band 0x7F) -eq 4) {
            $rec.compressed = $true
            $bytes = Expand-MagpieMam $bytes
        } else { $rec.compressed = $false }
        if ($null -eq $bytes) { $unparsed++ }
        else {
            $s = Read-MagpieScca $bytes
            # The name in the file is the program's (at most 29 characters), as it ran.
            if ($s.program) { $rec.program = $s.program }
            if (-not $rec.prefetchHash) { $rec.prefetchHash = $s.hash }
            $rec.formatVersion = $s.version; $rec.runCount = $s.runCount
            $rec.lastRuns = @($s.lastRuns); $rec.lastRun = @($s.lastRuns)[0]
            $rec.parsed = $true
        }
    } catch {
        $rec.error = $_.Exception.Message
        Write-Warning "${path}: $($rec.error)"
    }
    [pscustomobject]$rec
}
if ($unparsed) { Write-Warning "$unparsed of $($files.Count) prefetch files not parsed (parsed false, file system times only): $script:xpress" }
