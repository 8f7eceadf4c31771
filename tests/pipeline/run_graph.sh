#!/usr/bin/env bash
# dmpipe run / status on a small archive: a first run runs every step, a
# second skips them all; an option, a cut file and an archive sample each
# rerun exactly the steps that depend on them; a touched file with the same
# content and a change of ranks rerun nothing; status --json agrees.
source "$(dirname "$0")/common.sh"
"$DMPIPE" generate --out archive --events 20000 --seed 7 --processes ttbar,w_jets,z_jets,njets,single_top,ww,gluino_01,stop_02,Zp_01 >/dev/null
# A channel of our own: chan3's cuts with a lower MET threshold.
cat > loose.ini <<'INI'
[selection]
name = loose

[cut ht]
variable = ht
op = >=
value = 500

[cut met]
variable = met
op = >=
value = 80
INI
cat > pipe.yaml <<'YAML'
workdir: work
archive: archive
ranks: 2
channels:
  - chan3
  - {name: loose, cuts: loose.ini}
models:
  kde: {kind: kde, options: {max-train: 2000}}
  svdd:
    kind: svdd
    ranks: 1
    options: {features: highlevel, hidden: "16", out-dim: 4, epochs: 2, batch: 64}
# A few hundred held-out events resolve no working point: quote them anyway
# (marked), so the TI summary has numbers to compare.
metrics:
  options: {allow-unresolved: true}
YAML
all="generate ingest metrics.kde metrics.svdd score.chan3.kde score.chan3.svdd score.loose.kde score.loose.svdd select.chan3 select.loose train.chan3.kde train.chan3.svdd train.loose.kde train.loose.svdd weight"
all=${all#generate }

rc=0; "$DMPIPE" status pipe.yaml >status0.txt || rc=$?
expect_eq "status before any run: exit" "$rc" 3
grep -q "^stale *ingest *never ran" status0.txt || fail "status0: $(cat status0.txt)"

timeout 300 "$DMPIPE" run pipe.yaml >run1.txt || { cat run1.txt; fail "first run"; }
expect_eq "first run: ran" "$(names_in ran work/run.json)" "$all"
for f in work/store.h5 work/chan3/sel.h5 work/loose/kde.scores.h5 work/kde.metrics.json work/svdd.metrics.json; do
  [[ -s $f ]] || fail "missing $f"
done
grep -q "^TI kde " run1.txt || fail "no TI line: $(cat run1.txt)"
"$PYTHON" - <<'PY' || fail "run.json content"
import json
r = json.load(open("work/run.json"))
assert r["format"] == "dmpipe-run" and r["ok"] is True, r["ok"]
for s in r["steps"]:
    assert s["seconds"] is not None and s["seconds"] >= 0, s
    assert s["outputs"] and all(len(o["checksum"]) == 32 and o["size"] > 0 for o in s["outputs"]), s
    assert s["log"].endswith("/logs/%s.log" % s["name"]), s
m = json.load(open("work/kde.metrics.json"))["summary"]
assert r["total_improvement"]["kde"]["median_ti"] == m["median_ti"], (r["total_improvement"], m)
assert m["signals"] >= 2, m
PY

timeout 120 "$DMPIPE" run pipe.yaml >run2.txt
expect_eq "second run: ran" "$(names_in ran work/run.json)" ""
expect_eq "second run: skipped" "$(names_in skipped work/run.json)" "$all"
"$DMPIPE" status pipe.yaml --json >status1.json
expect_eq "status --json after a run" "$(names_in up-to-date status1.json)" "$all"

# Same bytes, new mtime: checksums decide, nothing reruns. Ranks do not matter.
touch archive/ttbar.csv loose.ini
sed -i 's/^ranks: 2/ranks: 1/' pipe.yaml
timeout 120 "$DMPIPE" run pipe.yaml >run3.txt
expect_eq "touch + ranks: ran" "$(names_in ran work/run.json)" ""

# An option of one model: its training, scoring and metrics only.
sed -i 's/max-train: 2000/max-train: 1500/' pipe.yaml
rc=0; "$DMPIPE" status pipe.yaml --json >status2.json || rc=$?
expect_eq "status after an option: exit" "$rc" 3
expect_eq "status after an option: stale" "$(names_in stale status2.json)" "train.chan3.kde train.loose.kde"
expect_eq "status after an option: waiting" "$(names_in waiting status2.json)" "metrics.kde score.chan3.kde score.loose.kde"
timeout 120 "$DMPIPE" run pipe.yaml >run4.txt
expect_eq "option: ran" "$(names_in ran work/run.json)" "metrics.kde score.chan3.kde score.loose.kde train.chan3.kde train.loose.kde"
grep -q "its command changed" run4.txt || fail "reason: $(cat run4.txt)"

# A cut file: that channel's selection and everything after it.
sed -i 's/^value = 80/value = 90/' loose.ini
timeout 120 "$DMPIPE" run pipe.yaml >run5.txt
expect_eq "cut file: ran" "$(names_in ran work/run.json)" "metrics.kde metrics.svdd score.loose.kde score.loose.svdd select.loose train.loose.kde train.loose.svdd"
grep -q "input changed: .*/loose.ini" run5.txt || fail "reason: $(cat run5.txt)"

# A sample of the archive: everything from ingest on.
echo "$(tail -n 1 archive/ttbar.csv | sed 's/^[0-9]*;/999999;/')" >> archive/ttbar.csv
timeout 300 "$DMPIPE" run pipe.yaml >run6.txt
expect_eq "archive sample: ran" "$(names_in ran work/run.json)" "$all"
grep -q "input changed: .*archive/ttbar.csv" run6.txt || fail "reason: $(cat run6.txt)"

# An output changed behind the pipeline's back: that step again, and after it.
cp work/loose/kde.scores.h5 work/chan3/kde.scores.h5
timeout 120 "$DMPIPE" run pipe.yaml >run7.txt
expect_eq "damaged output: ran" "$(names_in ran work/run.json)" "metrics.kde score.chan3.kde"
echo "pipeline run/status ok"
