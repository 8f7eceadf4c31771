#!/usr/bin/env bash
# datasets: in a pipeline file: each entry is a dmpipe dataset step whose
# outputs equal those of the command run by hand (CSV byte for byte, the
# manifest but for paths, the command line and the stores' checksums, which
# carry their creation time); a second run skips them; a changed entry reruns
# it and the secret set that excludes it, nothing else; submit puts the secret
# set in a job after the hackathon set's; bad keys and values name the line.
source "$(dirname "$0")/common.sh"
"$DMPIPE" generate --out archive --events 40000 --seed 11 \
  --processes ttbar,wtop,wtopbar,ww,Zp_01,gluino_03,stop_02 >/dev/null
base='workdir: work
archive: archive
ranks: 2
channels: [chan2b]
models:
  kde: {kind: kde, options: {max-train: 2000}}
metrics:
  options: {allow-unresolved: true}'
cat > pipe.yaml <<YAML
$base
datasets:
  - {kind: secret, channel: chan2b, lumi: 0.01, inject: {gluino_03: 1000, stop_02: 3}, seed: 5, exclude: hackathon}
  - kind: hackathon
    channel: chan2b
    lumi: 0.01
    signals: [Zp_01]
    seed: 1
YAML
timeout 300 "$DMPIPE" run pipe.yaml --quiet >run1.txt 2>&1 || { cat run1.txt; fail "first run"; }
expect_eq "first run: ran" "$(names_in ran work/run.json)" \
  "dataset.hackathon.chan2b dataset.secret.chan2b ingest metrics.kde score.chan2b.kde select.chan2b train.chan2b.kde weight"

# The same commands by hand (np 2 and 3) give the same sets.
H=work/datasets/hackathon/chan2b S=work/datasets/secret/chan2b
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" dataset hackathon --in work/store.h5 --out hand \
  --channels chan2b --lumi 0.01 --signals Zp_01 --seed 1 --quiet || fail "hackathon by hand"
timeout 120 "$MPIEXEC" -n 3 "$DMPIPE" dataset secret --in work/store.h5 --out hands --channel chan2b \
  --lumi 0.01 --inject gluino_03=1000,stop_02=3 --seed 5 --exclude hand/manifest.json --quiet ||
  fail "secret by hand"
for f in background_chan2b_0.01.csv Zp_01_chan2b.csv; do
  cmp -s "$H/$f" "hand/$f" || fail "hackathon $f differs from the command's"
done
cmp -s "$S/unlabeled_chan2b.csv" hands/unlabeled_chan2b.csv || fail "the secret set differs"
# Cutflows: the same but for the input's path as given.
for d in "$H hand" "$S hands"; do
  set -- $d
  "$PYTHON" -c '
import json, sys
a, b = (json.load(open(p + "/cutflow_chan2b.json")) for p in sys.argv[1:3])
a.pop("input"); b.pop("input")
assert a == b, (a, b)' "$1" "$2" || fail "cutflows of $1 and $2 differ"
done
"$PYTHON" - "$H/manifest.json" hand/manifest.json <<'PY' || fail "manifests differ"
import json, sys
def norm(path):
    m = json.load(open(path))
    m.pop("parent", None); m.pop("command_line", None)
    for f in m["files"]:
        if f["file"].endswith(".h5"):
            f.pop("checksum")  # stores carry their creation time
    return m
a, b = norm(sys.argv[1]), norm(sys.argv[2])
assert a == b, (a, b)
assert len(a["files"]) >= 4 and a["seed"] == "1", a
PY
"$PYTHON" -c '
import h5py, sys
def ds(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
da, db = ds(sys.argv[1]), ds(sys.argv[2])
assert sorted(da) == sorted(db) and len(da) >= 3, (sorted(da), sorted(db))
for k in da:
    assert (da[k] == db[k]).all(), k
' "$S/labels_chan2b.h5" hands/labels_chan2b.h5 || fail "labels differ"

# A second run skips them; status agrees.
timeout 120 "$DMPIPE" run pipe.yaml --quiet >run2.txt 2>&1 || { cat run2.txt; fail "second run"; }
expect_eq "second run: ran" "$(names_in ran work/run.json)" ""
rc=0; "$DMPIPE" status pipe.yaml >status.txt || rc=$?
expect_eq "status after a run" "$rc" 0
# The nightly graph has them too (on the catalog).
"$DMPIPE" status pipe.yaml --nightly --json >nstatus.json || true
"$PYTHON" -c '
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["steps"]}
d = s["dataset.secret.chan2b"]
assert "dataset.hackathon.chan2b" in d["depends"] and "weight" in d["depends"], d
assert "catalog" in s, sorted(s)' nstatus.json || fail "status --nightly: $(cat nstatus.json)"

# Another hackathon seed: that set, and the secret set excluding it.
sed -i 's/^    seed: 1$/    seed: 2/' pipe.yaml
"$DMPIPE" submit pipe.yaml --dry-run >dry.txt || fail "submit --dry-run: $(cat dry.txt)"
grep -q "dataset-2 .*dataset.secret.chan2b (afterok:dataset)" dry.txt ||
  fail "submit: the secret set is not after the hackathon set: $(cat dry.txt)"
timeout 300 "$DMPIPE" run pipe.yaml --quiet >run3.txt 2>&1 || { cat run3.txt; fail "third run"; }
expect_eq "new seed: ran" "$(names_in ran work/run.json)" "dataset.hackathon.chan2b dataset.secret.chan2b"
grep -q "\"seed\":.*\"2\"" "$H/manifest.json" || fail "the hackathon set was not redrawn"

# Bad keys and values name the file, line and key.
expect_error() {
  local rc=0
  timeout 60 "$DMPIPE" status "$1" >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] || fail "$1: exit $rc, expected 1 ($(cat err.txt))"
  grep -qF -- "$2" err.txt || fail "$1: expected [$2] in: $(cat err.txt)"
}
bad() { printf '%s\ndatasets:\n  - kind: hackathon\n    channel: chan2b\n%s\n' "$base" "$2" > "$1"; }
bad d1.yaml '    lumii: 0.01'
expect_error d1.yaml "d1.yaml:12: datasets: unknown key 'lumii'"
bad d2.yaml '    lumi: lots'
expect_error d2.yaml "d2.yaml:12: lumi: 'lots' is not max or a number"
bad d3.yaml '    inject: {Zp_01: 1}'
expect_error d3.yaml "d3.yaml:12: inject: is a key of kind: secret, not hackathon"
bad d4.yaml '    options: {seed: 3}'
expect_error d4.yaml "d4.yaml:12: options: --seed is set by the pipeline itself"
bad d5.yaml '    options: {channels: chan1}'
expect_error d5.yaml "d5.yaml:12: options: --channels is set by the pipeline from the entry's keys"
bad d6.yaml '  - {kind: secret, channel: chan2b, inject: {Zp_01: 1}, seed: 3, exclude: hackathon}
  - {kind: hackathon, channel: chan2b}'
expect_error d6.yaml "d6.yaml:13: datasets: a hackathon set of chan2b is already on line 10"
printf '%s\ndatasets:\n  - {kind: secret, channel: chan2b, inject: {Zp_01: 1}}\n' "$base" > d7.yaml
expect_error d7.yaml "d7.yaml:10: datasets: a secret set needs seed:"
printf '%s\ndatasets:\n  - {kind: secret, channel: chan3, inject: "Zp_01=x", seed: 1}\n' "$base" > d8.yaml
expect_error d8.yaml "d8.yaml:10: inject: 'Zp_01=x': expected NAME=MU"
printf '%s\ndatasets:\n  - {kind: secret, channel: chan3, inject: {Zp_01: 1}, seed: 1, exclude: hackathon}\n' "$base" > d9.yaml
expect_error d9.yaml "d9.yaml:10: datasets: exclude: hackathon needs a hackathon set of chan3"
printf '%s\ndatasets:\n  - {kind: private, channel: chan3}\n' "$base" > d10.yaml
expect_error d10.yaml "d10.yaml:10: kind: 'private' is not a dataset kind"
printf '%s\ndatasets: {kind: hackathon}\n' "$base" > d11.yaml
expect_error d11.yaml "d11.yaml:9: datasets: expected a list"
echo "pipeline datasets ok"
