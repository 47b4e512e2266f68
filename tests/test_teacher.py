"""The teacher: calibrated silver labels, neighbour pairs between different items, and distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svtune.data.catalog import load_catalog
from svtune.data.mining import mine_pairs, pair_key
from svtune.model.load import load_model
from svtune.train.teacher import NEIGHBOUR_SOURCE, annotate, calibration, space


def test_calibration_fits_the_gold_labels_and_falls_back_to_identity():
    cos = np.array([0.1, 0.2, 0.4, 0.6, 0.8])
    assert calibration(cos, 2 * cos - 0.1) == pytest.approx((2.0, -0.1))
    assert calibration(cos[:3], cos[:3]) == (1.0, 0.0)          # too few curated pairs to fit a line


@pytest.mark.slow
def test_annotate_grades_every_pair_and_adds_neighbours_of_other_items(tiny_model_dir, tiny_data):
    catalog = load_catalog(tiny_data)
    pairs, _ = mine_pairs(catalog)
    teacher = load_model(str(tiny_model_dir))
    out, info = annotate(teacher, catalog, pairs, neighbours=2)
    assert out["teacher"].between(0, 1).all() and len(out) > len(pairs)
    near = out[out.source == NEIGHBOUR_SOURCE]
    assert len(near) == info["neighbour_pairs"] > 0 and (near["dcid"] == "").all()
    assert not {pair_key(a, b) for a, b in zip(near.sentence_1, near.sentence_2)} & \
        {pair_key(a, b) for a, b in zip(pairs.sentence_1, pairs.sentence_2)}          # only new pairs
    names = {sv.name for sv in catalog.statvars.values()}
    assert set(near.sentence_1) <= names and set(near.sentence_2) <= names

    from sentence_transformers.sentence_transformer import losses

    from svtune.train.losses import InBatchAndScored
    sp = space(teacher, out, **info["calibration"])
    loss = InBatchAndScored(teacher, losses.MultipleNegativesRankingLoss(teacher), losses.CosineSimilarityLoss(teacher),
                            teacher=sp, distil_weight=1.0)
    rows = out.iloc[:6]
    ids = torch.tensor([sp.ids(rows.sentence_1), sp.ids(rows.sentence_2)], dtype=torch.float).T
    labels = torch.cat([torch.zeros(6, 3), ids], dim=1)
    emb = [torch.as_tensor(sp.emb[sp.ids(rows[c])]) for c in ("sentence_1", "sentence_2")]
    if info["calibration"] == {"slope": 1.0, "intercept": 0.0}:
        assert float(loss._distil(emb, labels)) < 1e-6          # a student equal to the teacher pays nothing
    assert float(loss._distil([e.flip(0) for e in emb], labels)) > 0
