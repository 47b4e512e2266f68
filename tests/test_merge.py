"""Merging toward the base model: alpha 1 keeps the tuned weights, 0 gives the base model's, between
is the straight line; the held-out halves are fixed by content and cover every item once."""

from __future__ import annotations

import pytest
import torch

from svtune.bench.merge import half, half_figures
from svtune.model.load import load_model
from svtune.train.merge import merge_toward_base


def test_alpha_moves_every_weight_along_the_line(tiny_model_dir):
    base = load_model(str(tiny_model_dir))[0].auto_model.state_dict()
    tuned = load_model(str(tiny_model_dir))
    with torch.no_grad():
        for w in tuned[0].auto_model.parameters():
            w.add_(1.0)                                  # "training": every weight +1
    name = next(iter(base))
    merge_toward_base(tuned, str(tiny_model_dir), 0.75)
    got = tuned[0].auto_model.state_dict()[name]
    torch.testing.assert_close(got, base[name] + 0.75)
    merge_toward_base(tuned, str(tiny_model_dir), 0.0)
    torch.testing.assert_close(tuned[0].auto_model.state_dict()[name], base[name])
    with pytest.raises(ValueError, match="between 0 and 1"):
        merge_toward_base(tuned, str(tiny_model_dir), 1.5)


def test_halves_are_fixed_by_content_and_split_the_set():
    queries = [f"query {i}" for i in range(200)]
    parts = [half(q) for q in queries]
    assert parts == [half(q) for q in queries] and 60 < parts.count("validation") < 140
    details = {"queries": [{"query": q, "expected": ["A"], "top": [["A", 0.9]] if i % 2 else [["B", 0.9]]}
                           for i, q in enumerate(queries)],
               "pairs_heldout": [{"sentence_1": q, "sentence_2": "x", "cosine": i / 200, "label": i / 200}
                                 for i, q in enumerate(queries)]}
    figures = half_figures(details)
    assert figures["validation"]["queries"] + figures["test"]["queries"] == 200
    assert figures["validation"]["spearman"] == pytest.approx(1.0) and 0 < figures["test"]["mrr@10"] < 1
