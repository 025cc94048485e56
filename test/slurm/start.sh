#!/usr/bin/env bash
# Starts a single-node Slurm cluster for tests and for trying the recipes in examples/slurm on one machine: its own
# munged (own key and socket), slurmctld and slurmd, every file under DIR (config, state, spool, logs, pid files),
# on free ports, so it touches nothing of the host's and two clusters can run side by side. Needs root and Debian's
# slurmctld, slurmd, munge and slurm-client packages. Prints the slurm.conf path; point SLURM_CONF at it.
#   test/slurm/start.sh DIR     then: SLURM_CONF=DIR/slurm.conf sbatch ...     stop: test/slurm/stop.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "start.sh: needs root (slurmd runs jobs as any user; munged and the daemons run as root here)" >&2; exit 3; }
for tool in munged mungekey slurmctld slurmd sbatch sinfo; do
  command -v "$tool" >/dev/null || { echo "start.sh: $tool not found: apt-get install slurmctld slurmd munge slurm-client" >&2; exit 3; }
done

dir=$(realpath -m "$1")
mkdir -p "$dir"/{state,spool,log,run}
chmod 700 "$dir/run"

# A port nothing listens on, from a random start, so clusters of parallel test runs do not collide.
free_port() {
  local port=$(( 20000 + RANDOM % 20000 ))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || [ "$port" = "${taken:-}" ]; do port=$((port + 1)); done
  echo "$port"
}
ctld_port=$(free_port); taken=$ctld_port
slurmd_port=$(free_port)

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
socket="$dir/run/munge.socket"
conf="$dir/slurm.conf"
cat > "$conf" <<CONF
ClusterName=expgen-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
MinJobAge=300
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

[ -f "$dir/munge.key" ] || mungekey --create --keyfile="$dir/munge.key"
munged --force --socket="$socket" --key-file="$dir/munge.key" --pid-file="$dir/run/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/run/munged.seed"
export SLURM_CONF="$conf"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 1 100); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then echo "$conf"; exit 0; fi
  sleep 0.2
done
echo "start.sh: Slurm did not come up within 20 s: see $dir/log" >&2
exit 1
