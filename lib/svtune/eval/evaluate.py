"""Evaluate an embedding model on StatVar search: pair similarity, retrieval, collapse check.

Retrieval is ranked the way a StatVar search server ranks: the index holds every
catalog sentence mapped to its dcid, and a dcid scores its best sentence's cosine.

    svtune evaluate --model all-MiniLM-L6-v2 --catalog data \
        --queries data/eval/queries.csv --pairs data/eval/pairs.csv [--json out.json]

Several --model values give a side-by-side table; the last line printed is
always one JSON object with every metric.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

from svtune import paths, runs
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.custom_dc import custom_dc_kind
from svtune.data.formats import index_from_catalog, names_from_catalog, read_index, read_pairs, read_queries
from svtune.data.heldout import label, seed_for
from svtune.data.leaks import HELD_OUT, heldout_folder
from svtune.eval.headline import (
    AUTOGEN,
    CALIBRATION,
    COLLAPSE,
    CURATED,
    MRR,
    PAIRS,
    RETRIEVAL,
    SPEARMAN_HELDOUT,
    TOPICS,
)
from svtune.eval.metrics import pair_summary, paired_bootstrap, reciprocal_rank, retrieval_summary
from svtune.eval.threshold import calibration, expected_scores, read_nonsense
from svtune.model.embeddings import encode
from svtune.model.load import load_model
from svtune.model.search import score_blocks

NONSENSE_QUERIES = ["random random", "who where why", "__124__abc"]
NONSENSE_MAX = 0.5           # a healthy model keeps nonsense below this (issue target; 0.7 is lax)
RANDOM_PAIR_RISE_MAX = 0.05  # unrelated pairs may get at most this much closer than in the base model
RANDOM_PAIRS = 1000
# The held-out MRR@10 gain over the base model the default recipe is held to (docs/experiments.md).
MRR_GAIN_TARGET = 0.06
TOP_K = 10


# Query x sentence similarities are computed this many cells at a time (~256 MB of float32),
# so a 100k-StatVar index never holds a full query x catalog matrix.


class Index:
    """Encoded index sentences; `search` scores each dcid by its best sentence."""

    def __init__(self, model, rows: list[tuple[str, str]], progress: bool = False):
        rows = sorted(set(rows), key=lambda r: (r[1], r[0]))
        self.sentences = [s for s, _ in rows]
        dcids = [d for _, d in rows]
        self.dcids = list(dict.fromkeys(dcids))
        self.starts = np.searchsorted(np.array(dcids), np.array(self.dcids))  # rows are sorted by dcid
        self.emb = encode(model, self.sentences, progress)
        self.model = model

    def search(self, queries: list[str], k: int = TOP_K) -> list[list[tuple[str, float]]]:
        """Top-k dcids per query, best first (ties keep index order), in bounded memory."""
        if not queries:
            return []
        q = encode(self.model, queries)
        k = min(k, len(self.dcids))
        out = []
        for _, block in score_blocks(q, self.emb):
            scores = np.maximum.reduceat(block, self.starts, axis=1)
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for row, cand in zip(scores, top):
                cand = cand[np.lexsort((cand, -row[cand]))]   # by score, then index order
                out.append([(self.dcids[j], float(row[j])) for j in cand])
        return out


def evaluate_retrieval(index: Index, queries: list[tuple[str, list[str]]]) -> tuple[dict, list[dict]]:
    """Metrics over queries with at least one expected dcid in the index; others are counted."""
    known = set(index.dcids)
    kept = [(q, [d for d in exp if d in known]) for q, exp in queries if exp]
    skipped = [q for q, exp in kept if not exp]
    kept = [(q, exp) for q, exp in kept if exp]
    tops = index.search([q for q, _ in kept])
    summary = retrieval_summary([[d for d, _ in t] for t in tops], [e for _, e in kept])
    summary["skipped_not_in_catalog"] = len(skipped)
    details = [{"query": q, "expected": e, "top": t} for (q, e), t in zip(kept, tops)]
    return summary, details


def evaluate_pairs(model, pairs: list[tuple[str, str, float]]) -> tuple[dict, list[dict]]:
    if not pairs:
        return {"pairs": 0}, []
    a = encode(model, [p[0] for p in pairs])
    b = encode(model, [p[1] for p in pairs])
    cos = (a * b).sum(axis=1).astype(float)
    labels = [p[2] for p in pairs]
    details = [{"sentence_1": s1, "sentence_2": s2, "label": y, "cosine": float(c)}
               for (s1, s2, y), c in zip(pairs, cos)]
    return pair_summary(labels, cos), details


def collapse_check(model, index: Index, seed: int = 0) -> dict:
    """Mean cosine of random sentences from different StatVars; best score of nonsense queries."""
    rng = random.Random(seed)
    sims = []
    if len(index.dcids) >= 2:
        # One sentence per StatVar (its first in index order), pairs from different StatVars.
        firsts = index.emb[index.starts]
        for _ in range(RANDOM_PAIRS):
            x, y = rng.sample(range(len(index.dcids)), 2)
            sims.append(float(firsts[x] @ firsts[y]))
    nonsense = index.search(NONSENSE_QUERIES, k=1)
    best = {q: t[0][1] for q, t in zip(NONSENSE_QUERIES, nonsense)}
    return {"random_pair_mean_cosine": float(np.mean(sims)) if sims else None,
            "nonsense_best": best, "nonsense_max": max(best.values())}


NO_EVAL = "none"   # -p eval_dir none: train without held-out evaluation, said so everywhere


def eval_files(cfg) -> tuple[Path | None, Path | None, Path | None]:
    """Held-out queries, pairs and topic queries: cfg.eval_dir, else <data_dir>/eval, else the repo's
    data/eval (Data Commons' held-out sets: check_coverage refuses them for another field's catalog);
    none with `eval_dir` "none", and none for a custom Data Commons without eval/ (its catalog holds
    out its own search descriptions: data/heldout.py)."""
    folder = heldout_folder(cfg.data_dir, cfg.eval_dir)
    if folder is not None:
        files = [folder / name for name, _ in HELD_OUT]
        return tuple(f if f.exists() or f.is_symlink() else None for f in files)
    if str(cfg.eval_dir).lower() == NO_EVAL or (not cfg.eval_dir and custom_dc_kind(cfg.data_dir)):
        return None, None, None
    raise DataError("no held-out sets (queries.csv, pairs.csv) here: add them, or pass -p eval_dir none to "
                    "train without a held-out evaluation", paths.resolve(cfg.eval_dir))


def check_coverage(queries: list[tuple[str, list[str]]], known: set[str], path: Path) -> None:
    """Refuse a held-out query set whose answers are mostly not in the catalog: its figures would be
    computed on a few queries (or none) while looking like a full evaluation."""
    answerable = sum(any(d in known for d in expected) for _, expected in queries)
    if queries and answerable * 2 < len(queries):
        fallback = Path(path).parent == paths.DATA_DIR / "eval"
        raise DataError(f"only {answerable} of {len(queries)} held-out queries have their expected StatVar in "
                        "this catalog" + (" (the catalog has no eval/ of its own, and the repo's data/eval is "
                                          "for Data Commons' catalog)" if fallback else "") +
                        ": add held-out sets for your catalog as <data_dir>/eval/queries.csv and pairs.csv "
                        "(data/README.md), or pass -p eval_dir none to train without a held-out evaluation", path)


def evaluate_model(model, index_rows, queries, heldout_pairs, curated_pairs=(), progress=False,
                   topic_queries=()) -> dict:
    """All metrics for one model; `details` holds per-query and per-pair results. Topic queries
    (answered by a topic, topic_queries.csv) are scored apart from the StatVar queries."""
    index = Index(model, index_rows, progress)
    retrieval, qdetails = evaluate_retrieval(index, queries)
    held, hdetails = evaluate_pairs(model, list(heldout_pairs))
    cur, cdetails = evaluate_pairs(model, list(curated_pairs))
    out = {RETRIEVAL: retrieval, PAIRS: held, CURATED: cur,
           COLLAPSE: collapse_check(model, index),
           "details": {"queries": qdetails, PAIRS: hdetails, CURATED: cdetails}}
    if topic_queries:
        out[TOPICS], out["details"]["topic_queries"] = evaluate_retrieval(index, topic_queries)
    if qdetails:   # the score threshold to serve this model with, and answered@10 (threshold.py)
        nonsense = [top[0][1] for top in index.search([*read_nonsense(), *NONSENSE_QUERIES], k=1)]
        out[CALIBRATION] = calibration(expected_scores(qdetails), nonsense, queries=[q["query"] for q in qdetails])
    return out


def evaluate_run(model, catalog, cfg) -> dict:
    """A run's evaluation: its catalog as the index, the held-out files, the curated pairs."""
    full = catalog if not cfg.max_statvars else \
        load_catalog(cfg.data_dir, cfg.size, warn=False, heldout_seed=seed_for(cfg), eval_dir=cfg.eval_dir)
    qfile, pfile, tfile = eval_files(cfg)
    own = full.heldout_queries if not (qfile or pfile) else None   # a custom DC's own held-out words
    queries = read_queries(qfile) if qfile else list(own or [])
    heldout = read_pairs(pfile) if pfile else []
    topic_queries = read_queries(tfile) if tfile and full.num_topics else []
    curated = [(p.sentence_1, p.sentence_2, p.score) for p in catalog.pairs]
    out = evaluate_model(model, index_from_catalog(full), queries, heldout, curated, progress=True,
                         topic_queries=topic_queries)
    out["files"] = {"queries": str(qfile) if qfile else None, "pairs": str(pfile) if pfile else None,
                    "topic_queries": str(tfile) if topic_queries else None}
    if own is not None:
        out["heldout"] = label(len(own))
    autogen = {d for d, sv in full.statvars.items() if sv.autogen}
    if autogen and out["details"]["queries"]:
        out[AUTOGEN] = retrieval_of(out["details"]["queries"], autogen)
    out["names"] = names_from_catalog(full)
    return out


def retrieval_of(details: list[dict], dcids: set[str]) -> dict:
    """The retrieval figures over the queries whose expected StatVars are all in `dcids` (the
    autogenerated ones, which no curated alternative describes: where a teacher's knowledge shows)."""
    subset = [q for q in details if set(q["expected"]) <= dcids]
    return retrieval_summary([[d for d, _ in q["top"]] for q in subset], [q["expected"] for q in subset])


def _flat(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if k in ("details", "names", "files"):
            continue
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[prefix + k] = v
    return out


def deltas(before: dict, after: dict) -> dict[str, float]:
    """after - before for every numeric metric the two share."""
    b, a = _flat(before), _flat(after)
    return {k: a[k] - b[k] for k in a if k in b and not k.endswith(("queries", "pairs"))}


def paired_differences(a: dict, b: dict) -> dict:
    """Paired bootstrap of model A against model B on the same held-out queries and pairs, from
    two evaluations' `details` (metrics.paired_bootstrap: difference, 95% interval, P(A>B))."""
    out = {}
    qa, qb = a["queries"], b["queries"]
    if [q["query"] for q in qa] != [q["query"] for q in qb]:
        raise ValueError("the two were evaluated on different queries (or catalogs): not comparable")
    if len(qa) >= 2:
        rr = [[reciprocal_rank([d for d, _ in q["top"]], q["expected"]) for q in qs] for qs in (qa, qb)]
        out[MRR] = paired_bootstrap("mean", rr[0], rr[1])
    pa, pb = a[PAIRS], b[PAIRS]
    if [(p["sentence_1"], p["sentence_2"]) for p in pa] != [(p["sentence_1"], p["sentence_2"]) for p in pb]:
        raise ValueError("the two were evaluated on different held-out pairs: not comparable")
    if len(pa) >= 2:
        out[SPEARMAN_HELDOUT] = paired_bootstrap("spearman", [p["cosine"] for p in pa],
                                                   [p["cosine"] for p in pb], [p["label"] for p in pa])
    return out


def health_check(before: dict, after: dict) -> dict:
    """The no-collapse rules; `ok` is False (and a warning is printed) when one breaks."""
    rise = after["collapse"]["random_pair_mean_cosine"] - before["collapse"]["random_pair_mean_cosine"]
    problems = []
    if after["collapse"]["nonsense_max"] >= NONSENSE_MAX:
        problems.append(f"a nonsense query scores {after['collapse']['nonsense_max']:.3f} >= {NONSENSE_MAX}")
    if rise > RANDOM_PAIR_RISE_MAX:
        problems.append(f"unrelated pairs rose {rise:+.3f} in mean cosine (> {RANDOM_PAIR_RISE_MAX})")
    unchecked = [what for what, key in (("retrieval (no held-out queries)", "retrieval"),
                                        ("graded pairs (no held-out pairs)", "pairs_heldout"))
                 if not (after.get(key) or {}).get("queries" if key == "retrieval" else "pairs")]
    for p in problems:
        print(f"\n!!! COLLAPSE WARNING: {p}. The tuned model scores everything higher; "
              "do not ship it without a look.\n", file=sys.stderr)
    return {"ok": not problems, "problems": problems, "random_pair_rise": rise, "unchecked": unchecked}


def model_label(spec: str) -> str:
    """A column name people recognise: a run's folder name for `<run>/model`, else the name given."""
    p = Path(spec.rstrip("/"))
    if p.name == runs.MODEL and (p.parent / runs.CONFIG).is_file():
        return p.parent.name
    return p.name if p.exists() else spec


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:d}" if isinstance(value, int) else f"{value:.4f}"


def print_table(table: dict[str, dict[str, float]]) -> None:
    """One row per metric, one column per model; counts print as integers."""
    keys = list(dict.fromkeys(k for t in table.values() for k in t if "band_mean" not in k))
    width = max(len(k) for k in keys)
    cols = {m: max(10, len(m)) for m in table}
    print(f"{'metric':<{width}}  " + "  ".join(f"{m:>{w}}" for m, w in cols.items()))
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{_cell(table[m].get(k)):>{w}}" for m, w in cols.items()))


def command(models: list[str], catalog: str, queries: str, pairs: str | None = None, size: str = "small",
            json_out: str | None = None) -> dict:
    """`svtune evaluate`: every model on one index, side by side; the metrics as JSON on stdout."""
    rows, _ = read_index(catalog, size)
    query_rows = read_queries(queries)
    pair_rows = read_pairs(pairs) if pairs else []
    results = {}
    for i, m in enumerate(models):
        label = model_label(m)
        key = label if label not in results else f"{label}#{i + 1}"   # the same model twice stays two columns
        print(f"[{i + 1}/{len(models)}] {key}: encoding {len(rows):,} index sentences, "
              f"{len(query_rows)} queries, {len(pair_rows)} pairs ...", file=sys.stderr, flush=True)
        results[key] = evaluate_model(load_model(m), rows, query_rows, pair_rows, progress=True)
    print_table({m: _flat(r) for m, r in results.items()})

    def one_or_all(d):
        return d if len(d) > 1 else next(iter(d.values()))
    if json_out:
        Path(json_out).write_text(json.dumps(one_or_all(results), indent=2, default=float))
    summary = {m: {k: v for k, v in r.items() if k != "details"} for m, r in results.items()}
    print(json.dumps(one_or_all(summary), default=float))
    return results

