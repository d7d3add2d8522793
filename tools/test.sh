#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole CTest suite; then
# builds krrdistill for mpirun (-DKRRDISTILL_MPI=ON, OpenMPI, in build-mpi/)
# and runs its 2-rank comparison with the single-process run (test_mpi).
#   tools/test.sh [ctest arguments for the main suite]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing "${KRRDISTILL_MPI_PACKAGES[@]}"
krrdistill_build "$root/build"
(cd "$root/build" && ctest --output-on-failure -j1 "$@")

mpi_build="$root/build-mpi"
cmake -S "$root" -B "$mpi_build" -DCMAKE_BUILD_TYPE=Release -DKRRDISTILL_MPI=ON >/dev/null
cmake --build "$mpi_build" -j"$(nproc)" --target krrdistill_cli test_mpi
(cd "$mpi_build" && ctest --output-on-failure -R '^test_mpi$')
