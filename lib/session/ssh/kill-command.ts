// The command that stops a remote PowerShell and every process it started, sent on a second
// channel: closing the step's own channel would not stop a step that ignores its stdin.
import type { OsName } from '../../definitions.ts';

/**
 * Linux, as a script for `sh -s` (stdin, so no quoting and any login shell): the tree is read
 * from /proc/<pid>/stat by ppid (kernels without CONFIG_PROC_CHILDREN have no children file), plus
 * the process group the shell leads (sshd starts each session in its own), which keeps children
 * that were reparented. Frozen (SIGSTOP) twice so nothing forks between looking and killing.
 * A step that double-forks into a new session escapes, as it would escape any process-tree kill.
 */
function linuxKillScript(pid: number): string {
  return `p=${pid}
tree() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$p" '
    { s = $0; sub(/.*\\) /, "", s); split(s, f, " "); par[$1] = f[2]; grp[$1] = f[3] }
    END {
      n = 1; q[1] = root; out = root
      for (i = 1; i <= n; i++) for (c in par) if (par[c] == q[i] && c != q[i]) { q[++n] = c; out = out " " c }
      for (c in grp) if (grp[c] == root && index(" " out " ", " " c " ") == 0) out = out " " c
      print out
    }'
}
t=$(tree); kill -STOP $t 2>/dev/null
t=$(tree); kill -STOP $t 2>/dev/null
kill -KILL $t 2>/dev/null
echo MAGPIE-KILLED
`;
}

export function killTreeCommand(os: OsName, pid: number): { command: string; stdin?: string } {
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`refusing to stop process ${pid} on the target`);
  // taskkill /T takes the tree by parent pid, which Windows records for every process.
  if (os === 'windows') return { command: `taskkill /T /F /PID ${pid}` };
  return { command: 'sh -s', stdin: linuxKillScript(pid) };
}
