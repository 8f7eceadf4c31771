#!/usr/bin/env bash
# dmpipe submit on a real one-machine Slurm (jobs/slurm/local-cluster.sh):
# the graph's jobs (arrays, afterok, a final dmpipe run) give the same
# results as dmpipe run; a Deep SVDD training job signalled mid-run stops at
# an epoch boundary with its checkpoint, requeues itself and resumes to the
# same weights; a resubmission reuses queued jobs and completed steps.
source "$(dirname "$0")/common.sh"
cluster="$tmp/cluster"
cleanup() {
  [[ -n "${SLURM_CONF:-}" ]] && scancel --name="$(jobname final)" >/dev/null 2>&1 || true
  bash "$DM_SOURCE_DIR/jobs/slurm/local-cluster.sh" stop "$cluster"
}
trap cleanup EXIT
eval "$(bash "$DM_SOURCE_DIR/jobs/slurm/local-cluster.sh" start "$cluster")"
"$DMPIPE" generate --out archive --events 20000 --seed 7 --processes ttbar,w_jets,z_jets,njets,single_top,ww,gluino_01,stop_02,Zp_01 >/dev/null
cat > pipe.yaml <<'YAML'
workdir: work
archive: archive
ranks: 2
time: 5
channels: [chan3, chan2b]
models:
  kde: {kind: kde, options: {max-train: 2000}}
  svdd:
    kind: svdd
    ranks: 1
    options: {features: highlevel, hidden: "64,32", out-dim: 8, epochs: 400, batch: 16}
metrics: {histograms: true}
YAML
"$DMPIPE" submit pipe.yaml --dry-run >dry.txt
grep -q "^#SBATCH --array=0-1" dry.txt && grep -q "^#SBATCH --requeue" dry.txt &&
  grep -q "afterok:select" dry.txt || fail "dry run: $(cat dry.txt)"
[[ ! -e work/slurm ]] || fail "--dry-run wrote scripts"

timeout 60 "$DMPIPE" submit pipe.yaml >submit1.txt || { cat submit1.txt; fail "submit"; }
cat submit1.txt
id=$(awk '$2 ~ /-final$/ {sub(/-final$/, "", $2); print $2}' submit1.txt)
jobname() { echo "$id-$1"; }
train_job=$(awk -v n="$id-train-2" '$2 == n {print $1}' submit1.txt)
[[ -n "$train_job" ]] || fail "no svdd training job: $(cat submit1.txt)"
# A second submit while the jobs wait: nothing is submitted twice.
timeout 60 "$DMPIPE" submit pipe.yaml >submit2.txt
[[ $(grep -c "reused" submit2.txt) -ge 5 ]] || fail "resubmit: $(cat submit2.txt)"
[[ $(squeue -h -o %j | sort | uniq -d | wc -l) == 0 ]] || fail "duplicate jobs: $(squeue)"

# Signal the first svdd training task once it has written a checkpoint.
ckpt=work/chan3/svdd.ckpt.h5
for _ in $(seq 600); do [[ -s $ckpt ]] && break; sleep 0.1; done
[[ -s $ckpt ]] || fail "the svdd training never wrote a checkpoint"
scancel --signal=USR1 --batch "${train_job}_0"
# Slurm holds a requeued job back for a while (a begin time in the future):
# release it as soon as it is back in the queue.
# (Only once the first run has ended: a start while its batch script is still
# finishing would be charged with that script's end.)
for _ in $(seq 300); do grep -qs "requeueing" work/logs/slurm-train-2-${train_job}_0.out && break; sleep 0.1; done
for _ in $(seq 300); do [[ $(squeue -h -j "${train_job}_0" -o %T) == PENDING ]] && break; sleep 0.1; done
sleep 3
for _ in $(seq 50); do scontrol update JobId="${train_job}_0" StartTime=now >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 900); do [[ -z "$(squeue -h --name="$(jobname final)")" ]] && break; sleep 0.2; done
[[ -z "$(squeue -h)" ]] || fail "jobs left: $(squeue)"
out=$(cat work/logs/slurm-train-2-${train_job}_0.out)
grep -q "stopped by a signal after epoch" <<<"$out" || grep -q "stopped by a signal after epoch" work/logs/train.chan3.svdd.log* 2>/dev/null ||
  fail "the training was not stopped at an epoch boundary: $out"
grep -q "requeueing" <<<"$out" || fail "the training job did not requeue: $out"
"$PYTHON" -c '
import json; r = json.load(open("work/chan3/svdd.train.json"))["backend"]["resumed_epochs"]
assert 0 < r < 400, r' || fail "the requeued training did not resume from its checkpoint"
"$PYTHON" - <<'PY' || fail "run.json of the final job"
import json
r = json.load(open("work/run.json"))
assert r["ok"] and set(s["state"] for s in r["steps"]) == {"skipped"}, r["counts"]
PY

# The same pipeline with dmpipe run, here: identical results and weights.
timeout 300 "$DMPIPE" run pipe.yaml --workdir ref --quiet >/dev/null || fail "dmpipe run"
"$PYTHON" "$DM_SOURCE_DIR/tests/pipeline/compare_runs.py" work ref kde svdd || fail "submit and run differ"
"$PYTHON" - <<'PY' || fail "models differ"
import glob, h5py, numpy as np
for a in sorted(glob.glob("work/*/*.model.h5")):
    b = a.replace("work/", "ref/", 1)
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    names = []
    fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for n in names:
        assert np.array_equal(fa[n][()], fb[n][()]), (a, n)
print("models equal")
PY
# The nightly graph as jobs: one array task per sample, the catalog, a final
# dmpipe nightly; the same results again.
timeout 60 "$DMPIPE" submit pipe.yaml --nightly --workdir nwork >submit4.txt || { cat submit4.txt; fail "submit --nightly"; }
grep -q -- "-ingest .*ingest.Zp_01,ingest.gluino_01," submit4.txt && grep -q -- "-catalog .*(afterok:" submit4.txt ||
  fail "submit --nightly graph: $(cat submit4.txt)"
for _ in $(seq 900); do [[ -z "$(squeue -h)" ]] && break; sleep 0.2; done
[[ -z "$(squeue -h)" ]] || fail "nightly jobs left: $(squeue)"
grep -q "^added     9:" nwork/nightly/summary.txt || fail "nightly summary: $(cat nwork/nightly/summary.txt)"
"$PYTHON" "$DM_SOURCE_DIR/tests/pipeline/compare_runs.py" nwork ref kde svdd || fail "submit --nightly and run differ"
# Everything done: a resubmission submits nothing.
timeout 60 "$DMPIPE" submit pipe.yaml >submit3.txt
grep -q "nothing to submit" submit3.txt || fail "submit after completion: $(cat submit3.txt)"
echo "slurm submit ok"
