#!/usr/bin/env bash
# Install what dmpipe needs on Debian 12 (idempotent) and build it into build/.
#   bash jobs/setup.sh            build dependencies only
#   bash jobs/setup.sh --peers    also what the tests need: the Python peers they
#                                 compare with, and Slurm + munge for the batch scripts
# Re-running is cheap: packages already present are not reinstalled, and the
# build is incremental.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential cmake pkg-config git
      openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
      libzstd-dev zstd libcjson-dev libxxhash-dev libgsl-dev libinih-dev
      libopenblas-openmp-dev libcmocka-dev python3 python3-numpy python3-h5py)
# Pipeline files (dmpipe run, submit, nightly) are YAML, read with libyaml.
pkgs+=(libyaml-dev)
if [[ "${1:-}" == "--peers" ]]; then
  pkgs+=(python3-sklearn python3-scipy python3-torch python3-pandas slurm-wlm munge)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# OpenBLAS (OpenMP build) must be the libblas.so.3 that numpy and torch use,
# so comparisons against them are fair (the reference BLAS is ~40x slower).
if command -v update-alternatives >/dev/null; then
  alt=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-openmp | head -1 || true)
  [[ -n "$alt" ]] && update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null 2>&1 || true
fi

cmake -S "$here" -B "$here/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$here/build" -j "$(nproc)"
echo "setup: built $here/build/bin/dmpipe"
