"""A custom Data Commons run that knows what it is served beside (`-p dc_dir`): Data Commons' catalog
joins the training pairs, and the run measures the served search (eval/served.py).

    pairs, info = join_dc_pairs(cfg, owner_pairs)          # the owner's pairs x owner_repeat + Data Commons'
    served = served_evaluation(cfg, catalog, tuned, base)   # (a), (b), (c) on both sides' held-out queries

Data Commons' catalog is read at size small (its curated StatVars, alternatives, topics and curated pairs):
what is mined from it sits in the same batches as the owner's pairs, so each side's texts are the other's
in-batch negatives. Its held-out queries (its eval/, else the repo's data/eval) are never trained on: the
leak rule of its curated pairs applies as in any Data Commons run (data/leaks.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.formats import read_index, read_queries
from svtune.data.leaks import heldout_folder
from svtune.data.mining import mine_pairs
from svtune.data.records import pair_key
from svtune.data.served import check_disjoint, owner_rows

DC_SIZE = "small"   # Data Commons' curated catalog: what its medium index's best texts come from


def dc_catalog(cfg):
    return load_catalog(cfg.dc_dir, DC_SIZE, warn=False, heldout_seed=None)


def dc_queries_file(cfg) -> Path:
    """Data Commons' held-out queries: <dc_dir>/eval/queries.csv, else the repo's data/eval."""
    folder = heldout_folder(cfg.dc_dir, "")
    if folder is None or not (folder / "queries.csv").is_file():
        raise DataError("no held-out queries for Data Commons' side (expected <dc_dir>/eval/queries.csv)",
                        Path(cfg.dc_dir))
    return folder / "queries.csv"


def check_served(cfg, owner) -> None:
    """Before anything is written: the Data Commons catalog, its index and its held-out queries read."""
    dc_catalog(cfg)
    rows = read_index(cfg.dc_index)[0]
    check_disjoint(owner_rows(owner), rows, Path(cfg.dc_index))
    read_queries(dc_queries_file(cfg))


def join_dc_pairs(cfg, owner_pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The owner's pairs (owner_repeat copies), then Data Commons' mined pairs not already among them."""
    dc_pairs, report = mine_pairs(dc_catalog(cfg))
    mine = {pair_key(a, b) for a, b in zip(owner_pairs["sentence_1"], owner_pairs["sentence_2"])}
    fresh = [pair_key(a, b) not in mine for a, b in zip(dc_pairs["sentence_1"], dc_pairs["sentence_2"])]
    dc_pairs = dc_pairs[fresh]
    curated = dc_pairs["source"] == "curated_pair"
    keep = dc_pairs[~curated].sample(frac=cfg.hp.dc_fraction, random_state=cfg.seed).index
    dc_pairs = dc_pairs[curated | dc_pairs.index.isin(keep)]
    joined = pd.concat([owner_pairs] * cfg.hp.owner_repeat + [dc_pairs], ignore_index=True)
    return joined, {"dc_dir": cfg.dc_dir, "owner_pairs": len(owner_pairs), "owner_repeat": cfg.hp.owner_repeat,
                    "dc_pairs": len(dc_pairs), "dc_fraction": cfg.hp.dc_fraction, "dc_pairs_per_source": report.counts}


def served_evaluation(cfg, catalog, tuned, base) -> dict:
    """The served search of a custom DC run: the owner's held-out queries and Data Commons', in the merged
    index under one threshold, for (a) the base model, (b) tuned on the owner's index, (c) tuned on both."""
    from svtune.eval.evaluate import eval_files
    from svtune.eval.served import evaluate_served
    qfile = eval_files(cfg)[0]
    owner_q = read_queries(qfile) if qfile else list(catalog.heldout_queries or [])
    dc_q = read_queries(dc_queries_file(cfg))
    out = evaluate_served(base, tuned, owner_rows(catalog), read_index(cfg.dc_index)[0], owner_q, dc_q)
    out["files"] = {"dc_index": cfg.dc_index, "dc_queries": str(dc_queries_file(cfg)),
                    "owner_queries": str(qfile) if qfile else "held-out search descriptions"}
    return out
