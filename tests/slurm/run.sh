#!/usr/bin/env bash
# A real one-node Slurm runs a sharded `frontier heatmap --quick` and its merge, and the merged
# files must equal an unsharded run's byte for byte.
#
#   tests/slurm/run.sh [FRONTIER ARGS...]    (as root; CI runs it from .ci/run)
#
# The arguments are the `frontier` command to shard (default: heatmap --quick); e.g.
# `tests/slurm/run.sh heatmap --only figure4` is the 4-shard run of the README's benchmark.
#
# 1. installs Debian's slurmctld, slurmd, slurm-client and munge if missing;
# 2. writes a one-node slurm.conf for this machine (its `slurmd -C` line) in a scratch folder,
#    with its own ports, state, logs and pid files, so a Slurm already on the machine is not
#    touched, and addresses on 127.0.0.1 (the host name need not resolve); starts munged
#    (unless one answers already), slurmctld and slurmd;
# 3. runs the command unsharded, then submits it through scripts/slurm/submit.sh as an
#    array of $SLURM_TEST_SHARDS (default 4) shards plus the merge job (afterok), waits for
#    the merge with a timeout, checks every task's state and exit code;
# 4. compares every merged PNG, CSV and resolved config with the unsharded run's;
# 5. stops every daemon it started (by pid file, waiting for each to exit), also on failure
#    or interruption, and prints the daemons' and jobs' logs when something failed.
#
# Environment: SLURM_TEST_TIMEOUT (seconds to wait for the jobs, default 600), SLURM_TEST_KEEP=1
# keeps the scratch folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
shards=${SLURM_TEST_SHARDS:-4}
if [[ $# -gt 0 ]]; then args=("$@"); else args=(heatmap --quick); fi
timeout_s=${SLURM_TEST_TIMEOUT:-600}
started_at=$(date +%s)

log() { echo "[slurm $(date +%T)] $*"; }
now_ms() { date +%s%3N; }
# Seconds since the time $1 (from now_ms), to a tenth.
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
fail() { log "FAILED: $*"; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
  fail "run as root (it installs packages and starts munged, slurmctld and slurmd)"
fi

# --- 1. packages ---------------------------------------------------------------------------
missing=()
for tool in slurmctld slurmd sbatch munged; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
log "$(slurmctld -V), munge $(munged -V 2>&1 | awk '{print $2}')"

# --- the binary ----------------------------------------------------------------------------
frontier=$root/target/release/frontier
if [[ ! -x $frontier ]]; then
  log "building $frontier"
  cargo build --release
fi

# --- 2. a one-node Slurm in a scratch folder -----------------------------------------------
work=$(mktemp -d /tmp/frontier-slurm.XXXXXX)
chmod 755 "$work"
conf=$work/slurm.conf
export SLURM_CONF=$conf
munged_pid=""

# Stops the daemon whose pid is in file $2 (named $1): SIGTERM, then up to 15 s for it to
# exit (a zombie counts as exited), then SIGKILL.
stop() {
  local name=$1 pidfile=$2 pid state
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
    if [[ $state == gone || $state == Z ]]; then
      log "stopped $name (pid $pid)"
      return 0
    fi
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  log "killed $name (pid $pid) after 15 s"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    for f in "$work"/slurmctld.log "$work"/slurmd.log "$work"/logs/*.out; do
      [[ -f $f ]] || continue
      echo "----- $f (last 40 lines)"
      tail -n 40 "$f"
    done
  fi
  # Jobs still queued or running (a failure or a timeout): cancel them and wait for their
  # steps to end, so that no slurmstepd or frontier process outlives the daemons.
  local jobs
  jobs=$(squeue -h -o %A 2>/dev/null | xargs)
  if [[ -n $jobs ]]; then
    log "cancelling jobs $jobs"
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 300); do
      [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
      sleep 0.1
    done
    jobs=$(squeue -h -o '%A %T' 2>/dev/null | xargs)
    [[ -z $jobs ]] || log "still in the queue after 30 s: $jobs"
  fi
  stop slurmd "$work/slurmd.pid"
  stop slurmctld "$work/slurmctld.pid"
  if [[ -n $munged_pid ]]; then
    stop munged "$munged_pid"
  fi
  if [[ ${SLURM_TEST_KEEP:-0} == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  log "$([[ $rc -eq 0 ]] && echo passed || echo "failed (exit $rc)") in $(($(date +%s) - started_at)) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running: using it"
else
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  munged_pid=/run/munge/munged.pid
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || fail "munged does not answer"
  log "started munged (pid $(cat $munged_pid))"
fi

host=$(hostname -s)
node=$(slurmd -C | head -n 1)
mkdir -p "$work/state" "$work/spool" "$work/logs"
cat >"$conf" <<CONF
ClusterName=frontier-test
SlurmctldHost=$host
SlurmctldAddr=127.0.0.1
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
$node NodeAddr=127.0.0.1
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
log "slurm.conf: $node"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
  [[ $(sinfo -h -n "$host" -o %T 2>/dev/null) == idle ]] && break
  sleep 0.2
done
[[ $(sinfo -h -n "$host" -o %T) == idle ]] || fail "node $host is not idle: $(sinfo -h -o '%T %E')"
log "slurmctld (pid $(cat "$work/slurmctld.pid")) and slurmd (pid $(cat "$work/slurmd.pid")) up, node $host idle"

# --- 3. unsharded, then the array and the merge --------------------------------------------
t0=$(now_ms)
"$frontier" "${args[@]}" --quiet --out "$work/whole/out" --runs "$work/whole/runs" >/dev/null
log "unsharded frontier ${args[*]}: $(since "$t0") s"

t0=$(now_ms)
read -r array merge < <(FRONTIER=$frontier FRONTIER_LOGS=$work/logs \
  scripts/slurm/submit.sh "$shards" "${args[@]}" --out "$work/sharded/out" --runs "$work/sharded/runs")
log "submitted array job $array (tasks 1-$shards) and merge job $merge (afterok:$array)"

state_of() { scontrol show job "$1" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort | uniq -c | xargs; }
deadline=$(($(date +%s) + timeout_s))
last=""
while :; do
  merge_state=$(scontrol show job "$merge" -o | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  now="array: $(state_of "$array"); merge: $merge_state"
  [[ $now != "$last" ]] && log "$now"
  last=$now
  case $merge_state in
    COMPLETED) break ;;
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
      fail "merge job $merge ended $merge_state" ;;
  esac
  [[ $(date +%s) -lt $deadline ]] || fail "timed out after $timeout_s s"
  sleep 0.5
done
log "array and merge finished in $(since "$t0") s (from submission to the merge's end)"

tasks=$(scontrol show job "$array" -o | grep -c 'JobState=COMPLETED.*ExitCode=0:0' || true)
[[ $tasks -eq $shards ]] || fail "$tasks of $shards array tasks completed with exit code 0"
for k in $(seq "$shards"); do
  setups=$(grep -ho 'setups [0-9.]* s' "$work/logs/shard-$k.out" | awk '{ s += $2 } END { print s + 0 }')
  log "task $k log: $(tail -n 1 "$work/logs/shard-$k.out") (setups $setups s)"
done
log "merge log: $(grep -c '^/' "$work/logs/merge.out") files written, $(tail -n 1 "$work/logs/merge.out")"

# --- 4. merged == unsharded ------------------------------------------------------------------
compared=0
for f in "$work"/whole/out/*; do
  name=$(basename "$f")
  cmp -s "$f" "$work/sharded/out/$name" || fail "$name differs between the merged and the unsharded run"
  compared=$((compared + 1))
done
[[ $compared -gt 0 ]] || fail "the unsharded run wrote nothing"
extra=$(comm -13 <(ls "$work/whole/out") <(ls "$work/sharded/out") | xargs)
[[ -z $extra ]] || fail "the merge wrote files the unsharded run did not: $extra"
log "merged outputs identical to the unsharded run: $compared files" \
  "($(ls "$work"/whole/out/*.png | wc -l) PNG, $(ls "$work"/whole/out/*.csv | wc -l) CSV)"
