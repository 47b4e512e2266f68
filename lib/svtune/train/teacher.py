"""A stronger model grades pairs for the student (AugSBERT-style silver labels).

The teacher (any SentenceTransformer; all-mpnet-base-v2 after `svtune fetch`) embeds
every text once (cached per teacher fingerprint and text, embeddings.py, so a rerun pays
nothing). Its cosines are mapped onto the curated label scale by a least-squares line fitted
on the curated pairs (gold labels), clipped to [0, 1]: a teacher cosine of 0.5 may mean
"unrelated" on one model and "related" on another. It then

  * labels every pair (column `teacher` of pairs.csv), which a recipe may train on instead of
    the rule labels of mined and relation pairs;
  * adds `teacher~neighbour` pairs: each catalog item's name with the names of its nearest
    other items in the teacher's space, graded by the teacher. These carry the graded
    relatedness ("poverty ~ food stamps" above "poverty ~ rainfall") that neither the mining
    rules nor in-batch negatives give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from svtune.data import sources
from svtune.data.records import pair_key
from svtune.model.embeddings import encode
from svtune.model.search import score_blocks

NEIGHBOUR_SOURCE = sources.TEACHER_NEIGHBOUR


@dataclass
class Space:
    """The teacher's embeddings of a run's texts and its calibration onto the label scale: what a
    recipe distils (recipes.InBatch.teacher_distill)."""
    texts: list[str]
    emb: np.ndarray
    slope: float
    intercept: float
    targets: np.ndarray | None = None   # each text's teacher embedding in the student's space (project)

    def ids(self, texts) -> list[int]:
        index = {t: i for i, t in enumerate(self.texts)}
        return [index[t] for t in texts]


def space(teacher, pairs: pd.DataFrame, slope: float, intercept: float, student=None,
          catalog_texts: list[str] = ()) -> Space:
    """The teacher's embeddings of every pair text (and of `catalog_texts`, which the projection is
    fitted on too); with a `student`, their projection onto its space for embedding-level distillation."""
    texts = sorted({t for col in ("sentence_1", "sentence_2") for t in pairs[col]} | set(catalog_texts))
    emb = encode(teacher, texts, progress=len(texts) > 2000)
    targets = project(emb, encode(student, texts, progress=len(texts) > 2000)) if student is not None else None
    return Space(texts, emb, slope, intercept, targets)


def project(teacher_emb: np.ndarray, student_emb: np.ndarray) -> np.ndarray:
    """The teacher's embeddings brought to the student's dimensions and basis, unit length.

    PCA to the student's width, as sentence-transformers' distillation example does, then the
    orthogonal rotation (Procrustes) that best lays those coordinates onto the student's own
    embeddings of the same texts: a rotation keeps every teacher cosine, and the student need not
    turn its whole space to a basis it has never seen. Scaled to the student's spread and moved to
    its mean, so only the relative geometry is the teacher's."""
    t = teacher_emb.astype(np.float64) - teacher_emb.mean(0)
    s_mean = student_emb.mean(0)
    s = student_emb.astype(np.float64) - s_mean
    dim = student_emb.shape[1]
    _, _, vt = np.linalg.svd(t, full_matrices=False)
    z = t @ vt[:dim].T                                       # PCA coordinates, student's width
    if z.shape[1] < dim:                                      # fewer texts than dimensions
        z = np.pad(z, ((0, 0), (0, dim - z.shape[1])))
    u, _, wt = np.linalg.svd(z.T @ s)
    rotated = z @ (u @ wt) * (np.linalg.norm(s) / max(np.linalg.norm(z), 1e-12))
    out = rotated + s_mean
    return (out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


def calibration(cosines: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of label ~ cosine over the curated pairs; the identity without enough of them."""
    if len(cosines) < 5 or np.std(cosines) == 0:
        return 1.0, 0.0
    slope, intercept = np.polyfit(cosines, labels, 1)
    return float(slope), float(intercept)


def _item_texts(catalog) -> tuple[list[str], list[str]]:
    dcids, texts = [], []
    for dcid, sv in catalog.statvars.items():
        text = sv.name or (sv.descriptions[0] if sv.descriptions else "")
        if text:
            dcids.append(dcid)
            texts.append(text)
    return dcids, texts


def neighbour_pairs(teacher, catalog, k: int, exclude: set[tuple[str, str]]) -> pd.DataFrame:
    """Each item's name with its `k` nearest other items' names (teacher cosine), pairs in
    `exclude` (already labelled) left out; raw cosines in `score`."""
    dcids, texts = _item_texts(catalog)
    if k < 1 or len(texts) < 2:
        return pd.DataFrame(columns=["sentence_1", "sentence_2", "score"])
    emb = encode(teacher, texts, progress=len(texts) > 2000)
    k = min(k, len(texts) - 1)
    rows, seen = [], set(exclude)
    for start, sims in score_blocks(emb, emb):
        for r, row in enumerate(sims, start):
            row[r] = -np.inf
            for j in np.argpartition(-row, k)[:k + 1]:
                key = pair_key(texts[r], texts[j])
                if j != r and key not in seen and key[0] != key[1]:
                    seen.add(key)
                    rows.append((texts[r], texts[j], float(row[j])))
    return pd.DataFrame(rows, columns=["sentence_1", "sentence_2", "score"])


def annotate(teacher, catalog, pairs: pd.DataFrame, neighbours: int) -> tuple[pd.DataFrame, dict]:
    """`pairs` with a calibrated `teacher` label on every row, plus `neighbours` teacher-graded
    neighbour pairs per catalog item; and what was done, for the run's metrics."""
    texts = sorted({t for col in ("sentence_1", "sentence_2") for t in pairs[col]})
    index = {t: i for i, t in enumerate(texts)}
    emb = encode(teacher, texts, progress=len(texts) > 2000)

    def cosines(df: pd.DataFrame) -> np.ndarray:
        if df.empty:
            return np.zeros(0)
        a = emb[[index[t] for t in df["sentence_1"]]]
        b = emb[[index[t] for t in df["sentence_2"]]]
        return (a * b).sum(axis=1)

    curated = pairs["source"] == sources.CURATED
    raw = cosines(pairs)
    slope, intercept = calibration(raw[curated.to_numpy()], pairs.loc[curated, "score"].to_numpy(float))
    out = pairs.assign(teacher=np.clip(slope * raw + intercept, 0, 1))
    near = neighbour_pairs(teacher, catalog, neighbours, {pair_key(a, b) for a, b in
                                                           zip(pairs["sentence_1"], pairs["sentence_2"])})
    if not near.empty:
        label = np.clip(slope * near["score"].to_numpy() + intercept, 0, 1)
        near = near.assign(score=label, teacher=label, source=NEIGHBOUR_SOURCE, dcid="")
        out = pd.concat([out, near[out.columns]], ignore_index=True)
    return out, {"calibration": {"slope": round(slope, 4), "intercept": round(intercept, 4)},
                 "neighbour_pairs": len(near), "texts": len(texts)}
