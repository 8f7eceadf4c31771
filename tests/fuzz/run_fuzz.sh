#!/usr/bin/env bash
# Run one libFuzzer harness for a fixed budget from the committed seeds:
#   run_fuzz.sh FUZZER SEED_DIR SECONDS WORK_DIR
# New inputs go to WORK_DIR/corpus (the seeds are only read); a crash leaves
# its input in WORK_DIR (crash-*, leak-*, timeout-*) and fails the run.
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 work=$4
rm -rf "$work"
mkdir -p "$work/corpus"
"$fuzzer" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" 2>&1 | tail -25
