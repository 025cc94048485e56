#!/usr/bin/env bash
# Stops the daemons test/slurm/start.sh started under DIR, by their pid files, and waits until they are gone.
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$(realpath -m "$1")
for daemon in slurmd slurmctld munged; do
  file="$dir/run/$daemon.pid"
  [ -f "$file" ] || continue
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
exit 0
