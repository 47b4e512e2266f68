"""Check an svtune bundle with the Data Commons NL server's libraries, the way the server uses them.

    build/compat-venv/bin/python tests/compat/check_bundle.py BUNDLE REFERENCE [CACHE_ROOT]

BUNDLE is an `svtune export --to` bundle or a custom Data Commons output folder written by
`svtune export --to-custom-dc` (its model looked up at CACHE_ROOT/bucket/path, as the server does).

Run with the compat venv's python (scripts/compat.sh: sentence-transformers 2.7.0, transformers 4.53.0,
datasets 2.18.0), never svtune's: this imports nothing from svtune, so what passes here loads on the
server. REFERENCE (written by tests/compat/reference.py with today's libraries) holds texts.json, embeddings.npy
(those texts' embeddings) and expected_top.json ({query: dcid the top result must be}). Exit 0 when
the model loads with a plain SentenceTransformer(path), gives the reference embeddings within 1e-5, and
embeddings.csv (loaded with datasets, searched with util.semantic_search) ranks each query's dcid first.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from check_catalog import server_reads
from datasets import load_dataset
from sentence_transformers import SentenceTransformer, __version__, util

TOLERANCE = 1e-5
TOP_K = 40   # sentences the server takes per query


def load_index(path: Path) -> tuple[list[str], torch.Tensor]:
    """dcids and vectors, as nl_server/store/memory.py reads embeddings.csv."""
    df = load_dataset("csv", data_files=[str(path)])["train"].to_pandas()
    dcids = df["dcid"].tolist()
    vectors = df.drop(columns=["dcid", "sentence"])
    assert list(vectors.columns) == [str(i) for i in range(vectors.shape[1])], "columns must be 0..d-1, dcid, sentence"
    return dcids, torch.from_numpy(vectors.to_numpy()).to(torch.float)


def top_dcid(hits: list[dict], dcids: list[str]) -> str:
    """A dcid takes its best sentence's score; ties sort by (-round(score, 6), dcid), as the server does."""
    best: dict[str, float] = {}
    for hit in hits:
        for dcid in dcids[hit["corpus_id"]].split(";"):
            best[dcid] = max(best.get(dcid, -1.0), hit["score"])
    return min(best, key=lambda d: (-round(best[d], 6), d))


def layout(bundle: Path, cache_root: str | None) -> tuple[Path, Path, str, dict]:
    """(model folder, embeddings.csv, model name, its catalog entry) of an export bundle, or of a custom
    Data Commons output folder (svtune export --to-custom-dc): there the index is nl/embeddings/, and the
    model is found where the server looks first for its gcs_folder, <cache root>/bucket/path."""
    custom = bundle / "nl" / "embeddings" / "custom_catalog.yaml"
    if not custom.is_file():
        catalog = yaml.safe_load((bundle / "catalog.yaml").read_text())
        (name, entry), = catalog["models"].items()
        return bundle / "model", bundle / "embeddings.csv", name, entry
    catalog = yaml.safe_load(custom.read_text())
    name = catalog["indexes"]["user_all_minilm_mem"]["model"]
    entry = catalog["models"][name]
    where = entry["gcs_folder"].removeprefix("gs://")
    roots = [cache_root] if cache_root else ["/workspace/nl_cache", "/tmp"]
    found = [Path(r) / where for r in roots if (Path(r) / where).is_dir() and any((Path(r) / where).iterdir())]
    assert found, f"{entry['gcs_folder']} is at no cache path ({', '.join(roots)}): publish it there or export again"
    return found[0], bundle / "nl" / "embeddings" / "embeddings.csv", name, entry


def main(bundle: Path, reference: Path, cache_root: str | None = None) -> None:
    assert importlib.util.find_spec("svtune") is None, "svtune is importable here: not the server's environment"
    assert __version__ == "2.7.0", f"sentence-transformers {__version__}, not the server's 2.7.0"
    model_dir, embeddings, name, entry = layout(bundle, cache_root)
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = json.loads((reference / "texts.json").read_text())
    diff = float(np.abs(model.encode(texts) - np.load(reference / "embeddings.npy")).max())
    print(f"model: {len(model)} modules, max embedding difference {diff:.2e}")
    assert diff <= TOLERANCE, f"embeddings differ by {diff:.2e} > {TOLERANCE}"

    dcids, vectors = load_index(embeddings)
    expected = json.loads((reference / "expected_top.json").read_text())
    hits = util.semantic_search(model.encode(list(expected), convert_to_tensor=True), vectors, top_k=TOP_K)
    for (query, want), found in zip(expected.items(), hits):
        got = top_dcid(found, dcids)
        print(f"{query!r}: top {got} ({found[0]['score']:.4f})")
        assert got == want, f"{query!r}: top result {got}, expected {want}"

    assert entry["gcs_folder"].startswith("gs://") and isinstance(entry["score_threshold"], float), entry
    custom = bundle / "nl" / "embeddings" / "custom_catalog.yaml"
    catalog_file = custom if custom.is_file() else bundle / "catalog.yaml"
    indexes = server_reads(catalog_file)   # as nl_server/config_reader.py reads it, after Data Commons' own
    for index_name, index in yaml.safe_load(catalog_file.read_text())["indexes"].items():
        _, vectors = load_index(Path(index["embeddings_path"]))
        assert vectors.shape[1] == model.get_sentence_embedding_dimension(), f"index {index_name}: {vectors.shape}"
        print(f"index {index_name}: {vectors.shape[0]} sentences, model {index['model']}")
    print(f"catalog OK: indexes {indexes}")
    print(f"bundle OK: {len(dcids)} sentences, model {name}, score_threshold {entry['score_threshold']}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.split("\n\n")[1])
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
