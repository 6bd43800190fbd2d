#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for testing the SLURM profile (tests/test_slurm.py).
#
#   .ci/slurm-cluster.sh install        Debian packages: slurmctld slurmd slurm-client munge (root)
#   .ci/slurm-cluster.sh up   BASE      start munged, slurmctld, slurmd with state under BASE
#   .ci/slurm-cluster.sh down BASE      stop them by the PIDs in their pid files
#
# Facts this relies on: no systemd here, so the daemons
# are started by hand; the config must be at /etc/slurm/slurm.conf because the jobstep plugin
# strips SLURM_* variables (SLURM_CONF included) inside jobs; no accounting database, so the
# profile must use `squeue` as its status command.
set -euo pipefail

command=${1:?usage: $0 install | up BASE | down BASE}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$((seconds * 4))"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    echo "slurm-cluster: timed out after ${seconds}s waiting for $what" >&2
    return 1
}

stop_pid_file() {  # SIGTERM, then SIGKILL after a grace period; never by process name
    local file=$1
    [ -f "$file" ] || return 0
    local pid
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

case "$command" in
install)
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        timeout 300 apt-get update -qq
        timeout 600 apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
    fi
    ;;
up)
    base=$(realpath -m "${2:?usage: $0 up BASE}")
    if [ -e /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" != "$base/slurm.conf" ] \
        && ! grep -q "agem-repro test cluster" /etc/slurm/slurm.conf; then
        echo "slurm-cluster: /etc/slurm/slurm.conf belongs to another cluster; refusing to replace it" >&2
        exit 1
    fi
    mkdir -p "$base"/{munge,state,spool,log}
    chmod 0755 "$base/munge"
    host=$(hostname -s)
    cpus=$(nproc)
    memory_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 512 ))
    mungekey --create --force --keyfile="$base/munge/munge.key"
    chmod 600 "$base/munge/munge.key"
    munged --socket="$base/munge/munge.socket" --key-file="$base/munge/munge.key" \
        --pid-file="$base/munge/munged.pid" --log-file="$base/munge/munged.log" \
        --seed-file="$base/munge/munged.seed" --force
    cat > "$base/slurm.conf" <<EOF
# agem-repro test cluster (written by .ci/slurm-cluster.sh)
ClusterName=agemtest
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$base/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
ReturnToService=2
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/slurmctld.pid
SlurmdPidFile=$base/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mkdir -p /etc/slurm
    ln -sfn "$base/slurm.conf" /etc/slurm/slurm.conf
    slurmctld -f "$base/slurm.conf"
    wait_for 30 "slurmctld" scontrol ping
    slurmd -f "$base/slurm.conf"
    wait_for 60 "the node to become idle" bash -c '[ "$(sinfo -h -o %T | head -n1)" = idle ]'
    timeout 60 srun -t 1 hostname >/dev/null
    echo "slurm-cluster: up (state in $base)"
    ;;
down)
    base=$(realpath -m "${2:?usage: $0 down BASE}")
    stop_pid_file "$base/slurmd.pid"
    stop_pid_file "$base/slurmctld.pid"
    stop_pid_file "$base/munge/munged.pid"
    if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$base/slurm.conf" ]; then
        rm -f /etc/slurm/slurm.conf
    fi
    echo "slurm-cluster: down"
    ;;
*)
    echo "usage: $0 install | up BASE | down BASE" >&2
    exit 2
    ;;
esac
