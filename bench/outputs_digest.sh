#!/usr/bin/env bash
# Digests of the outputs of a fixed set of runs on the default dataset, so
# that a refactoring which must not change the arithmetic can be checked for
# byte-identical results: run before and after, then diff the two listings.
# report.json is hashed without its wall times (timings_s, and kip's
# result.optimisation_seconds and seconds_per_step), which differ run to run.
# Usage: bench/outputs_digest.sh [path/to/krrdistill] [keep-folder] [--no-run|--check]
#   (default build/krrdistill; with keep-folder the outputs are left there;
#   --no-run only hashes the outputs already in keep-folder; --check compares
#   the listing with bench/outputs_digest.expected, the listing recorded on
#   the machine named there: BLAS kernels differ between processors, and
#   RFF and FCNN's float features also depend on the compiler and on glibc's
#   vector maths, and the PNG files' bytes on libdeflate's version, so another
#   machine may differ and should record its own)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/krrdistill}"
mode="${3:-}"
if [ "$mode" = --check ]; then
  listing="$(mktemp)"
  "$0" "$bin" "${2:-}" > "$listing"
  grep -v '^#' "$root/bench/outputs_digest.expected" | diff - "$listing" && echo "outputs: identical"
  exit $?
fi
no_run="$mode"
if [ -n "${2:-}" ]; then
  work="$2"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi

# digest NAME FILES... : sha256 of each file of run NAME's output folder.
digest() {
  local name="$1"; shift
  local f
  for f in "$@"; do
    if [ "$f" = report.json ]; then
      python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
r.pop("timings_s", None)
for key in ("optimisation_seconds", "seconds_per_step"):
    r.get("result", {}).pop(key, None)
print(json.dumps(r, sort_keys=True))' "$work/$name/report.json" |
        sha256sum | awk -v n="$name" '{print $1"  "n"/report.json(-times)"}'
    else
      sha256sum "$work/$name/$f" | awk -v n="$name" -v f="$f" '{print $1"  "n"/"f}'
    fi
  done
}

# run NAME COMMAND ARGS... : one run into its own output folder.
run() {
  local name="$1" command="$2"; shift 2
  [ "$no_run" = --no-run ] && return 0
  "$bin" "$command" --quiet --force --out "$work/$name" "$@" >/dev/null
}

run noise distill --ipc 1 --init noise
digest noise distilled_X.npy distilled_Y.npy model_W.npy grid.png report.json
run real_zca distill --ipc 10 --init real --zca
digest real_zca distilled_X.npy distilled_Y.npy model_W.npy grid.png report.json
run rff distill --model rff --ipc 10 --init real
digest rff distilled_X.npy distilled_Y.npy model_W.npy grid.png report.json
run fcnn distill --model fcnn --ipc 1 --init noise
digest fcnn distilled_X.npy distilled_Y.npy model_W.npy grid.png report.json
run stream distill --ipc 1 --init noise --stream
digest stream distilled_X.npy distilled_Y.npy report.json
run kip kip --steps 20
digest kip distilled_X.npy distilled_Y.npy report.json
# With ZCA the in-memory preprocessing fit sums a second moment: these show
# whether its summation changed (kip, labelsolve, compare and eval share it).
run kip_zca kip --steps 20 --zca
digest kip_zca distilled_X.npy distilled_Y.npy report.json
# The ReLU NTK with its single-precision batch products (docs/design.md §4).
run kip_ntk kip --model ntk --steps 5 --eval-every 0
digest kip_ntk distilled_X.npy distilled_Y.npy report.json
run labelsolve labelsolve
digest labelsolve distilled_X.npy distilled_Y.npy report.json
# eval's checks of the first set, as it prints them.
if [ "$no_run" != --no-run ]; then
  "$bin" eval --distilled "$work/noise" > "$work/noise/eval.json"
fi
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
r.pop("distilled", None)  # the folder, which differs from run to run
print(json.dumps(r, sort_keys=True))' "$work/noise/eval.json" | sha256sum |
  awk '{print $1"  noise/eval.json(-folder)"}'
