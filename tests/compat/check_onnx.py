"""Load a model's ONNX copies the way they would be served: SentenceTransformer(path, backend="onnx").

    build/onnx-venv/bin/python tests/compat/check_onnx.py MODEL_DIR REFERENCE

Needs a sentence-transformers with the ONNX backend and optimum's onnxruntime support (scripts/onnx_venv.sh;
imports nothing from svtune). MODEL_DIR is a bundle's model/ with onnx/*.onnx (svtune export --onnx/--int8);
REFERENCE holds texts.json and embeddings.npy (the PyTorch model's embeddings of those texts). Prints one
JSON line: for each ONNX file, the largest absolute difference and the lowest cosine to the reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer, __version__

model_dir, reference = Path(sys.argv[1]), Path(sys.argv[2])
texts = json.loads((reference / "texts.json").read_text())
expected = np.load(reference / "embeddings.npy")
out = {"sentence_transformers": __version__, "files": {}}
for onnx in sorted((model_dir / "onnx").glob("*.onnx")):
    model = SentenceTransformer(str(model_dir), backend="onnx", device="cpu",
                                model_kwargs={"file_name": f"onnx/{onnx.name}"})
    emb = model.encode(texts)
    cos = (emb * expected).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(expected, axis=1)
    out["files"][onnx.name] = {"max_abs_diff": float(np.abs(emb - expected).max()), "min_cosine": float(cos.min())}
print(json.dumps(out))
