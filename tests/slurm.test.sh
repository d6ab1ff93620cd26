#!/usr/bin/env bash
# ctest-labels: slow;slurm
# A real one-node Slurm cluster: Debian's munged, slurmctld and slurmd started
# as root from configuration written to a temporary directory (own munge key
# and socket, own ports, state, spool, logs and pid files there), stopped at
# exit even on failure. A 4-run suite goes through `effbench slurm --submit` as
# 4 array tasks and the merge job; array task 0 is cancelled (scancel) while it
# trains and requeued (scontrol requeue, as its --requeue allows), resumes and
# finishes. The merged database holds every run key exactly once, with the
# results of one process at 1 thread, and passes integrity_check.
# Skipped (77) without root or without the Slurm and munge packages
# (scripts/install-deps --slurm).
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
for c in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo sqlite3; do
  if ! command -v "$c" >/dev/null 2>&1; then
    echo "SKIP: $c not installed (scripts/install-deps --slurm)"
    exit 77
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: starting slurmd and munged needs root"
  exit 77
fi
eb=$(readlink -f "$eb")
tmp=$(mktemp -d /tmp/eb-slurm.XXXXXX)
# munged wants its socket's directory searchable by everyone
chmod 755 "$tmp"
pids=()
cleanup() {
  if [[ -n "${SLURM_CONF:-}" && -f "$tmp/slurmctld.pid" ]]; then
    scancel --quiet --user=root >/dev/null 2>&1
    for _ in $(seq 50); do
      [[ -z "$(squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [[ -n "${munge_pid:-}" ]]; then
    kill "$munge_pid" 2>/dev/null
    wait "$munge_pid" 2>/dev/null
  fi
  if ((fails > 0)); then
    for f in "$tmp"/slurmctld.log "$tmp"/slurmd.log "$tmp"/jobs/*.log; do
      [[ -f "$f" ]] && { echo "--- $f (last lines)"; tail -n 15 "$f"; }
    done
  fi
  rm -rf "$tmp"
}
fails=0
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
die() {
  fail "$*"
  exit 1
}
export EFFBENCH_CACHE="$tmp/cache"

# munge: a key of its own and a socket of its own
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge.key"
# (in the foreground, a child of this script: stopped and waited for like the
# others, the daemons first, munge last)
munged -F --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" --log-file="$tmp/munged.log" \
  --pid-file="$tmp/munged.pid" --seed-file="$tmp/munged.seed" >"$tmp/munged.out" 2>&1 &
munge_pid=$!
for _ in $(seq 50); do
  [[ -S "$tmp/munge.sock" ]] && break
  kill -0 "$munge_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -S "$tmp/munge.sock" ]] || die "munged did not start: $(cat "$tmp/munged.out" 2>/dev/null)"

# two free TCP ports for slurmctld and slurmd
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 50); do
  ctld_port=$((20000 + RANDOM % 30000))
  d_port=$((ctld_port + 1))
  port_free "$ctld_port" && port_free "$d_port" && break
done
host=$(hostname -s)
# two CPUs (one if the machine has one; not nproc: it follows OMP_NUM_THREADS,
# which the tests set): array tasks 2 and 3 then wait for a free CPU, so task 0
# is requeued while the array still runs, before the merge job may start
cpus=$(getconf _NPROCESSORS_ONLN)
((cpus > 2)) && cpus=2
mkdir -p "$tmp/state" "$tmp/spool"
cat >"$tmp/slurm.conf" <<EOF
ClusterName=effbench-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
# jobs are requeued only if they ask to (the --requeue of array.sbatch)
JobRequeue=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$host" -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 100); do
  if [[ "$(sinfo -h -o %t 2>/dev/null)" == idle ]]; then
    up=1
    break
  fi
  sleep 0.2
done
((up)) || die "the cluster did not come up: sinfo says '$(sinfo -h -o %t 2>&1)'"

# 4 runs of a few seconds each; --threads 1 everywhere, so results are exact
cat >"$tmp/suite.yaml" <<'EOF'
suite: slurm-test
seeds: [0, 1]
model: {dim: 16, depth: 1, heads: 2, ffn: 32, dropout: 0.0}
train: {steps: 6000, batch: 8, lr: 2e-3, warmup: 5, eval_every: 250, time_budget: 30m}
tasks:
  - majority: {len: 32, train: 512, val: 64, test: 64}
archs:
  - vanilla
sweep:
  vanilla.attention: [blockwise, naive]
EOF
d="$tmp/jobs"
mkdir "$d"
cd "$tmp" || exit 1
out=$("$eb" slurm "$tmp/suite.yaml" --db-dir "$d" --shards 4 --cpus 1 --time 0:30:00 --submit 2>&1) ||
  die "effbench slurm --submit: $out"
array=$(sed -n 's/^submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\1/p' <<<"$out")
merge=$(sed -n 's/^submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\2/p' <<<"$out")
[[ -n "$array" && -n "$merge" ]] || die "no job ids in: $out"

# state of one job (or array element) as scontrol sees it
state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1; }

# cancel array task 0 while it trains: its run claimed (status running; the
# run's evaluations are written with its result, at the end)
t0="$d/shard-0.db"
mid="SELECT count(*) FROM runs WHERE status = 'running'"
cancelled=0
for _ in $(seq 600); do
  if [[ -s "$t0" && "$(sqlite3 "$t0" "$mid" 2>/dev/null)" == 1 ]]; then
    sleep 0.5
    scancel "${array}_0" || die "scancel ${array}_0"
    cancelled=1
    break
  fi
  sleep 0.1
done
((cancelled)) || die "array task 0 never started training (state $(state "${array}_0"))"
for _ in $(seq 100); do
  [[ "$(state "${array}_0")" == CANCELLED ]] && break
  sleep 0.2
done
[[ "$(state "${array}_0")" == CANCELLED ]] || die "after scancel task 0 is $(state "${array}_0")"
done_runs="SELECT count(*) FROM runs WHERE status = 'done'"
[[ "$(sqlite3 "$t0" "$done_runs")" == 0 ]] ||
  fail "task 0 finished its run before the scancel: it was not cancelled mid-run"
# put it back in the queue; Slurm holds a requeued job ~2 minutes (BeginTime)
# unless told to start it now
scontrol requeue "${array}_0" || die "scontrol requeue ${array}_0"
scontrol update JobId="${array}_0" StartTime=now || die "scontrol update StartTime=now"

# wait for the array and the merge job: the cluster is the test's own, so an
# empty queue (squeue answering, and listing nothing) means they all ended
finished=0
for _ in $(seq 1500); do
  if q=$(squeue -h 2>&1) && [[ -z "$q" ]]; then
    finished=1
    break
  fi
  sleep 0.2
done
((finished)) || die "jobs still queued after 300 s: $(squeue 2>&1)"
for i in 0 1 2 3; do
  s=$(state "${array}_$i")
  [[ "$s" == COMPLETED ]] || fail "array task $i ended $s"
done
[[ "$(state "$merge")" == COMPLETED ]] || fail "merge job ended $(state "$merge")"
scontrol show job "${array}_0" | grep -q 'Requeue=1' || fail "task 0 is not requeueable"
restarts=$(scontrol show job "${array}_0" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
[[ "$restarts" == 1 ]] || fail "task 0 restarted $restarts times, expected 1"
[[ "$(sqlite3 "$t0" "$done_runs")" == 1 ]] || fail "the requeued task 0 did not finish its run"
grep -q "CANCELLED" "$d/shard-0.log" || fail "shard-0.log does not show the cancellation"

# the merged database against one process at 1 thread
m="$d/merged.db"
[[ -s "$m" ]] || die "the merge job wrote no $m: $(cat "$d/merge.log" 2>&1)"
[[ "$(sqlite3 "$m" "PRAGMA integrity_check")" == ok ]] || fail "merged.db: integrity_check"
[[ "$(sqlite3 "$m" "SELECT count(*), count(DISTINCT run_key) FROM runs")" == "4|4" ]] ||
  fail "merged.db: not 4 distinct run keys: $(sqlite3 "$m" "SELECT run_key, status FROM runs")"
[[ "$(sqlite3 "$m" "SELECT count(*) FROM runs WHERE status = 'done' AND conflict_of IS NULL")" == 4 ]] ||
  fail "merged.db: not 4 runs done without conflicts"
"$eb" run "$tmp/suite.yaml" --db "$tmp/one.db" --threads 1 >"$tmp/one.log" 2>&1 ||
  fail "one-process run: $(tail -n 3 "$tmp/one.log")"
q="SELECT run_key, status, printf('%!.17g', test_accuracy) FROM runs ORDER BY run_key;
   SELECT r.run_key, e.step, e.split, printf('%!.17g', e.loss), printf('%!.17g', e.accuracy)
   FROM evals e JOIN runs r ON r.id = e.run_id ORDER BY 1, 2, 3"
[[ "$(sqlite3 "$m" "$q")" == "$(sqlite3 "$tmp/one.db" "$q")" ]] ||
  fail "merged.db differs from one process: $(diff <(sqlite3 "$m" "$q") <(sqlite3 "$tmp/one.db" "$q") | head)"
((fails == 0)) || exit 1
echo "slurm: 4 array tasks (one cancelled and requeued) and the merge job on a one-node cluster; all checks passed"
