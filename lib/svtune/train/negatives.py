"""Hard negatives for the in-batch loss, mined from the catalog with the model being tuned.

For each positive pair (anchor, positive) we pick the catalog text that the model finds
closest to the anchor among texts that cannot mean the same thing:

- never a text of the anchor's or the positive's StatVar(s), nor a text positively paired
  with either of them (sentence-transformers' `mine_hard_negatives` has no notion of which
  texts share a StatVar, and a catalog has many: names, descriptions, alternatives);
- only catalog texts (ones with a dcid): curated pair texts carry no dcid, so nothing
  says which StatVar they are a synonym of;
- at most `relative_margin` of the positive's own cosine (NV-Retriever's "TopK-PercPos"),
  so that near-duplicates the labels missed are not pushed away.

    negatives = hard_negatives(pairs[pairs.score >= 0.8], all_pairs, model, k=1)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svtune.data.mining import text_dcids
from svtune.data.records import text_key
from svtune.model.embeddings import encode
from svtune.model.search import score_blocks

RELATIVE_MARGIN = 0.95   # a negative's cosine to the anchor stays below 95% of the positive's
SHORTLIST = 32           # candidates looked at per row before a full scan


def _neighbours(pairs: pd.DataFrame, min_score: float) -> dict[str, set[str]]:
    """Texts each text is positively paired with (either direction), as keys."""
    out: dict[str, set[str]] = {}
    pos = pairs[pairs["score"] >= min_score]
    for a, b in pos[["sentence_1", "sentence_2"]].itertuples(index=False):
        out.setdefault(text_key(a), set()).add(text_key(b))
        out.setdefault(text_key(b), set()).add(text_key(a))
    return out


def hard_negatives(positives: pd.DataFrame, pairs: pd.DataFrame, model, k: int = 1,
                   min_score: float = 0.8, relative_margin: float = RELATIVE_MARGIN) -> list[list[str]]:
    """`k` negative texts for each row of `positives` (sentence_1 is the anchor), from the
    texts of `pairs` that have a dcid. Rows with fewer than `k` valid candidates repeat
    their last one (never happens on a real catalog; keeps the dataset rectangular)."""
    dcids = text_dcids(pairs)
    spelling: dict[str, str] = {}   # one spelling per text, the first in sorted order
    for t in sorted({t.strip() for col in ("sentence_1", "sentence_2") for t in pairs[col]}):
        if dcids.get(text_key(t)):
            spelling.setdefault(text_key(t), t)
    keys = sorted(spelling)
    corpus = [spelling[key] for key in keys]
    if len(corpus) < 2 or positives.empty or k < 1:
        return [[] for _ in range(len(positives))]
    neighbours = _neighbours(pairs, min_score)
    position = {key: i for i, key in enumerate(keys)}
    # Which corpus rows belong to which StatVar, so one StatVar's texts are masked at once.
    rows_of: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        for d in dcids[key]:
            rows_of.setdefault(d, []).append(i)

    texts = sorted({t for col in ("sentence_1", "sentence_2") for t in positives[col]} | set(corpus))
    index = {t: i for i, t in enumerate(texts)}
    emb = encode(model, texts)
    corpus_emb = emb[[index[t] for t in corpus]]

    a_idx = np.array([index[t] for t in positives["sentence_1"]])
    p_idx = np.array([index[t] for t in positives["sentence_2"]])
    pos_sim = (emb[a_idx] * emb[p_idx]).sum(axis=1)
    out: list[list[str]] = []
    # A row's banned texts are few (its StatVars' texts and positive neighbours): look for the
    # negatives among the row's top k + SHORTLIST candidates, all rows of a chunk at once, and
    # fall back to a full scan only when those are all banned. Linear work per row, not O(catalog).
    m = min(k + SHORTLIST, len(corpus)) - 1
    for start, sims in score_blocks(emb[a_idx], corpus_emb):
        rows = range(start, start + len(sims))
        capped = np.where(sims < relative_margin * pos_sim[start:rows.stop, None], sims, -np.inf)
        shortlist = np.argpartition(-capped, m, axis=1)[:, :m + 1] if m < len(corpus) - 1 else \
            np.tile(np.arange(len(corpus)), (len(rows), 1))
        for r, sim, score, cand in zip(rows, sims, capped, shortlist):
            a, p = text_key(positives["sentence_1"].iat[r]), text_key(positives["sentence_2"].iat[r])
            banned = {position[t] for t in {a, p} | neighbours.get(a, set()) | neighbours.get(p, set())
                      if t in position}
            for d in dcids.get(a, set()) | dcids.get(p, set()):
                banned.update(rows_of[d])
            top = [int(i) for i in cand[np.argsort(-score[cand], kind="stable")]
                   if int(i) not in banned and np.isfinite(score[i])][:k]
            if len(top) < k and len(banned) < len(corpus):   # the shortlist ran out: scan everything
                allowed = np.ones(len(corpus), dtype=bool)
                allowed[list(banned)] = False
                full = np.where(allowed, score, -np.inf)
                top = [int(i) for i in np.argsort(-full, kind="stable")[:k] if np.isfinite(full[i])]
                if not top:   # every allowed text is within the margin: take the least similar
                    top = [int(np.flatnonzero(allowed)[np.argmin(sim[allowed])])]
            if len(banned) >= len(corpus):   # a catalog of one StatVar: nothing can be a negative
                out.append([])
                continue
            out.append([corpus[i] for i in top] + [corpus[top[-1]]] * (k - len(top)))
    return out
