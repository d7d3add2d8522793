#!/usr/bin/env bash
# Installs what is missing, builds in Release, and distills Fashion-MNIST
# (from Debian's dataset-fashion-mnist) to 10 images per class, starting from
# real images, with the certificate that the distilled model equals the original.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing
KRRDISTILL_TARGETS=krrdistill_cli krrdistill_build "$root/build"
out="$root/out/demo"
"$root/build/krrdistill" distill --dataset fashion-mnist --ipc 10 --init real --out "$out" --force "$@"
echo "picture: $out/grid.png (top: distilled images, one row per class; bottom: the real images they started from)"
echo "report:  $out/report.json"
