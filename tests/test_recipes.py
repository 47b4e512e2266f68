"""Recipes: anchor pairs keep the base model's geometry; the knobs reach the stages and losses; bad knobs are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sentence_transformers import SentenceTransformer

from svtune.config import make_config
from svtune.csvio import DataError
from svtune.recipes import RECIPES, anchor_pairs, stages

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
    (plan,) = stages(RECIPES["default"](pairs, model, cfg))   # one stage: scored_epochs is 0
    assert plan.losses["positives"].scale == 33.0
    curated_rows, mined_rows = 2 * 16, 4           # curated pairs repeated x16; every mined pair
    anchors = len(plan.datasets["scored"]) - curated_rows - mined_rows
    assert 0 < anchors <= 8                        # up to 2 per mined pair; same-StatVar draws dropped
    assert "anchor pairs" in plan.notes and "scale 33" in plan.notes
    bare = RECIPES["default"](pairs, model, make_config(size="tiny", anchor_fraction=0.0, mined_fraction=0.0))
    assert len(stages(bare)[0].datasets["scored"]) == curated_rows
    assert [set(p.datasets) for p in stages(RECIPES["mnrl"](pairs, model, cfg))] == [{"positives"}]
    assert type(stages(RECIPES["cosent"](pairs, model, cfg))[0].losses["scored"]).__name__ == "CoSENTLoss"


def test_twostage_adds_a_scored_stage_with_its_own_settings(model):
    pairs = pd.concat([MINED, CURATED], ignore_index=True)
    cfg = make_config(size="tiny", recipe="twostage", scored_learning_rate=7e-6, scored_epochs=0.5)
    first, second = stages(RECIPES["twostage"](pairs, model, cfg))
    assert set(first.datasets) == {"positives"} and first.learning_rate is None   # the run's own settings
    assert (second.learning_rate, second.epochs, second.batch_size) == (7e-6, 0.5, cfg.scored_batch_size)
    assert type(second.losses["scored"]).__name__ == "CosineSimilarityLoss"
    assert len(second.datasets["scored"]) == 2 + 4    # curated pairs once, every mined pair
    assert (cfg.curated_repeat, cfg.center) == (1, 0.6)
    assert len(stages(RECIPES["twostage"](pairs, model, make_config(size="tiny", recipe="twostage",
                                                                      scored_epochs=0)))) == 1


def test_hard_negatives_add_a_column_of_other_statvars_texts(model):
    pairs = pd.concat([MINED, CURATED], ignore_index=True)
    dcid_of = {t: d for _, r in MINED.iterrows() for t, d in ((r.sentence_1, r.dcid), (r.sentence_2, r.dcid))}
    (plan, *_) = stages(RECIPES["default"](pairs, model, make_config(size="tiny", hard_negatives=1)))
    ds = plan.datasets["positives"]
    assert ds.column_names == ["anchor", "positive", "negative_1"] and "hard negative" in plan.notes
    assert all(dcid_of[n] != dcid_of[a] for a, n in zip(ds["anchor"], ds["negative_1"]))
    one = RECIPES["default"](pairs.assign(dcid=pairs.dcid.where(pairs.dcid == "", "P")), model,
                             make_config(size="tiny", hard_negatives=1))
    assert stages(one)[0].datasets["positives"].column_names == ["anchor", "positive"]   # nothing to mine


@pytest.mark.parametrize("knob, value", [("mnrl_scale", 0), ("anchor_fraction", -1), ("mined_fraction", 1.5),
                                         ("center", -0.1), ("scored_learning_rate", 0),
                                         ("scored_epochs", -1), ("scored_batch_size", 0),
                                         ("hard_negatives", -1), ("hard_negatives", 1.5)])
def test_bad_knobs_are_refused(knob, value):
    with pytest.raises(DataError, match=knob):
        make_config(**{knob: value})
