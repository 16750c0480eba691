// The prelude writes every date as ISO 8601 UTC. The recorded Windows hosts carry UTC dates and
// CI runs in UTC, so local time is exercised here: a real step on a host whose zone is UTC+8.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { cli, pwshOrFail, readJsonl, teamPlaybook, tempDir } from './helpers.ts';

pwshOrFail();

test('local, unspecified and UTC dates become the exact UTC instant on a UTC+8 host', () => {
  const run = [
    // The host must really be in Shanghai's zone, or this test proves nothing.
    "[pscustomobject]@{ what = 'zone'; id = [TimeZoneInfo]::Local.Id; offset = [int][TimeZoneInfo]::Local.BaseUtcOffset.TotalMinutes }",
    "[pscustomobject]@{ what = 'local'; t = [datetime]::new(2025, 1, 2, 3, 4, 5, 678, [DateTimeKind]::Local) }",
    // Unspecified is what most parsed strings give (Task Scheduler dates, registry text): local time.
    "[pscustomobject]@{ what = 'unspecified'; t = [datetime]::new(2025, 1, 2, 3, 4, 5) }",
    "[pscustomobject]@{ what = 'utc'; t = [datetime]::new(2025, 1, 2, 3, 4, 5, [DateTimeKind]::Utc) }",
    // Hashtables are records too; Get-Date -Date of a text with an offset is one more local date.
    "@{ what = 'hashtable'; t = [datetime]::new(2025, 7, 1, 0, 0, 0, [DateTimeKind]::Local) }",
    "[pscustomobject]@{ what = 'get-date'; t = Get-Date -Date '2025-12-31T23:59:59.5+00:00' }",
  ].join('\n');
  const book = teamPlaybook('dates', [{ id: 'dates', run }]);
  const r = cli(['run', 'dates', '--playbooks', book, '--out', tempDir()], { env: { TZ: 'Asia/Shanghai' } });
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const by = Object.fromEntries(readJsonl(join(dir, 'steps', '01-dates', 'records.jsonl')).map((x) => [x.what, x]));
  assert.equal([by.zone.id, by.zone.offset], ['Asia/Shanghai', 480]);
  assert.is(by.local.t, '2025-01-01T19:04:05.678Z');
  assert.is(by.unspecified.t, '2025-01-01T19:04:05.000Z');
  assert.is(by.utc.t, '2025-01-02T03:04:05.000Z');
  assert.is(by.hashtable.t, '2025-06-30T16:00:00.000Z');
  assert.is(by['get-date'].t, '2025-12-31T23:59:59.500Z');
});

test.run();
