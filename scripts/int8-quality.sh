#!/usr/bin/env bash
# The quality cost of int8 item vectors, on one model: train with float32 vectors, publish an int8
# child of the same bundle (refresh-items), and evaluate both on the valid and test rows of the
# split they were trained on. Prints one line per split: AUC, logloss and GAUC of each, and the
# change. Nothing but the bundles' stored vectors differs between the two.
#
#   scripts/int8-quality.sh ml-100k            # or ml-1m
#   scripts/int8-quality.sh my-data --schema path/to/schema.yaml
#
# Environment: OUT (a fresh folder for the artifacts and JSON, default /tmp/int8-quality-<name>),
# INTTOWER (the CLI, default .venv/bin/inttower), SEED (1).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?dataset name: ml-100k, ml-1m, or your own with --schema FILE}
shift
inttower=${INTTOWER:-.venv/bin/inttower}
out=${OUT:-/tmp/int8-quality-$name}
data=(--dataset "$name")
[ "${1:-}" = "--schema" ] && data=(--schema "$2")
mkdir -p "$out"
"$inttower" train "${data[@]}" --seed "${SEED:-1}" --item-dtype float32 --artifacts "$out/artifacts" \
  --no-progress > "$out/train.json"
float32=$(cat "$out/artifacts/CURRENT")
int8=$("$inttower" refresh-items --artifacts "$out/artifacts" --item-dtype int8 --no-progress)
schema=()
[ "${data[0]}" = "--schema" ] && schema=(--schema "${data[1]}")
for split in valid test; do
  for version in "$float32" "$int8"; do
    "$inttower" evaluate --artifacts "$out/artifacts" --version "$version" --split "$split" \
      "${schema[@]}" --output "$out/$version-$split.json" > /dev/null
  done
  python3 - "$out/$float32-$split.json" "$out/$int8-$split.json" "$split" <<'PY'
import json, sys
f32, i8 = (json.load(open(path))["metrics"] for path in sys.argv[1:3])
cells = [f"{k} {f32[k]:.6f} -> {i8[k]:.6f} ({i8[k] - f32[k]:+.6f})" for k in ("auc", "logloss", "gauc")]
print(f"{sys.argv[3]}: float32 -> int8: " + ", ".join(cells))
PY
done
