#!/usr/bin/env bash
# Installs the Debian packages krrdistill needs, only those that are missing.
# Sourced by demo.sh, test.sh and bench.sh; safe and fast to run again.
set -euo pipefail

KRRDISTILL_PACKAGES=(
  cmake g++ make
  libarmadillo-dev libopenblas-dev liblapack-dev
  libcxxopts-dev libstb-dev libboost-test-dev zlib1g-dev libdeflate-dev libdnnl-dev
  nlohmann-json3-dev
  libcairo2-dev pkgconf fonts-dejavu-core
  dataset-fashion-mnist
)

# OpenMPI, for the distributed build (-DKRRDISTILL_MPI=ON, build-mpi/): test.sh
# and bench_mpi.sh pass these to krrdistill_install_missing; demo.sh does not.
KRRDISTILL_MPI_PACKAGES=(libopenmpi-dev openmpi-bin)

krrdistill_install_missing() {
  local missing=()
  local pkg
  for pkg in "${KRRDISTILL_PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Configures (Release) and builds into $1 (default build/); further arguments
# go to cmake's configure step. KRRDISTILL_TARGETS, when set, names the only
# targets to build (demo.sh builds just the command line).
krrdistill_build() {
  local root build
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  build="${1:-$root/build}"
  shift || true
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  local targets=()
  local t
  for t in ${KRRDISTILL_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$build" -j"$(nproc)" "${targets[@]}"
}
