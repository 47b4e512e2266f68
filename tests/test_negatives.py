"""Hard negatives: the closest catalog text that is not the row's StatVar, not a positive
neighbour, not a curated-only text and not within the margin of the positive's cosine."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svtune.train.negatives import hard_negatives

# Texts on a circle: the cosine between two texts is the cosine of their angle difference.
ANGLE = {"poverty": 0, "poor people": 10, "people in poverty": 12, "household income": 20,
         "income": 40, "women": 60, "female": 65, "wheat farm": 150, "farm growing wheat": 155,
         "black americans": 5}


class CircleModel:
    """Stands in for a SentenceTransformer: embeds each text at its angle on a circle."""

    def encode(self, texts, **_):
        rad = np.radians([ANGLE[t] for t in texts])
        return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


PAIRS = pd.DataFrame({
    "sentence_1": ["poverty", "poverty", "income", "women", "wheat farm", "poverty"],
    "sentence_2": ["poor people", "people in poverty", "household income", "female",
                   "farm growing wheat", "black americans"],
    "score": [0.95, 0.95, 0.95, 0.9, 0.95, 0.01],
    "source": ["name~description"] * 5 + ["curated_pair"],
    "dcid": ["P", "P", "I", "F", "W", ""]})


def _negatives(rows, **kw):
    pos = PAIRS.iloc[rows]
    return [n[0] for n in hard_negatives(pos, PAIRS, CircleModel(), k=1, **kw)]


def test_closest_text_of_another_statvar_is_the_negative():
    # poverty (0 deg): its own StatVar's texts are banned and "black americans" (5 deg) has no
    # dcid; "household income" (20 deg, cos 0.940) is within 95% of the positive's cosine
    # (10 deg, 0.985), so "income" (40 deg) is the negative -- and "household income" without margin.
    assert _negatives([0]) == ["income"]
    assert _negatives([0], relative_margin=1.0) == ["household income"]
    # women (60): "female" is its positive; "income" (40) is closer than "household income" (20).
    assert _negatives([3]) == ["income"]


def test_margin_keeps_negatives_below_the_positives_cosine():
    # income ~ household income: the positive sits at 20 deg (cos 0.940). At a margin of 1.0 the
    # closest other text, women at 60 - 40 = 20 deg, ties with it and is refused; the next,
    # "female" at 25 deg, is taken.
    assert _negatives([2], relative_margin=1.0) == ["female"]
    # With no room at all every allowed text is within the margin: the least similar is taken.
    assert _negatives([2], relative_margin=-1.0) == ["farm growing wheat"]


def test_each_row_gets_k_distinct_negatives_of_other_statvars():
    dcid = {t: d for s1, s2, d in PAIRS[["sentence_1", "sentence_2", "dcid"]].itertuples(index=False)
            for t in (s1, s2) if d}
    pos = PAIRS[PAIRS.score >= 0.8]
    negs = hard_negatives(pos, PAIRS, CircleModel(), k=2)
    assert [len(n) for n in negs] == [2] * len(pos)
    for (a, p, d), n in zip(pos[["sentence_1", "sentence_2", "dcid"]].itertuples(index=False), negs):
        assert len(set(n)) == 2 and all(dcid[t] != d for t in n)
    assert hard_negatives(pos, PAIRS.assign(dcid="P"), CircleModel(), k=1) == [[]] * len(pos)
