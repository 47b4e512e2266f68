"""Recipes: anchor pairs keep the base model's geometry; each record's knobs reach its stages and losses."""

from __future__ import annotations

import pandas as pd
import pytest
from sentence_transformers import SentenceTransformer

from svtune.run.config import make_config

MINED = pd.DataFrame({"sentence_1": ["poverty", "income", "women", "wheat farm"],
                      "sentence_2": ["poor people", "household earnings", "female", "farm growing wheat"],
                      "score": [0.95] * 4, "source": ["name~alternative"] * 4, "dcid": ["P", "I", "F", "W"]})
CURATED = pd.DataFrame({"sentence_1": ["poverty", "poverty"], "sentence_2": ["prison", "jail"],
                        "score": [0.01, 0.01], "source": ["curated_pair"] * 2, "dcid": ["", ""]})
PAIRS = pd.concat([MINED, CURATED], ignore_index=True)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


def plans(model, recipe="default", **overrides):
    return make_config(size="tiny", recipe=recipe, overrides=overrides).hp.plans(PAIRS, model, seed=0)


def test_knobs_reach_the_losses(model):
    (plan,) = plans(model, mnrl_scale=33.0, mined_fraction=1.0, one_pass=False)
    assert plan.losses["positives"].scale == 33.0
    assert (plan.epochs, plan.learning_rate, plan.batch_size) == (2, 1e-4, 16)
    curated_rows, mined_rows = 2 * 16, 4           # curated pairs repeated x16; every mined pair
    assert len(plan.datasets["scored"]) == curated_rows + mined_rows
    assert "scale 33" in plan.notes
    (bare,) = plans(model, mined_fraction=0.0, one_pass=False)
    assert len(bare.datasets["scored"]) == curated_rows
    assert [set(p.datasets) for p in plans(model, "mnrl")] == [{"positives"}]
    assert type(plans(model, "cosent")[0].losses.scored).__name__ == "CoSENTLoss"


def test_one_pass_labels_each_row_for_both_losses(model):
    synonym = pd.DataFrame({"sentence_1": ["black americans"], "sentence_2": ["african americans"], "score": [1.0],
                            "source": ["curated_pair"], "dcid": [""]})
    pairs = pd.concat([PAIRS, synonym], ignore_index=True)
    (plan,) = make_config(size="tiny", overrides={"mined_fraction": 0.5, "mnrl_scale": 33.0}).hp.plans(pairs, model, 0)
    rows = plan.datasets.to_pandas()
    score, positive, scored = (rows["label"].map(lambda v: v[i]) for i in range(3))
    assert plan.losses.in_batch.scale == 33.0 and type(plan.losses.scored).__name__ == "CosineSimilarityLoss"
    assert len(rows) == 3 * 16 + 2 + 2            # curated x16 and half the mined pairs scored; the other half in-batch only
    assert positive.sum() == 4 + 1                # every mined pair once, the curated synonym once (not 16 times)
    assert ((positive == 1) & (scored == 0)).sum() == 2 and (score[positive == 1] >= 0.8).all()
    assert scored.sum() == 3 * 16 + 2


def test_a_pair_given_n_times_is_n_positives_but_curated_copies_are_one(model):
    """owner_repeat (run/served.py) repeats the owner's rows in `pairs`: each copy is an in-batch positive;
    curated_repeat's 16 copies of a curated synonym stay one positive."""
    synonym = pd.DataFrame({"sentence_1": ["black americans"], "sentence_2": ["african americans"], "score": [1.0],
                            "source": ["curated_pair"], "dcid": [""]})
    pairs = pd.concat([MINED.iloc[:1]] * 3 + [PAIRS, synonym], ignore_index=True)   # "poverty ~ poor people" x4
    (plan,) = make_config(size="tiny").hp.plans(pairs, model, 0)
    rows = plan.datasets.to_pandas()
    positive = rows["label"].map(lambda v: v[1])
    poverty = (rows["sentence_1"] == "poverty") & (rows["sentence_2"] == "poor people")
    assert positive[poverty].sum() == 4 and positive.sum() == 4 + 3 + 1


def test_one_pass_loss_is_the_sum_of_the_two_losses_on_one_encoding(model):
    import torch
    from sentence_transformers.sentence_transformer import losses

    from svtune.train.losses import InBatchAndScored
    mnrl, cosine = losses.MultipleNegativesRankingLoss(model, scale=20.0), losses.CosineSimilarityLoss(model)
    a, b = ["poverty", "income", "women", "wheat farm"], ["poor people", "household earnings", "female", "farm"]
    features = [model.tokenize(a), model.tokenize(b)]
    labels = torch.tensor([[0.9, 1, 1], [0.9, 1, 0], [0.2, 0, 1], [0.9, 1, 1]])
    torch.manual_seed(0)
    model.eval()
    got = InBatchAndScored(model, mnrl, cosine)(features, labels)
    emb = [model(f)["sentence_embedding"] for f in [model.tokenize(a), model.tokenize(b)]]
    scored, positive = labels[:, 2] > 0, labels[:, 1] > 0
    want = (cosine.compute_loss_from_embeddings([e[scored] for e in emb], labels[scored, 0])
            + mnrl.compute_loss_from_embeddings([e[positive] for e in emb], None))
    assert torch.isclose(got, want, atol=1e-5)


def test_seed_is_one_cosine_stage_on_random_batches(model):
    (plan,) = plans(model, "seed")
    assert type(plan.losses).__name__ == "CosineSimilarityLoss" and plan.batch_sampler == "batch_sampler"
    assert len(plan.datasets) == len(PAIRS) and (plan.epochs, plan.learning_rate) == (10, 2e-5)
    assert not plan.freeze_token_embeddings and plan.dropout is None


def test_twostage_adds_a_scored_stage_with_its_own_settings(model):
    first, second = plans(model, "twostage", scored_learning_rate=7e-6, scored_epochs=0.5)
    assert set(first.datasets) == {"positives"} and first.learning_rate == 1e-4   # the recipe's own settings
    assert (second.learning_rate, second.epochs, second.batch_size) == (7e-6, 0.5, 16)
    assert type(second.losses["scored"]).__name__ == "CosineSimilarityLoss"
    assert len(second.datasets["scored"]) == 2 + 4    # curated pairs once, every mined pair
    assert len(plans(model, "twostage", scored_epochs=0)) == 1


def test_hard_negatives_add_a_column_of_other_statvars_texts(model):
    dcid_of = {t: d for _, r in MINED.iterrows() for t, d in ((r.sentence_1, r.dcid), (r.sentence_2, r.dcid))}
    plan = plans(model, hard_negatives=1)[0]
    ds = plan.datasets["positives"]
    assert ds.column_names == ["anchor", "positive", "negative_1"] and "hard negative" in plan.notes
    assert all(dcid_of[n] != dcid_of[a] for a, n in zip(ds["anchor"], ds["negative_1"]))
    one = make_config(size="tiny", overrides={"hard_negatives": 1}).hp.plans(
        PAIRS.assign(dcid=PAIRS.dcid.where(PAIRS.dcid == "", "P")), model, seed=0)
    assert one[0].datasets["positives"].column_names == ["anchor", "positive"]   # nothing to mine
