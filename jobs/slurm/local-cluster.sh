#!/usr/bin/env bash
# A one-machine Slurm cluster for trying the batch scripts (and for the tests):
#   eval "$(bash jobs/slurm/local-cluster.sh start DIR)"   # exports SLURM_CONF
#   sbatch --wait ...
#   bash jobs/slurm/local-cluster.sh stop DIR
# Needs the Debian packages slurm-wlm and munge. Daemons run as the current
# user with state, logs and sockets under DIR; nothing system-wide is touched.
set -euo pipefail
cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=${2:?usage: local-cluster.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

stop_pid() { [[ -f "$1" ]] && kill "$(cat "$1")" 2>/dev/null || true; rm -f "$1"; }

if [[ $cmd == stop ]]; then
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
  exit 0
fi
[[ $cmd == start ]] || { echo "usage: local-cluster.sh start|stop DIR" >&2; exit 2; }

user=$(id -un)
# Not nproc: it honours OMP_NUM_THREADS, which says nothing about the node.
cpus=$(getconf _NPROCESSORS_ONLN)
mem=$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)
# Two adjacent ports that no socket of this machine holds, below the kernel's
# ephemeral range: a port inside that range can be taken at any moment by an
# outgoing connection (MPI's, a browser's), and slurmd then fails to bind.
in_use() {
  local f local_addr
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] || continue
    while read -r _ local_addr _; do
      [[ $local_addr == *:* ]] || continue
      [[ $((16#${local_addr##*:})) -eq $1 ]] && return 0
    done < "$f"
  done
  return 1
}
pick_port() {
  local lo p
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  (( lo > 12000 )) || lo=32768
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (lo - 10002)))
    in_use $p || in_use $((p + 1)) || { echo $p; return 0; }
  done
  echo "local-cluster: no free pair of ports found below $lo" >&2
  return 1
}
write_conf() {
  local port=$1
  cat > "$dir/slurm.conf" <<CONF
ClusterName=dmpipe-local
SlurmctldHost=localhost
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SwitchType=switch/none
MpiDefault=pmix
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}
bind_failed() { grep -qs "Address already in use" "$dir/log/slurmd.log" "$dir/log/slurmctld.log"; }
mkdir -p "$dir/run" "$dir/key" "$dir/state" "$dir/spool" "$dir/log"
chmod 755 "$dir/run"
chmod 700 "$dir/key"
[[ -f "$dir/key/munge.key" ]] || mungekey --create --keyfile="$dir/key/munge.key" >/dev/null 2>&1
chmod 600 "$dir/key/munge.key"
munged --socket="$dir/run/munge.socket" --key-file="$dir/key/munge.key" \
       --log-file="$dir/log/munged.log" --pid-file="$dir/munged.pid" \
       --seed-file="$dir/state/munge.seed" --force

# A port can still be taken between the check and the bind: then the daemons
# are stopped and started again on another pair (three tries).
export SLURM_CONF="$dir/slurm.conf"
for _ in 1 2 3; do
  port=$(pick_port)
  write_conf "$port"
  : > "$dir/log/slurmctld.log"
  : > "$dir/log/slurmd.log"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N localhost
  # Wait until the node takes jobs (a few seconds after start).
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      exit 0
    fi
    bind_failed && break
    sleep 0.5
  done
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  bind_failed || break
  echo "local-cluster: port $port or $((port + 1)) was taken; trying another pair" >&2
  sleep 1
done
stop_pid "$dir/munged.pid"
echo "local-cluster: slurmd did not come up; logs in $dir/log" >&2
exit 1
