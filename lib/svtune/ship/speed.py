"""Speed and quality of a model's backends: PyTorch fp32, ONNX and ONNX int8 (what export.py keeps).

    from svtune.ship.speed import measure, synthetic_texts
    measure("outputs/runs/<run>/model", "bundle/model/onnx", queries, synthetic_texts(), index_rows)

For each backend: queries per second encoded one at a time and in batches of 32, seconds to encode
the catalog texts (10k synthetic StatVar texts by default), and MRR@10 on held-out queries against
an index. ONNX runs the transformer only; pooling, Normalize and Dense stay the model's own modules,
as sentence-transformers' backend="onnx" does. Needs onnxruntime (the `serve` extra).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from svtune.data.synthetic import generate
from svtune.eval.threshold import answered, expected_scores

ONE_AT_A_TIME = 50   # queries timed one by one (enough for a steady rate, short on a CPU)
BATCH = 32           # the server's default batch size
CATALOG_TEXTS = 10_000


def synthetic_texts(n: int = CATALOG_TEXTS) -> list[str]:
    """`n` StatVar descriptions in Data Commons' style (data/synthetic.py), a stand-in catalog to time."""
    return [r["Description"] or r["Name"] for r in generate(n)[0]]


class OnnxEncoder:
    """model.encode with the transformer run by onnxruntime from `onnx_file`, the other modules by torch. It has
    no fingerprint (model/embeddings.fingerprint_of): never cached, its embeddings differ from the torch model's."""

    def __init__(self, model, onnx_file: Path):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.log_severity_level = 3   # quantised graphs warn about every unquantised node
        self.model, self.session = model, ort.InferenceSession(str(onnx_file), options)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _batch(self, texts: list[str]) -> np.ndarray:
        import torch
        features = {k: v for k, v in self.model.preprocess(texts).items() if k != "modality"}
        out = self.session.run(None, {k: features[k].numpy() for k in self.inputs})[0]
        features["token_embeddings"] = torch.from_numpy(out)
        with torch.no_grad():
            for module in list(self.model)[1:]:
                features = module(features)
        return features["sentence_embedding"].numpy()

    def encode(self, texts, batch_size: int = BATCH, normalize_embeddings: bool = False, **_) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        order = np.argsort([-len(t) for t in texts])   # similar lengths together: less padding
        out = np.zeros((len(texts), self.get_embedding_dimension()), np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._batch([texts[i] for i in idx])
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def get_embedding_dimension(self) -> int:
        return self.model.get_embedding_dimension()


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _quality(encoder, heldout, index_rows, pairs, threshold) -> dict:
    """MRR@10, answered@10 at `threshold` and held-out Spearman of one backend."""
    from svtune.eval.evaluate import Index, evaluate_pairs, evaluate_retrieval
    summary, details = evaluate_retrieval(Index(encoder, index_rows), heldout)
    out = {"mrr@10": summary["mrr@10"]}
    if threshold is not None:
        out["answered@10"] = answered(expected_scores(details), threshold)
    if pairs:
        out["spearman"] = evaluate_pairs(encoder, pairs)[0].get("spearman")
    return out


def _one(encoder, queries: list[tuple[str, list[str]]], catalog_texts: list[str], heldout, index_rows,
         pairs=(), threshold: float | None = None) -> dict:
    texts = [q for q, _ in queries] or catalog_texts[:ONE_AT_A_TIME]
    single = texts[:ONE_AT_A_TIME]
    encoder.encode(single[:2])   # warm-up: first calls allocate
    one = _timed(lambda: [encoder.encode([q]) for q in single])
    batched = _timed(lambda: encoder.encode(texts, batch_size=BATCH))
    catalog = _timed(lambda: encoder.encode(catalog_texts, batch_size=BATCH))
    out = {"queries_per_s_one_at_a_time": len(single) / one, "queries_per_s_batched": len(texts) / batched,
           "catalog_texts": len(catalog_texts), "catalog_encode_s": catalog}
    if heldout and index_rows:
        out.update(_quality(encoder, heldout, index_rows, list(pairs), threshold))
    return out


def measure(model_dir: Path | str, onnx_dir: Path | str | None, queries: list[tuple[str, list[str]]],
            catalog_texts: list[str], index_rows: list[tuple[str, str]] | None = None, pairs=(),
            threshold: float | None = None) -> dict:
    """{backend: figures} for fp32 and every *.onnx file in `onnx_dir` (named by file stem); MRR@10 and
    its loss against fp32 where `queries` have expected dcids and `index_rows` are given, answered@10 at
    `threshold` and Spearman on held-out `pairs` (sentence_1, sentence_2, score) when given."""
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(model_dir), device="cpu")
    heldout = [(q, e) for q, e in queries if e]
    results = {"fp32": _one(model, queries, catalog_texts, heldout, index_rows, pairs, threshold)}
    for onnx_file in sorted(Path(onnx_dir).glob("*.onnx")) if onnx_dir else []:
        figures = _one(OnnxEncoder(model, onnx_file), queries, catalog_texts, heldout, index_rows, pairs, threshold)
        if figures.get("mrr@10") is not None and results["fp32"].get("mrr@10") is not None:
            figures["mrr_loss"] = results["fp32"]["mrr@10"] - figures["mrr@10"]
        results[onnx_file.stem] = figures
    return results
