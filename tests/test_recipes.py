"""Recipes: anchor pairs keep the base model's geometry; the knobs reach the losses; bad knobs are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sentence_transformers import SentenceTransformer

from svtune.config import make_config
from svtune.csvio import DataError
from svtune.recipes import RECIPES, anchor_pairs

MINED = pd.DataFrame({"sentence_1": ["poverty", "income", "women", "wheat farm"],
                      "sentence_2": ["poor people", "household earnings", "female", "farm growing wheat"],
                      "score": [0.95] * 4, "source": ["name~alternative"] * 4, "dcid": ["P", "I", "F", "W"]})
CURATED = pd.DataFrame({"sentence_1": ["poverty", "poverty"], "sentence_2": ["prison", "jail"],
                        "score": [0.01, 0.01], "source": ["curated_pair"] * 2, "dcid": ["", ""]})


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


def test_anchor_pairs_join_different_statvars_and_keep_the_models_cosine(model):
    dcid_of = {t: d for _, r in MINED.iterrows() for t, d in ((r.sentence_1, r.dcid), (r.sentence_2, r.dcid))}
    a = anchor_pairs(MINED, model, 50, seed=3)
    assert 20 < len(a) <= 50                       # same-StatVar draws are dropped
    assert all(dcid_of[x] != dcid_of[y] for x, y in zip(a.sentence_1, a.sentence_2))
    emb = model.encode([a.sentence_1[0], a.sentence_2[0]], normalize_embeddings=True)
    assert np.isclose(a.score[0], float(emb[0] @ emb[1]), atol=1e-5)
    assert a.equals(anchor_pairs(MINED, model, 50, seed=3))      # reproducible
    assert anchor_pairs(MINED.assign(dcid="P"), model, 50).empty  # one StatVar: nothing to anchor


def test_knobs_reach_the_losses(model):
    pairs = pd.concat([MINED, CURATED], ignore_index=True)
    cfg = make_config(size="tiny", mnrl_scale=33.0, anchor_fraction=2.0, mined_fraction=1.0)
    plan = RECIPES["default"](pairs, model, cfg)
    assert plan.losses["positives"].scale == 33.0
    curated_rows, mined_rows = 2 * 16, 4           # curated pairs repeated x16; every mined pair
    anchors = len(plan.datasets["scored"]) - curated_rows - mined_rows
    assert 0 < anchors <= 8                        # up to 2 per mined pair; same-StatVar draws dropped
    assert "anchor pairs" in plan.notes and "scale 33" in plan.notes
    bare = RECIPES["default"](pairs, model, make_config(size="tiny", anchor_fraction=0.0, mined_fraction=0.0))
    assert len(bare.datasets["scored"]) == curated_rows
    assert set(RECIPES["mnrl"](pairs, model, cfg).datasets) == {"positives"}


@pytest.mark.parametrize("knob, value", [("mnrl_scale", 0), ("anchor_fraction", -1), ("mined_fraction", 1.5),
                                         ("center", -0.1)])
def test_bad_knobs_are_refused(knob, value):
    with pytest.raises(DataError, match=knob):
        make_config(**{knob: value})
