#!/usr/bin/env bash
# Build a venv where an exported ONNX copy loads as it would be served (again only when this script changed):
#
#   bash scripts/onnx_venv.sh         # then: build/onnx-venv/bin/python tests/compat/check_onnx.py MODEL REF
#
# sentence-transformers' backend="onnx" needs optimum-onnx, which pins transformers<4.58: so a sentence-
# transformers 5 (the newest that runs on those transformers), not svtune's 6. svtune is NOT installed here.
# Data Commons' NL server (sentence-transformers 2.7.0, scripts/compat.sh) has no ONNX backend at all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fresh_venv.sh
fresh_venv "${ONNX_VENV:-build/onnx-venv}" "scripts/onnx_venv.sh" || exit 0
"$VENV/bin/python" -m pip install -q "sentence-transformers>=5,<6" "optimum-onnx[onnxruntime]"
touch "$VENV/.installed"
echo "onnx venv ready: $VENV"
