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
      libzstd-dev zstd zlib1g-dev liblzma-dev libcjson-dev libxxhash-dev libgsl-dev libinih-dev
      libopenblas-openmp-dev libcmocka-dev python3 python3-numpy python3-h5py python3-xxhash
      python3-matplotlib python3-yaml)
# Pipeline files (dmpipe run, submit, nightly) are YAML, read with libyaml.
pkgs+=(libyaml-dev)
if [[ "${1:-}" == "--peers" ]]; then
  pkgs+=(python3-sklearn python3-scipy python3-torch python3-pandas slurm-wlm munge)
  # The report test opens the page in headless Chromium over the DevTools protocol.
  pkgs+=(chromium python3-websocket python3-pil)
  # The sanitizer build and the libFuzzer harnesses (tests/sanitize.sh).
  pkgs+=(clang libclang-rt-14-dev libomp-dev)
  pkgs+=(procps)  # pgrep: tests/faults finds the rank it kills
fi
# SHA-256 of sealed labels (dmpipe dataset secret, evaluate).
pkgs+=(nettle-dev)

SUDO_INSTALL=""
[[ $(id -u) -eq 0 ]] || SUDO_INSTALL="sudo -n"
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

# The zstd filter plugin where HDF5 looks by default, so h5py, h5dump and any
# HDF5 program read a store with no HDF5_PLUGIN_PATH. Each HDF5 build has its
# own default folder (compiled in): ask the serial library through h5py (which
# h5dump shares) and the MPI library through a probe built with h5pcc. Without
# root the plugin stays in build/plugins (point HDF5_PLUGIN_PATH there).
plugin="$here/build/plugins/libh5zstd_dmpipe.so"
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
printf '%s\n' '#include <hdf5.h>' '#include <stdio.h>' \
  'int main(void) { char b[4096]; if (H5PLget(0, b, sizeof b) <= 0) return 1; puts(b); return 0; }' \
  >"$probe_dir/probe.c"
dirs=()
d=$(env -u HDF5_PLUGIN_PATH /usr/bin/python3 -c 'import h5py.h5pl as p; print(p.get(0).decode())' 2>/dev/null || true)
[[ -n "$d" ]] && dirs+=("$d")
if (cd "$probe_dir" && h5pcc probe.c -o probe >/dev/null 2>&1); then
  d=$(env -u HDF5_PLUGIN_PATH "$probe_dir/probe" 2>/dev/null || true)
  [[ -n "$d" ]] && dirs+=("$d")
fi
for d in "${dirs[@]}"; do
  # HDF5 reads HDF5_PLUGIN_PATH-style lists: keep the first folder only.
  d=${d%%:*}
  if $SUDO_INSTALL install -D -m 0644 "$plugin" "$d/libh5zstd_dmpipe.so" 2>/dev/null; then
    echo "setup: zstd plugin installed in $d"
  else
    echo "setup: cannot write $d; set HDF5_PLUGIN_PATH=$here/build/plugins to read stores"
  fi
done
