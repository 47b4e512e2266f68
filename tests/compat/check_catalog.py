"""Read a catalog svtune wrote the way Data Commons' NL server reads its catalogs (nl_server/config_reader.py,
as ../shared/datacommons/serving.md sets it down): Data Commons' own catalog first, then the additional one
(ADDITIONAL_CATALOG_PATH), a later index or model of the same name replacing the earlier one; every file
needs `version: "1"`; every index its store type, its model (defined somewhere) and, in memory, its
embeddings; every model its type, usage, a gs://bucket/path gcs_folder when LOCAL, and a number threshold.

    server_reads(path)   # the index names the additional catalog defines; AssertionError on what the server refuses

Imports nothing from svtune (it also runs in the compat venv, beside check_bundle.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

STORE_TYPES = {"MEMORY", "LANCEDB", "VERTEXAI"}
MODEL_TYPES = {"LOCAL", "VERTEXAI"}
USAGES = {"EMBEDDINGS", "RERANKING"}
GCS = re.compile(r"gs://[^/]+/.+")
# What Data Commons' own catalog says of the index a custom DC searches beside the owner's.
DATA_COMMONS = {"version": "1",
                "indexes": {"medium_ft": {"store_type": "MEMORY", "source_path": "../input/medium",
                                          "embeddings_path": "gs://datcom-nl-models/embeddings_medium.csv",
                                          "model": "ft-final-v20230717230459-all-MiniLM-L6-v2",
                                          "healthcheck_query": "Life expectancy"}},
                "models": {"ft-final-v20230717230459-all-MiniLM-L6-v2": {
                    "type": "LOCAL", "usage": "EMBEDDINGS", "score_threshold": 0.5,
                    "gcs_folder": "gs://datcom-nl-models/ft_final_v20230717230459.all-MiniLM-L6-v2"}}}


def merge(docs: list[dict]) -> dict:
    """Catalog files in order: each must carry version "1" (else the server's KeyError: 'version')."""
    indexes, models = {}, {}
    for doc in docs:
        assert isinstance(doc, dict), f"a catalog is a mapping, not {type(doc).__name__}"
        assert "version" in doc, "KeyError: 'version' (the server stops at start-up)"
        assert str(doc["version"]) == "1", f"unknown catalog version {doc['version']!r}"
        unknown = sorted(set(doc) - {"version", "indexes", "models"})
        assert not unknown, f"unknown top-level keys {unknown}"
        indexes.update(doc.get("indexes") or {})
        models.update(doc.get("models") or {})
    return {"indexes": indexes, "models": models}


def check(catalog: dict) -> None:
    for name, index in catalog["indexes"].items():
        assert index.get("store_type") in STORE_TYPES, f"index {name}: store_type {index.get('store_type')!r}"
        assert index.get("model") in catalog["models"], f"index {name}: model {index.get('model')!r} is not defined"
        if index["store_type"] == "MEMORY":
            assert index.get("embeddings_path"), f"index {name}: a MEMORY index needs embeddings_path"
    for name, model in catalog["models"].items():
        assert model.get("type") in MODEL_TYPES, f"model {name}: type {model.get('type')!r}"
        assert model.get("usage") in USAGES, f"model {name}: usage {model.get('usage')!r}"
        if model["type"] == "LOCAL":
            assert GCS.fullmatch(str(model.get("gcs_folder", ""))), f"model {name}: Invalid GCS path"
        assert isinstance(model.get("score_threshold"), (int, float)), f"model {name}: score_threshold"


def server_reads(path: Path | str) -> list[str]:
    """The additional catalog at `path`, read after Data Commons' own: the index names it defines."""
    doc = yaml.safe_load(Path(path).read_text())
    catalog = merge([DATA_COMMONS, doc])
    check(catalog)
    return list(doc.get("indexes") or {})


if __name__ == "__main__":
    print(server_reads(sys.argv[1]))
