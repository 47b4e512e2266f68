"""Quality as served: the owner's index and Data Commons' medium index searched together, as a custom
Data Commons' NL server searches them (nl_server/search.py, merge.py; ../shared/datacommons/serving.md).

Each index is encoded by the model that serves it. A query takes the top SERVER_TOP sentences of each
index, a variable its best sentence's cosine; the lists are merged by raw cosine and ranked by
(-round(score, 6), dcid). One threshold applies to every match: the first index's model's.

    served = evaluate_served(base, tuned, owner_rows, dc_rows, owner_queries, dc_queries)
    served["configs"]["c"]["owner"]["mrr@10"]     # the tuned model serving both indexes
    served["intervals"]["c"]["owner"]["mrr@10"]   # paired bootstrap of (c) against (a)

Configurations: (a) the base model serving both indexes (today's custom DC: one 2023 MiniLM, threshold
0.5); (b) the tuned model on the owner's index only, beside (a)'s medium index; (c) the tuned model
serving both. The threshold of (b) and (c) is calibrated (threshold.py's rule, nonsense queries searched
in the same merged index) on one half of the held-out queries of both sides and answered@10 is graded on
the other half (the halves: sha256 of the query text, even or odd), so no query grades the threshold it set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from svtune import paths
from svtune.data.csvio import DataError
from svtune.data.formats import read_index, read_queries
from svtune.eval.evaluate import NONSENSE_QUERIES
from svtune.eval.metrics import paired_bootstrap, reciprocal_rank
from svtune.eval.threshold import DEFAULT_THRESHOLD, calibrate, half, read_nonsense
from svtune.model.embeddings import encode
from svtune.model.load import load_model
from svtune.model.search import score_blocks

SERVER_TOP = 40   # sentences per index per query (nl_server: semantic_search top_k)
TOP_K = 10
CONFIGS = {"a": "base, both indexes (today)", "b": "tuned on the owner's, base on Data Commons'",
           "c": "tuned, both indexes"}
SIDES = ("owner", "dc")
HALF_RULE = ("threshold calibrated on the held-out queries whose sha256 is even, answered@10 graded on "
             "the odd ones (both sides)")


class Part:
    """One served index: distinct sentences, the dcids each one stands for, encoded by its model."""

    def __init__(self, model, rows: list[tuple[str, str]]):
        by_text: dict[str, set[str]] = {}
        for sentence, dcid in rows:
            if sentence.strip():
                by_text.setdefault(sentence.strip(), set()).add(dcid)
        self.sentences = sorted(by_text)
        self.dcids = [sorted(by_text[s]) for s in self.sentences]
        self.all_dcids = {d for ds in self.dcids for d in ds}
        self.model = model
        self.emb = encode(model, self.sentences, progress=len(self.sentences) > 5000)

    def hits(self, queries: list[str], q_emb: np.ndarray | None = None) -> list[dict[str, float]]:
        """Per query: dcid -> best score among this index's top SERVER_TOP sentences."""
        q = encode(self.model, queries) if q_emb is None else q_emb
        k = min(SERVER_TOP, len(self.sentences))
        out = []
        for _, block in score_blocks(q, self.emb):
            top = np.argpartition(-block, k - 1, axis=1)[:, :k]
            for row, cand in zip(block, top):
                found: dict[str, float] = {}
                for j in cand:
                    for d in self.dcids[j]:
                        found[d] = max(found.get(d, -1.0), float(row[j]))
                out.append(found)
        return out


def merged_search(parts: list[Part], queries: list[str], k: int = TOP_K) -> list[list[tuple[str, float]]]:
    """The server's merge: every index's hits, a dcid at its best score, ranked (-round(score, 6), dcid)."""
    if not queries:
        return []
    per_part = [p.hits(queries) for p in parts]
    out = []
    for found in zip(*per_part):
        merged: dict[str, float] = {}
        for hits in found:
            for d, s in hits.items():
                merged[d] = max(merged.get(d, -1.0), s)
        out.append(sorted(merged.items(), key=lambda x: (-round(x[1], 6), x[0]))[:k])
    return out


def _side(tops, queries, other: set[str], graded: list[bool], threshold: float) -> tuple[dict, dict]:
    rr = [reciprocal_rank([d for d, _ in t], exp, TOP_K) for t, (_, exp) in zip(tops, queries)]
    top1 = [float(bool(t) and t[0][0] in exp) for t, (_, exp) in zip(tops, queries)]
    right = [next((s for d, s in t if d in exp), None) for t, (_, exp) in zip(tops, queries)]
    answered = [s is not None and s >= threshold for s, g in zip(right, graded) if g]
    first_other = [float(bool(t) and t[0][0] in other) for t in tops]
    n = len(queries)
    figures = {"queries": n, "mrr@10": float(np.mean(rr)) if n else None, "top1": float(np.mean(top1)) if n else None,
               "answered@10": float(np.mean(answered)) if answered else None, "graded_queries": len(answered),
               "first_answer_other_index": float(np.mean(first_other)) if n else None}
    return figures, {"rr": rr, "top1": top1, "right_score": right}


def _config(parts: list[Part], owner_q, dc_q, nonsense: list[str], threshold: float | None) -> tuple[dict, dict]:
    """One configuration's figures; `threshold` None: calibrated on the calibration half."""
    owner_ids, dc_ids = parts[0].all_dcids, parts[1].all_dcids
    tops = merged_search(parts, [q for q, _ in owner_q] + [q for q, _ in dc_q])
    t_owner, t_dc = tops[:len(owner_q)], tops[len(owner_q):]
    noise = [t[0][1] for t in merged_search(parts, nonsense, k=1)]
    rule = "the server's stock threshold of the 2023 MiniLM"
    if threshold is None:
        calib = [next((s for d, s in t if d in exp), None)
                 for t, (q, exp) in zip(tops, [*owner_q, *dc_q]) if half(q) == 0]
        threshold, rule = calibrate(calib, noise), HALF_RULE
    out, details = {"threshold": float(threshold), "threshold_rule": rule, "nonsense_max": float(max(noise)),
                    "nonsense_below_threshold": bool(max(noise) < threshold)}, {}
    for side, qs, t, other in (("owner", owner_q, t_owner, dc_ids - owner_ids),
                               ("dc", dc_q, t_dc, owner_ids - dc_ids)):
        out[side], details[side] = _side(t, qs, other, [half(q) == 1 for q, _ in qs], threshold)
    details["top"] = {"owner": t_owner, "dc": t_dc}
    return out, details


def evaluate_served(base, tuned, owner_rows, dc_rows, owner_queries, dc_queries) -> dict:
    """(a), (b), (c) of the module docstring on the owner's and Data Commons' held-out queries (those whose
    expected variable is in the index of their side), with paired intervals of (b) and (c) against (a)."""
    nonsense = list(dict.fromkeys([*NONSENSE_QUERIES, *read_nonsense()]))
    parts = {("base", "owner"): Part(base, owner_rows), ("base", "dc"): Part(base, dc_rows)}
    parts[("tuned", "owner")] = Part(tuned, owner_rows)
    parts[("tuned", "dc")] = Part(tuned, dc_rows)
    known = {"owner": parts[("base", "owner")].all_dcids, "dc": parts[("base", "dc")].all_dcids}
    queries = {}
    for side, qs in (("owner", owner_queries), ("dc", dc_queries)):
        queries[side] = [(q, [d for d in exp if d in known[side]]) for q, exp in qs]
        queries[side] = [(q, exp) for q, exp in queries[side] if exp]
    layout = {"a": (("base", "owner"), ("base", "dc"), DEFAULT_THRESHOLD),
              "b": (("tuned", "owner"), ("base", "dc"), None), "c": (("tuned", "owner"), ("tuned", "dc"), None)}
    configs, details = {}, {}
    for name, (first, second, threshold) in layout.items():
        configs[name], details[name] = _config([parts[first], parts[second]], queries["owner"], queries["dc"],
                                               nonsense, threshold)
        configs[name]["label"] = CONFIGS[name]
    intervals = {name: {side: {m: paired_bootstrap("mean", details[name][side][m], details["a"][side][m])
                               for m in ("rr", "top1")} for side in SIDES if len(queries[side]) >= 2}
                 for name in ("b", "c")}
    for sides in intervals.values():
        for figs in sides.values():
            figs["mrr@10"] = figs.pop("rr")
    skipped = {side: len(qs) - len(queries[side]) for side, qs in (("owner", owner_queries), ("dc", dc_queries))}
    return {"configs": configs, "intervals": intervals, "skipped_not_in_index": skipped,
            "index_sentences": {"owner": len(parts[("base", "owner")].sentences),
                                "dc": len(parts[("base", "dc")].sentences)},
            "details": {name: {side: [{"query": q, "expected": e, "top": t}
                                      for (q, e), t in zip(queries[side], details[name]["top"][side])]
                               for side in SIDES} for name in details}}


SIDE_NAMES = {"owner": "owner's", "dc": "Data Commons'"}


def rows(served: dict) -> list[list[str]]:
    """(c) against (a) first, then (b): per side MRR@10, top-1, answered@10, first answer from the other
    index, and the paired interval of MRR@10 against (a)."""
    out = []
    for name in ("c", "a", "b"):
        c = served["configs"][name]
        for side in SIDES:
            f, iv = c[side], served["intervals"].get(name, {}).get(side, {}).get("mrr@10")
            vs = (f"{iv['diff']:+.3f} [{iv['diff_ci95'][0]:+.3f}, {iv['diff_ci95'][1]:+.3f}]" if iv else "")
            out.append([f"({name}) {c['label']}", f"{SIDE_NAMES[side]} ({f['queries']})", f"{f['mrr@10']:.3f}",
                        f"{f['top1']:.3f}", f"{f['answered@10']:.3f}" if f["answered@10"] is not None else "–",
                        f"{f['first_answer_other_index']:.3f}", vs])
    return out


COLUMNS = ["configuration", "queries", "MRR@10", "top-1", "answered@10", "1st from other index",
           "MRR@10 vs (a) [95%]"]


def summary_lines(served: dict) -> list[str]:
    """The served search in a run's terminal summary: (c) against (a) first."""
    c = served["configs"]["c"]
    return [f"served search (your index + Data Commons' medium index, merged by raw cosine; one threshold "
            f"{c['threshold']:.3f}, {c['threshold_rule']}):",
            pd.DataFrame(rows(served), columns=COLUMNS).to_string(index=False)]


def card_lines(served: dict) -> list[str]:
    """The model card's section: the same table in Markdown."""
    c = served["configs"]["c"]
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    table += ["| " + " | ".join(r) + " |" for r in rows(served)]
    return ["", "## Served beside Data Commons", "",
            "A custom Data Commons searches its owner's index and Data Commons' medium index together, merges "
            "their matches by raw cosine and keeps those above one threshold (the first index's model's). "
            f"Served with this model on both: `score_threshold: {c['threshold']:.3f}` ({c['threshold_rule']}); "
            f"the highest nonsense query scores {c['nonsense_max']:.3f}.", "", *table]


def command(models: list[str], catalog: str, queries: str, dc_index: str, dc_queries: str | None = None,
            size: str = "small", json_out: str | None = None) -> dict:
    """`svtune evaluate --served-with DC_INDEX`: (a), (b), (c) of two models, the base then the tuned, on the
    owner's index (`catalog`) merged with Data Commons' (`dc_index`); the figures as JSON on the last line."""
    if len(models) != 2:
        raise DataError(f"--served-with compares two models, the base (today's) and the tuned: got {len(models)}")
    owner, _ = read_index(catalog, size)
    dc_q = read_queries(dc_queries or paths.DATA_DIR / "eval" / "queries.csv")
    out = evaluate_served(load_model(models[0]), load_model(models[1]), owner, read_index(dc_index)[0],
                          read_queries(queries), dc_q)
    print("\n".join(summary_lines(out)))
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps({k: v for k, v in out.items() if k != "details"}, default=float))
    return out
