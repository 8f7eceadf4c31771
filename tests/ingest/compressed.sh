#!/usr/bin/env bash
# ingest reads .csv.zst, .csv.gz and .csv.xz directly: the store's datasets
# equal those of the decompressed CSV on 1, 2 and 3 ranks (small stripes, so a
# rank's stripes of one compressed file interleave with the other ranks');
# the inputs attribute names each file as given with its size and the tree
# checksum of its compressed bytes (recomputed here with python3-xxhash);
# rejected lines name the compressed file and the line; concatenated
# frames/members read as one content; a line over 1 MiB (which makes a rank's
# stream restart) changes nothing; corrupt, truncated or misnamed inputs fail
# on every rank naming the file, leaving nothing behind.
source "$(dirname "$0")/common.sh"
T=(timeout 300)
mapfile -t plain < <(sample)
mkdir -p gz xz zst
zs=() gzs=() xzs=() mixed=()
for i in "${!plain[@]}"; do
  f=${plain[$i]} b=$(basename "${plain[$i]}")
  zs+=("$DM_FIXTURES/pythia-sample/$b.zst")
  gzip -nc "$f" > "gz/$b.gz"
  xz -0 -T1 -c "$f" > "xz/$b.xz"
  gzs+=("gz/$b.gz")
  xzs+=("xz/$b.xz")
  case $((i % 4)) in
    0) mixed+=("$f") ;; 1) mixed+=("${zs[$i]}") ;; 2) mixed+=("gz/$b.gz") ;; 3) mixed+=("xz/$b.xz") ;;
  esac
done
run 1 ingest --out plain.h5 "${plain[@]}" > /dev/null
for np in 1 2 3; do
  for set in zs gzs xzs mixed; do
    declare -n list=$set
    "${T[@]}" "$MPIEXEC" -n $np "$DMPIPE" ingest --out "$set$np.h5" --stripe-kb 128 \
      --json "$set$np.json" "${list[@]}" > /dev/null
    "$PYTHON" "$here/compare_stores.py" --datasets-only plain.h5 "$set$np.h5"
  done
done
# The default stripes too (one stripe per file here).
run 2 ingest --out mixed_default.h5 "${mixed[@]}" > /dev/null
"$PYTHON" "$here/compare_stores.py" --datasets-only plain.h5 mixed_default.h5
# Same store whatever the rank count, inputs attribute included.
"$PYTHON" "$here/compare_stores.py" mixed1.h5 mixed2.h5 mixed3.h5

# Provenance: each input as given, its size, the tree checksum of its bytes.
"$PYTHON" - mixed3.h5 "${mixed[@]}" <<'PY'
import os, re, sys
import h5py, xxhash
store, given = sys.argv[1], sys.argv[2:]
lines = h5py.File(store, "r").attrs["inputs"].decode().strip().split("\n")
assert len(lines) == len(given), lines
for line, path in zip(lines, given):
    name, size, check = line.split("\t")
    algo, hexd = check.split(":")
    m = re.fullmatch(r"xxh3-128-tree-(\d+)(KiB|MiB)", algo)
    block = int(m.group(1)) << (10 if m.group(2) == "KiB" else 20)
    data = open(path, "rb").read()
    leaves = b"".join(xxhash.xxh3_128(data[i:i + block]).digest()
                      for i in range(0, len(data), block))
    assert name == path and int(size) == len(data), (line, path, len(data))
    assert hexd == xxhash.xxh3_128(leaves).hexdigest(), (line, path)
print(f"provenance ok: {len(lines)} inputs, checksums of the files as given")
PY

# Rejects in compressed files: the file as given and the line number.
head -n 40 "${plain[0]}" > bad.csv
sed -i '7s/.*/7;oops;this is not an event/; 33s/;j,/;q,/' bad.csv
gzip -nc bad.csv > bad.csv.gz
zstd -qc bad.csv > bad.csv.zst
xz -0 -c bad.csv > bad.csv.xz
run 1 ingest --out badp.h5 --rejects badp.tsv --max-bad-fraction 1 bad.csv > /dev/null
for ext in gz zst xz; do
  run 2 ingest --out bad_$ext.h5 --rejects bad_$ext.tsv --max-bad-fraction 1 --stripe-kb 1 \
    bad.csv.$ext > /dev/null
  "$PYTHON" "$here/compare_stores.py" --datasets-only badp.h5 bad_$ext.h5
  grep -q "^bad.csv.$ext	7	" bad_$ext.tsv
  grep -q "^bad.csv.$ext	33	" bad_$ext.tsv
  diff <(cut -f2- badp.tsv) <(cut -f2- bad_$ext.tsv)
done

# zstd frames that do not record their size (written from a pipe): the size
# is then learnt by decoding; same store.
zstd -qc < "${plain[4]}" > nosize.csv.zst
! zstd -lv nosize.csv.zst 2>/dev/null | grep -q "Decompressed Size"
run 1 ingest --out one_plain.h5 "${plain[4]}" > /dev/null
run 2 ingest --out one_nosize.h5 --stripe-kb 64 nosize.csv.zst > /dev/null
"$PYTHON" "$here/compare_stores.py" --datasets-only one_plain.h5 one_nosize.h5

# Concatenated members and frames read as one content.
cat "gz/$(basename "${plain[0]}").gz" "gz/$(basename "${plain[1]}").gz" > two.csv.gz
cat "${zs[0]}" "${zs[1]}" > two.csv.zst
cat "xz/$(basename "${plain[0]}").xz" "xz/$(basename "${plain[1]}").xz" > two.csv.xz
run 1 ingest --out two_plain.h5 "${plain[0]}" "${plain[1]}" > /dev/null
run 3 ingest --out two_gz.h5 --stripe-kb 64 two.csv.gz > /dev/null
run 2 ingest --out two_zst.h5 --stripe-kb 64 two.csv.zst > /dev/null
run 2 ingest --out two_xz.h5 --stripe-kb 64 two.csv.xz > /dev/null
"$PYTHON" "$here/compare_stores.py" --datasets-only two_plain.h5 two_gz.h5 two_zst.h5 two_xz.h5

# A line of 3.5 MB in the middle: rejected as too long, the rest unchanged
# (finishing it takes a stream past what its window keeps, so the next
# stripe of the same rank decodes the file again from its start).
{ head -n 500 "${plain[2]}"; printf '9;long;1;'; head -c 3500000 /dev/zero | tr '\0' 7; echo;
  tail -n +501 "${plain[2]}"; } > long.csv
zstd -qc long.csv > long.csv.zst
gzip -nc long.csv > long.csv.gz
run 1 ingest --out longp.h5 --rejects longp.tsv --max-bad-fraction 1 --stripe-kb 64 long.csv > /dev/null
for np in 1 2; do
  for f in long.csv.zst long.csv.gz; do
    run $np ingest --out "l$np.h5" --rejects "l$np.tsv" --max-bad-fraction 1 --stripe-kb 64 "$f" > /dev/null
    "$PYTHON" "$here/compare_stores.py" --datasets-only longp.h5 "l$np.h5"
    diff <(cut -f2- longp.tsv) <(cut -f2- "l$np.tsv")
    grep -q "	501	too-long" "l$np.tsv"
  done
done

# Corrupt, truncated and misnamed inputs: an error naming the file, on every
# rank, nothing left behind.
src="gz/$(basename "${plain[3]}").gz"
sz=$(stat -c %s "$src")
head -c $((sz / 2)) "$src" > trunc.csv.gz
cp "$src" flip.csv.gz
printf '\x00\x00\x00\x00\x00\x00\x00\x00' | dd of=flip.csv.gz bs=1 seek=$((sz / 2)) conv=notrunc 2>/dev/null
head -c $(( $(stat -c %s "${zs[3]}") / 2 )) "${zs[3]}" > trunc.csv.zst
head -c $(( $(stat -c %s "xz/$(basename "${plain[3]}").xz") - 40 )) "xz/$(basename "${plain[3]}").xz" > trunc.csv.xz
cp "${plain[3]}" notgz.csv.gz
zsz=$(stat -c %s "${zs[3]}")
cp "${zs[3]}" flip.csv.zst
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of=flip.csv.zst bs=1 seek=$((zsz / 2)) conv=notrunc 2>/dev/null
for np in 1 2 3; do
  for c in "trunc.csv.gz:trunc.csv.gz" "flip.csv.gz:flip.csv.gz: corrupt gzip" \
           "trunc.csv.zst:trunc.csv.zst: zstd data is truncated" "trunc.csv.xz:trunc.csv.xz" \
           "notgz.csv.gz:notgz.csv.gz is named as gzip" "flip.csv.zst:flip.csv.zst"; do
    f=${c%%:*} pat=${c#*:}
    expect_fail "$pat" "${T[@]}" "$MPIEXEC" -n $np "$DMPIPE" ingest --out bad.h5 "${plain[0]}" "$f"
    [[ ! -e bad.h5 && ! -e bad.h5.tmp ]] && ! ls bad.derived-* 2>/dev/null
  done
done
echo "compressed inputs ok"
