#!/usr/bin/env bash
# Pipeline file errors name the file, line and key; a failing step stops its
# dependents, the other steps go on, and the exit status and message name the
# step and its log (steps on 1 and 3 ranks, under a timeout so a hang fails).
source "$(dirname "$0")/common.sh"
"$DMPIPE" generate --out archive --events 6000 --seed 11 --processes ttbar,w_jets,gluino_01 >/dev/null

# expect_error FILE TEXT: loading FILE fails (status 1) and stderr has TEXT
expect_error() {
  local rc=0
  timeout 60 "$DMPIPE" status "$1" >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] || fail "$1: exit $rc, expected 1 ($(cat err.txt))"
  grep -qF -- "$2" err.txt || fail "$1: expected [$2] in: $(cat err.txt)"
}
base='workdir: work
archive: archive
channels: [chan3]
models:
  kde: {kind: kde}'
printf '%s\nmodelz: 3\n' "$base" > unknown.yaml
expect_error unknown.yaml "unknown.yaml:6: modelz: unknown key"
printf 'workdir: work\narchive: archive\nranks: two\nchannels: [chan3]\nmodels: {kde: {kind: kde}}\n' > badranks.yaml
expect_error badranks.yaml "badranks.yaml:3: ranks: 'two' is not an integer"
printf '%s\n  svdd:\n    kind: svdd\n    options:\n      epoch: 3\n' "$base" > badopt.yaml
expect_error badopt.yaml "badopt.yaml:9: options: 'epoch' is not a flag of 'dmpipe train svdd'"
printf '%s\n  k2: {kind: kde, options: {out: x.h5}}\n' "$base" > reserved.yaml
expect_error reserved.yaml "reserved.yaml:6: options: --out is set by the pipeline itself"
printf 'workdir: work\narchive: archive\nchannels: [chan9]\nmodels: {kde: {kind: kde}}\n' > badchan.yaml
expect_error badchan.yaml "badchan.yaml:3: channels: 'chan9' is not a built-in channel"
printf 'workdir: work\narchive: archive\nchannels: [chan3]\nmodels: {kde: {kind: forest}}\n' > badkind.yaml
expect_error badkind.yaml "badkind.yaml:4: kind: 'forest' is not a model kind"
printf 'workdir: work\narchive: [archive, nothere/*.csv]\nchannels: [chan3]\nmodels: {kde: {kind: kde}}\n' > noarchive.yaml
expect_error noarchive.yaml "archive: nothing matches"
printf 'workdir: work\narchive: archive\nchannels: [chan3\n' > notyaml.yaml
expect_error notyaml.yaml "notyaml.yaml:4: not valid YAML"
printf '%s\nlumi: 10\nlumi: 140\n' "$base" > twice.yaml
expect_error twice.yaml "twice.yaml:7: lumi: appears twice (first on line 6)"
printf 'workdir: work\narchive: archive\nlaunch: mpirun\nchannels: [chan3]\nmodels: {kde: {kind: kde}}\n' > typo.yaml
expect_error typo.yaml "typo.yaml:3: launch: unknown key"
printf 'archive: archive\nchannels: [chan3]\nmodels: {kde: {kind: kde}}\n' > noworkdir.yaml
expect_error noworkdir.yaml "workdir: is required"
# histograms: keys and values are checked; nightly refuses what it cannot merge exactly.
printf '%s\nhistograms: {binz: a.ini}\n' "$base" > histkey.yaml
expect_error histkey.yaml "histkey.yaml:6: histograms: unknown key 'binz' (bins, vars"
printf '%s\nhistograms:\n  vars: [ht:0:0:100]\n' "$base" > histvar.yaml
expect_error histvar.yaml "histvar.yaml:7: vars:"
printf '%s\nweight: {options: {rescale-lumi: 10}}\nhistograms: true\n' "$base" > histresc.yaml
rc=0; timeout 60 "$DMPIPE" status histresc.yaml --nightly >out.txt 2>err.txt || rc=$?
[[ $rc == 1 ]] && grep -qF "histresc.yaml:7: histograms: dmpipe nightly merges" err.txt ||
  fail "histograms with per-event weights under nightly: $rc $(cat err.txt)"
rc=0; timeout 60 "$DMPIPE" status histresc.yaml >out.txt 2>err.txt || rc=$?
[[ $rc == 3 ]] || fail "histograms with per-event weights under run: $rc $(cat err.txt)"

# A channel nothing passes: its training fails; the other channel goes on.
cat > none.ini <<'INI'
[selection]
name = none

[cut met]
variable = met
op = >=
value = 1e9
INI
for np in 1 3; do
  cat > fail.yaml <<YAML
workdir: work$np
archive: archive
ranks: $np
channels: [chan3, {name: none, cuts: none.ini}]
models:
  kde: {kind: kde, options: {max-train: 500}}
YAML
  rc=0
  timeout 300 "$DMPIPE" run fail.yaml >run.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] || fail "np $np: exit $rc, expected 1: $(cat err.txt)"
  grep -qF "step train.none.kde failed; log: $tmp/work$np/logs/train.none.kde.log" err.txt ||
    fail "np $np: message: $(cat err.txt)"
  grep -q "nothing to train on" err.txt || fail "np $np: no excerpt of the log: $(cat err.txt)"
  expect_eq "np $np failed" "$(names_in failed work$np/run.json)" "train.none.kde"
  expect_eq "np $np blocked" "$(names_in blocked work$np/run.json)" "metrics.kde score.none.kde"
  expect_eq "np $np ran" "$(names_in ran work$np/run.json)" "ingest score.chan3.kde select.chan3 select.none train.chan3.kde weight"
  [[ ! -e work$np/none/kde.model.h5 ]] || fail "np $np: a failed step left its output"
done

# Under mpirun the driver refuses (each rank would drive the graph).
rc=0; timeout 60 "$MPIEXEC" -n 2 "$DMPIPE" status fail.yaml >out.txt 2>err.txt || rc=$?
[[ $rc != 0 ]] && grep -q "run it as one process" err.txt || fail "under mpirun: $rc $(cat err.txt)"
echo "pipeline errors ok"
