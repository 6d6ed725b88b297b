#!/usr/bin/env bash
# Stop the private Slurm started by slurm-up.sh: cancel jobs, then stop daemons via their pid files.
# Usage: slurm-down.sh [STATE_DIR]   (default ${SWEEPFIT_SLURM_DIR:-/tmp/sweepfit-slurm})
set -euo pipefail

S=$(realpath -m "${1:-${SWEEPFIT_SLURM_DIR:-/tmp/sweepfit-slurm}}")
export SLURM_CONF=$S/slurm.conf

# Cancel jobs while slurmctld/slurmd can still clean them up.
# (Only if our slurmctld is alive: squeue against a dead controller retries for ~10 s.)
pidf=$S/slurmctld.pid
if [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null && jobs=$(squeue -h -o %A 2>/dev/null) && [[ -n $jobs ]]; then
  scancel $jobs || true
  for _ in $(seq 30); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.5; done
fi

# SIGTERM all three together (each takes 1-2 s to exit), then wait. The comm check guards
# against signalling a recycled pid from a stale pid file.
declare -A sent=()
for d in slurmd:slurmd slurmctld:slurmctld munge/munged:munged; do
  f=$S/${d%%:*}.pid name=${d##*:}
  [[ -f $f ]] || continue
  pid=$(cat "$f")
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then kill "$pid" && sent[$pid]=$name; fi
  rm -f "$f"
done
for pid in "${!sent[@]}"; do
  for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then echo "${sent[$pid]} ($pid) ignored SIGTERM for 20 s; SIGKILL" >&2; kill -9 "$pid"; fi
  echo "stopped ${sent[$pid]} ($pid)"
done
echo "slurm down in $S"
