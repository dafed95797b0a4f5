#!/usr/bin/env bash
# The speed benchmarks with --device cuda, for a GPU machine: from a fresh checkout with a built
# .venv, in under five minutes. Results (JSON + Markdown) and logs go to $OUT.
#
#   OUT=/path/to/results scripts/gpu-bench.sh
#
# Checks torch.cuda.is_available() first; without CUDA it says so (cuda.txt) and measures on the
# CPU instead, so the run is never silently mislabelled. Nothing leaves the machine: bundles are
# built from synthetic data under $OUT/work, servers listen on 127.0.0.1 only, and the training
# throughput uses the synthetic set too (MovieLens would need a download).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:?set OUT to the results folder}"
PY="${PY:-.venv/bin/python}"
mkdir -p "$OUT"
export INTTOWER_DATA_HOME="$OUT/data"

"$PY" - <<'PYTHON' | tee "$OUT/cuda.txt"
import torch
available = torch.cuda.is_available()
print(f"torch {torch.__version__}; torch.cuda.is_available() = {available}")
if available:
    print(f"device: {torch.cuda.get_device_name()}; CUDA {torch.version.cuda}")
else:
    print("NO CUDA: this torch build or machine cannot use a GPU; the runs below use the CPU")
PYTHON
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")

# ~30 s: the FE-Block (torch on the device) against the gather alone, and the user tower.
timeout 80 "$PY" -m inttower.cli bench kernel --device "$DEVICE" --rounds 5 --calls 30 \
  --out "$OUT" 2>&1 | tee "$OUT/kernel.log"

# ~3 min: builds a 100k-item and an ml-1m-sized synthetic bundle (CPU, once; one epoch over 20k
# interactions, as serving cost does not depend on the fit), then /score against the floor,
# /recommend, item refresh and training throughput. The 1M-item scale test is left out:
# publishing that catalogue's item index alone takes minutes.
WORK="$OUT/work"
SYNTH="$WORK/synth-10000u-100000i-20000x/data/schema.yaml"  # written by the bundle build
timeout 200 "$PY" -m inttower.cli bench serve --device "$DEVICE" --work "$WORK" \
  --interactions 20000 --seconds 2 --repeats 2 --workers 2 --connections 8 --scale-items 0 \
  --train-schema "$SYNTH" --train-steps 20 --out "$OUT" 2>&1 | tee "$OUT/serve.log"
