#!/usr/bin/env bash
# Private single-node Slurm (munged + slurmctld + slurmd, all as root) under STATE_DIR.
# Usage: slurm-up.sh [STATE_DIR]   (default ${SWEEPFIT_SLURM_DIR:-/tmp/sweepfit-slurm})
set -euo pipefail

S=$(realpath -m "${1:-${SWEEPFIT_SLURM_DIR:-/tmp/sweepfit-slurm}}")
CONF=$S/slurm.conf
M=$S/munge
export SLURM_CONF=$CONF

# $1 pid file, $2 command name (so a stale pid file with a recycled pid doesn't count).
alive() { [[ -f $1 && $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]; }
host=$(hostname -s)
# Ready = node IDLE *and* registered by the running slurmd: sinfo alone shows the idle state
# recovered from StateSaveLocation even while slurmd is dead.
node_ready() {
  local boot node
  boot=$(scontrol show slurmd 2>/dev/null | sed -n 's/^Boot time *= *//p') && [[ -n $boot ]] &&
    node=$(scontrol -o show node "$host" 2>/dev/null) &&
    [[ $node == *" State=IDLE "* && $node == *"SlurmdStartTime=$boot "* ]]
}
logs() {
  for f in "$M/munged.log" "$S/slurmctld.log" "$S/slurmd.log"; do
    echo "--- tail $f" >&2; tail -n 20 "$f" >&2 2>/dev/null || true
  done
}
trap 'echo "ERROR: slurm-up failed at line $LINENO" >&2; logs' ERR
finish() {
  printf 'export SLURM_CONF=%s\nexport SWEEPFIT_SLURM_DIR=%s\n' "$CONF" "$S" >"$S/env.sh"
  echo "export SLURM_CONF=$CONF"
}

if alive "$S/slurmctld.pid" slurmctld && alive "$S/slurmd.pid" slurmd && node_ready; then
  echo "slurm already up in $S"
  finish
  exit 0
fi

pkgs=(slurmctld slurmd slurm-client munge)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
   ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # Recommends (extra plugins, -dev packages) aren't needed; wait out other apt users' locks.
  apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
  # Refresh package lists only if the cached ones can't satisfy the install.
  "${apt[@]}" install --no-install-recommends "${pkgs[@]}" ||
    { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${pkgs[@]}"; }
fi

mkdir -p "$S/state" "$S/spool" "$M"
chmod 755 "$M"   # munged wants o+x on the socket dir and no group/other write on the key
[[ -f $M/munge.key ]] || { dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none; chmod 400 "$M/munge.key"; }

# First line of `slurmd -C`, e.g. "NodeName=x CPUs=2 Boards=1 ... RealMemory=24105"; keep the
# socket/core layout too so slurmd doesn't log a reconfiguration.
hw=$(slurmd -C); hw=${hw%%$'\n'*}; hw=${hw#NodeName=* }
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")

cat >"$CONF" <<EOF
ClusterName=sweepfit-dev
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket
# No systemd/cgroups in containers: track processes via /proc, no task confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Schedule per CPU so several 1-CPU jobs share the node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
NodeName=$host $hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

# Daemons get /dev/null stdio so callers capturing our output don't hang on inherited pipes.
if ! alive "$M/munged.pid" munged; then
  munged --socket="$M/munge.socket" --key-file="$M/munge.key" --pid-file="$M/munged.pid" \
    --log-file="$M/munged.log" --seed-file="$M/munged.seed" </dev/null >/dev/null 2>&1
fi
alive "$S/slurmctld.pid" slurmctld || slurmctld -f "$CONF" </dev/null >/dev/null 2>&1
alive "$S/slurmd.pid" slurmd || slurmd -f "$CONF" </dev/null >/dev/null 2>&1

for _ in $(seq 120); do
  if node_ready; then echo "slurm up in $S (node $host, $cpus CPUs, ${mem} MB)"; finish; exit 0; fi
  sleep 0.5
done
trap - ERR
echo "ERROR: node $host not ready after 60 s; sinfo: $(sinfo -h -N 2>&1 || true)" >&2
logs
exit 1
