#!/usr/bin/env bash
# dmpipe nightly on a growing archive: the first run ingests every sample; a
# second does nothing and says so; a new sample is the only one ingested and
# the catalog, metrics and histograms equal a from-scratch dmpipe run; a
# changed sample is re-ingested, a removed one dropped; the store's histograms
# (histograms:) are made per sample and merged with each process's weight:
# only a new or changed sample is histogrammed again, and the merge equals
# dmpipe hist of the catalog from scratch; a second nightly on
# the same folder is refused, naming the holder (the lock of a kill -9'd holder
# is taken over); a kill -9 mid-run
# leaves the previous results readable and the next run ends with the same
# results as an uninterrupted one.
source "$(dirname "$0")/common.sh"
cmp() { "$PYTHON" "$DM_SOURCE_DIR/tests/pipeline/compare_runs.py" "$@" >/dev/null || fail "results differ: $*"; }
summary() { "$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(" ".join(j[sys.argv[2]]) if isinstance(j[sys.argv[2]], list) else j[sys.argv[2]])' work/nightly/summary.json "$1"; }
"$DMPIPE" generate --out gen --events 30000 --seed 21 --processes ttbar,w_jets,z_jets,njets,gluino_01,stop_02 >/dev/null
"$DMPIPE" generate --out gen2 --events 30000 --seed 22 --processes ttbar,w_jets,z_jets,njets,gluino_01,stop_02 >/dev/null
mkdir archive
cp gen/ttbar.csv gen/w_jets.csv gen/njets.csv gen/gluino_01.csv archive/
cat > pipe.yaml <<'YAML'
workdir: work
archive: archive
ranks: 2
channels: [chan2b, chan3]
models:
  kde: {kind: kde, options: {max-train: 3000}}
metrics: {histograms: true}
histograms: true
YAML
# hist_steps: the hist steps that ran (run.json)
hist_steps() { "$PYTHON" -c '
import json
print(" ".join(sorted(s["name"] for s in json.load(open("work/run.json"))["steps"]
                      if s["name"].split(".")[0] == "hist" and s["state"] == "ran")))'; }
# merged_hist_ok: the merged histograms equal dmpipe hist of the catalog
merged_hist_ok() {
  rm -f scratch.hist.h5
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" hist --in work/store.h5 --out scratch.hist.h5 --quiet ||
    fail "dmpipe hist of the catalog"
  "$PYTHON" "$DM_SOURCE_DIR/tests/pipeline/check_merged_hist.py" work/hist/all.hist.h5 \
    scratch.hist.h5 work/weight.json >/dev/null || fail "merged histograms ($1)"
}
# reference RUN: dmpipe run from scratch on the archive as it is now
reference() { rm -rf "ref$1"; timeout 300 "$DMPIPE" run pipe.yaml --workdir "ref$1" --quiet >/dev/null || fail "reference run $1"; }

timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n1.txt || { cat n1.txt; fail "first nightly"; }
expect_eq "first: ingested" "$(summary ingested)" "gluino_01 njets ttbar w_jets"
expect_eq "first: hist steps" "$(hist_steps)" "hist hist.gluino_01 hist.njets hist.ttbar hist.w_jets"
merged_hist_ok first
reference 1
cmp work ref1 kde

timeout 120 "$DMPIPE" nightly pipe.yaml --quiet >n2.txt
grep -q "^nothing new: 4 samples unchanged" n2.txt || fail "second nightly: $(cat n2.txt)"
expect_eq "second: nothing_new" "$(summary nothing_new)" "True"
expect_eq "second: steps ran" "$(summary steps_ran)" ""

# A new sample: only it is ingested; results equal a from-scratch run.
cp gen/stop_02.csv archive/
timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n3.txt || { cat n3.txt; fail "nightly after a new sample"; }
expect_eq "new sample: added" "$(summary added)" "stop_02"
expect_eq "new sample: ingested" "$(summary ingested)" "stop_02"
"$PYTHON" - <<'PY' || fail "run.json after a new sample"
import json
r = json.load(open("work/run.json"))
st = {s["name"]: s["state"] for s in r["steps"]}
assert [n for n in st if n.startswith("ingest.") and st[n] == "ran"] == ["ingest.stop_02"], st
assert all(st[n] == "skipped" for n in st if n.startswith("ingest.") and n != "ingest.stop_02"), st
assert st["catalog"] == "ran" and st["metrics.kde"] == "ran", st
m = json.load(open("work/nightly/manifest.json"))
assert sorted(s["name"] for s in m["samples"]) == ["gluino_01", "njets", "ruleout"][:0] or \
       sorted(s["name"] for s in m["samples"]) == ["gluino_01", "njets", "stop_02", "ttbar", "w_jets"], m
assert all(len(s["checksum"]) == 32 and s["size"] > 0 and s["mtime"] for s in m["samples"]), m
PY
expect_eq "new sample: hist steps" "$(hist_steps)" "hist hist.stop_02"
merged_hist_ok "new sample"
reference 2
cmp work ref2 kde

# A new sample of a process already there changes its N_p (its weight):
# its own histograms and the merge only.
cp gen2/ttbar.csv archive/ttbar_b.csv
timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n3b.txt || { cat n3b.txt; fail "nightly after a second ttbar"; }
expect_eq "second ttbar: ingested" "$(summary ingested)" "ttbar_b"
expect_eq "second ttbar: hist steps" "$(hist_steps)" "hist hist.ttbar_b"
merged_hist_ok "second ttbar"

# A changed sample (same name, other events) is re-ingested.
cp gen2/njets.csv archive/njets.csv
timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n4.txt || { cat n4.txt; fail "nightly after a change"; }
expect_eq "changed: changed" "$(summary changed)" "njets"
expect_eq "changed: ingested" "$(summary ingested)" "njets"
expect_eq "changed: hist steps" "$(hist_steps)" "hist hist.njets"
merged_hist_ok changed

# A removed sample leaves the catalog and its store goes.
rm archive/w_jets.csv
timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n5.txt || { cat n5.txt; fail "nightly after a removal"; }
expect_eq "removed: removed" "$(summary removed)" "w_jets"
expect_eq "removed: ingested" "$(summary ingested)" ""
[[ ! -e work/samples/w_jets.h5 ]] || fail "the removed sample's store is still there"
[[ ! -e work/hist/samples/w_jets.hist.h5 ]] || fail "the removed sample's histograms are still there"
expect_eq "removed: hist steps" "$(hist_steps)" "hist"
merged_hist_ok removed
reference 3
cmp work ref3 kde

# The lock (the claim of io/dm_atomic.h on work/.dmpipe/lock): a live holder
# (a POSIX lock from Python, which conflicts with the OFD lock) makes a second
# nightly exit at once (75), naming it.
"$PYTHON" -c '
import fcntl, os, time
fd = os.open("work/.dmpipe/lock", os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.write(fd, b"host testhost, pid %d, since 2026-01-01T00:00:00Z\n" % os.getpid())
open("held", "w").close()
time.sleep(300)' & holder=$!
for _ in $(seq 200); do [[ -e held ]] && break; sleep 0.05; done
[[ -e held ]] || fail "the Python holder never took the lock"
rc=0; timeout 20 "$DMPIPE" nightly pipe.yaml >out.txt 2>err.txt || rc=$?
expect_eq "busy: exit" "$rc" 75
grep -q "another run or nightly holds .*lock (host testhost, pid $holder, since 2026-01-01T00:00:00Z)" err.txt ||
  fail "busy message: $(cat err.txt)"
# ... killed (-9): its lock died with it, and the next nightly takes it over.
kill -9 $holder; wait $holder 2>/dev/null || true
[[ -e work/.dmpipe/lock ]] || fail "the killed holder's lock file is gone: nothing to take over"
rc=0; timeout 120 "$DMPIPE" nightly pipe.yaml >out.txt 2>err.txt || rc=$?
expect_eq "stale lock: exit" "$rc" 0
grep -q "taking over the lock .* of host testhost, pid $holder," err.txt || fail "stale message: $(cat err.txt)"
[[ ! -e work/.dmpipe/lock ]] || fail "lock left behind"
# A real second nightly while one runs.
cp gen/z_jets.csv archive/
"$DMPIPE" nightly pipe.yaml --quiet >n6.txt 2>&1 & first=$!
for _ in $(seq 100); do [[ -e work/.dmpipe/lock ]] && break; sleep 0.05; done
rc=0; timeout 20 "$DMPIPE" nightly pipe.yaml >out.txt 2>err.txt || rc=$?
rc2=0; timeout 20 "$DMPIPE" run pipe.yaml >out2.txt 2>err2.txt || rc2=$?
wait $first || { cat n6.txt; fail "the first of two nightlies"; }
expect_eq "concurrent: exit" "$rc" 75
grep -q "another run or nightly holds .*lock (host .*, pid $first, since " err.txt ||
  fail "concurrent message: $(cat err.txt)"
expect_eq "run during a nightly: exit" "$rc2" 75
grep -q "dmpipe run: .* is busy: .*pid $first," err2.txt || fail "run during a nightly: $(cat err2.txt)"

# kill -9 in the middle of a run (during the catalog or later steps).
cp gen2/gluino_01.csv archive/gluino_01.csv
cp gen2/stop_02.csv archive/stop_03.csv
"$DMPIPE" nightly pipe.yaml --quiet >n7.txt 2>&1 & victim=$!
for _ in $(seq 600); do [[ work/logs/catalog.log -nt archive/stop_03.csv ]] && break; sleep 0.05; done
[[ work/logs/catalog.log -nt archive/stop_03.csv ]] || fail "the catalog step never started"
sleep 0.3
kill -9 $victim; wait $victim 2>/dev/null || true
sleep 1
# The previous catalog and results are still readable.
"$PYTHON" -c '
import h5py, json
h5py.File("work/store.h5", "r")["events/event_id"][:10]
json.load(open("work/kde.metrics.json"))["summary"]' || fail "previous results unreadable after kill -9"
timeout 300 "$DMPIPE" nightly pipe.yaml --quiet >n8.txt 2>n8.err || { cat n8.txt n8.err; fail "nightly after kill -9"; }
grep -q "taking over the lock .* pid $victim," n8.err || fail "the killed nightly's lock: $(cat n8.err)"
[[ ! -e work/.dmpipe/lock ]] || fail "lock left behind after the rerun"
reference 4
cmp work ref4 kde
timeout 120 "$DMPIPE" nightly pipe.yaml --quiet >n9.txt
grep -q "^nothing new" n9.txt || fail "last nightly: $(cat n9.txt)"
echo "nightly ok"
