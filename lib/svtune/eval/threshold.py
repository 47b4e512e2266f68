"""The score threshold a tuned model should be served with, and answered@10 at a threshold (pure numpy).

The Data Commons NL server drops every match whose cosine is below the model's `score_threshold`
(0.5 for MiniLM). Tuning changes the cosine scale, so the threshold is calibrated per model:

    expected = expected_scores(eval_after["details"]["queries"])   # held-out: right answer's score or None
    nonsense = top1_scores(nonsense_emb, index_emb)                # best score of each nonsense query
    calibration(expected, nonsense)   # {"threshold": ..., "answered@10": {"0.5": ..., "calibrated": ...}, ...}

Rule: every nonsense query must score below the threshold; among such thresholds, all keep the same
right answers (those scoring above the highest nonsense score), so the tie is broken by taking the
midpoint between the highest nonsense score and the lowest right answer kept (the widest margin on
both sides). With no right answer above the nonsense, the threshold sits just above the highest
nonsense score. Nonsense queries live in data/eval/nonsense.csv (one column `query`; read_nonsense).

A threshold is not graded on the queries that set it: given the queries' texts, it is calibrated on the
held-out queries whose text's sha256 ends in an even byte (`half` 0) and answered@10 is reported on the
others; both halves' figures are recorded. The nonsense and the right answers are searched in one index.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from svtune import paths
from svtune.data.csvio import read_rows

NONSENSE_FILE = paths.DATA_DIR / "eval" / "nonsense.csv"
DEFAULT_THRESHOLD = 0.5   # the server's threshold for the MiniLM models
RULE = "midpoint between the highest nonsense top-1 score and the lowest right answer above it"
HALVES = ("calibrated on the held-out queries whose sha256 ends in an even byte, answered@10 graded on the "
          "other half")


def half(text: str, byte: int = -1) -> int:
    """A fixed, content-based split of held-out items, the same on every machine: the parity of one byte of
    the text's sha256 (the last for the threshold: 0 calibrates, 1 grades; bench/merge.py uses the first)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[byte] % 2


def read_nonsense(path: Path | str = NONSENSE_FILE) -> list[str]:
    """Queries that have no right answer in any StatVar catalog, from a CSV with a `query` column
    (blank rows skipped, repeats kept once)."""
    return list(dict.fromkeys(row.cells["query"].strip() for row in read_rows(Path(path), ["query"])))


def expected_scores(details: Sequence[dict]) -> list[float | None]:
    """Per held-out query (evaluate.py's details["queries"]: "expected" dcids and "top" [dcid, score]
    pairs, best first): the score of its best-ranked expected dcid within the top, else None."""
    out = []
    for q in details:
        wanted = set(q["expected"])
        out.append(next((float(score) for dcid, score in q["top"] if dcid in wanted), None))
    return out


def top1_scores(query_emb: np.ndarray, index_emb: np.ndarray) -> np.ndarray:
    """Best cosine of each query over every index sentence (what the server's top match scores)."""
    q = query_emb / np.linalg.norm(query_emb, axis=1, keepdims=True)
    e = index_emb / np.linalg.norm(index_emb, axis=1, keepdims=True)
    return (q @ e.T).max(axis=1)


def answered(expected: Sequence[float | None], threshold: float) -> float:
    """answered@10: share of held-out queries whose right answer is in the top 10 and scores >= threshold."""
    if not expected:
        raise ValueError("answered@10 needs at least one held-out query")
    return sum(s is not None and s >= threshold for s in expected) / len(expected)


def calibrate(expected: Sequence[float | None], nonsense: Sequence[float]) -> float:
    """The threshold of the module docstring's rule."""
    if len(nonsense) == 0:
        raise ValueError("calibration needs at least one nonsense query")
    top = float(np.max(nonsense))
    kept = [s for s in expected if s is not None and s > top]
    if not kept:
        return float(np.nextafter(top, np.inf))
    low = min(kept)
    mid = (top + low) / 2
    short = round(mid, 4)   # a readable number in catalog.yaml, where it keeps the same answers
    return short if top < short <= low else mid


def calibration(expected: Sequence[float | None], nonsense: Sequence[float],
                default: float = DEFAULT_THRESHOLD, queries: Sequence[str] | None = None) -> dict:
    """The calibrated threshold with what it keeps and loses, next to the server's default. With the
    queries' texts, calibrated on half 0 and graded on half 1 (`answered@10`), half 0's own figures beside."""
    split = queries is not None and len({half(q) for q in queries}) == 2
    calib = [e for e, q in zip(expected, queries) if half(q) == 0] if split else list(expected)
    graded = [e for e, q in zip(expected, queries) if half(q) == 1] if split else list(expected)
    threshold = calibrate(calib, nonsense)
    top = float(np.max(nonsense))
    found = [s for s in expected if s is not None]
    out = {"threshold": threshold, "rule": RULE + ("; " + HALVES if split else ""), "default": default,
           "answered@10": {"default": answered(graded, default), "calibrated": answered(graded, threshold)},
           "heldout_queries": len(expected), "graded_queries": len(graded), "in_top10": len(found),
           "nonsense_queries": len(nonsense), "nonsense_max": top,
           "nonsense_above_default": int(sum(s >= default for s in nonsense)),
           "answers_at_or_below_nonsense": sum(s <= top for s in found)}
    if split:
        out["answered@10_calibration_half"] = {"default": answered(calib, default),
                                               "calibrated": answered(calib, threshold)}
    return out
