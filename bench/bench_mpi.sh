#!/usr/bin/env bash
# One process against two: the Fashion-MNIST linear and RFF jobs with R = 1
# (the plain build, one process, all cores) and R = 2 (the MPI build under
# mpirun, --threads 1 per rank so that both use the same cores), median wall
# time and per-rank peak RSS; then what limits a distributed run, rank 0's
# p×p eigendecomposition, measured for p = 768, 1536, 3072.
# Usage: bench/bench_mpi.sh [runs]   (default 5)
# Builds build/ and build-mpi/ (-DKRRDISTILL_MPI=ON) when needed;
# KRRDISTILL_BUILD_DIR and KRRDISTILL_MPI_BUILD_DIR select other folders.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing time jq "${KRRDISTILL_MPI_PACKAGES[@]}"
build="${KRRDISTILL_BUILD_DIR:-$root/build}"
build_mpi="${KRRDISTILL_MPI_BUILD_DIR:-$root/build-mpi}"
krrdistill_build "$build" >/dev/null
cmake -S "$root" -B "$build_mpi" -DCMAKE_BUILD_TYPE=Release -DKRRDISTILL_MPI=ON >/dev/null
cmake --build "$build_mpi" -j"$(nproc)" --target krrdistill_cli >/dev/null
runs="${1:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# mpirun refuses root without this consent (set for this script only).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# bench NAME RANKS ARGS...: median wall (whole command, mpirun included),
# median fit and certify phases, median peak RSS of each rank.
bench() {
  local name="$1" ranks="$2"; shift 2
  : >"$work/wall"; : >"$work/phases"; rm -f "$work"/rss.*
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    if [ "$ranks" -eq 1 ]; then
      /usr/bin/time -f "%M" -o "$work/t.0" "$build/krrdistill" distill --quiet --force \
        --out "$work/out" "$@"
    else
      mpirun --oversubscribe -np "$ranks" sh -c \
        '/usr/bin/time -f "%M" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$work/t" \
        "$build_mpi/krrdistill" distill --quiet --force --out "$work/out" --threads 1 "$@"
    fi
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN {print e - s}' >>"$work/wall"
    jq -r '[.timings_s.load, .timings_s.fit, .timings_s.certify] | @tsv' "$work/out/report.json" >>"$work/phases"
    for r in $(seq 0 $((ranks - 1))); do cat "$work/t.$r" >>"$work/rss.$r"; done
  done
  local rss="" r
  for r in $(seq 0 $((ranks - 1))); do
    rss+="$(awk '{print $1 / 1024}' "$work/rss.$r" | median | awk '{printf "%.0f", $1}') "
  done
  printf '%-12s R=%d  wall %6.2f s | load %.2f fit %.2f certify %.2f | peak RSS per rank (MB): %s| test_acc %s\n' \
    "$name" "$ranks" "$(median <"$work/wall")" "$(cut -f1 "$work/phases" | median)" \
    "$(cut -f2 "$work/phases" | median)" "$(cut -f3 "$work/phases" | median)" "$rss" \
    "$(jq -r '.certificate.original.test_acc' "$work/out/report.json")"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
echo "Fashion-MNIST, median of $runs runs (wall includes process start-up: mpirun's is about 0.3 s)"
bench "linear" 1 --ipc 1 --init noise
bench "linear" 2 --ipc 1 --init noise
bench "rff" 1 --model rff --ipc 1 --init noise
bench "rff" 2 --model rff --ipc 1 --init noise
echo
echo "rank 0's eigendecomposition (eig_sym 'dc', one OpenBLAS thread as in distill); model MB = G, V and LAPACK's workspace"
"$build/bench/bench_eig" 768 1536 3072 --runs 3
