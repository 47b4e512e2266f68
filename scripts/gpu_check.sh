#!/usr/bin/env bash
# One short GPU check (under 10 minutes) for a machine with a CUDA GPU, run from the repo root:
#
#   bash scripts/gpu_check.sh            # after `make install` (or with torch/CUDA already installed)
#
# It checks that the commands CPU users run work unchanged on a GPU: the hardware summary (bf16 where
# the GPU supports it), a tiny end-to-end run (SDPA attention, pinned-memory data loading), the
# speed benchmark against the GPU's own matmul limit, and two processes with torchrun when the
# machine has two GPUs. Every figure it prints names the GPU. Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
export SVTUNE_OUTPUTS=${SVTUNE_OUTPUTS:-${OUT:-/tmp}/svtune-gpu-check}
mkdir -p "$SVTUNE_OUTPUTS"

echo "== machine"
nvidia-smi --query-gpu=name,memory.total --format=csv || true
$PY -m svtune.model.hardware

echo "== tiny run end to end (python -m svtune, the notebook included)"
$PY - <<'PY'
import json, torch
from svtune.run import Run
assert torch.cuda.is_available(), "no CUDA GPU visible"
run = Run.start(size="tiny")
folder = run.run_all()
m = json.loads((folder / "metrics.json").read_text())
attn = run.model[0].auto_model.config._attn_implementation
print(f"device {run.device} ({torch.cuda.get_device_name(0)}), precision {run.precision}, attention {attn}, "
      f"pin_memory default True, MRR@10 {m['before']['retrieval']['mrr@10']:.3f} -> {m['after']['retrieval']['mrr@10']:.3f}")
assert run.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp32") and attn == "sdpa"
PY
timeout 300 $PY -m svtune --size tiny

echo "== speed benchmark (repo data, against this GPU's matmul limit)"
timeout 300 $PY -m svtune bench --steps 40

if [ "$($PY -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  echo "== two GPUs with torchrun (nccl)"
  timeout 300 $PY -m torch.distributed.run --nproc_per_node 2 -m svtune --size tiny
fi
echo "gpu check passed"
