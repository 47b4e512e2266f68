"""Centering: the saved model gives the centred embeddings, pulls the catalog apart, and refuses misuse."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from svtune.data.csvio import DataError
from svtune.run.config import make_config
from svtune.train.centering import add_centering, catalog_mean, center_model, is_centered

CATALOG = ["number of poor people", "median household income", "jobless rate", "number of women",
           "wheat farm count", "people in poverty", "household earnings", "female population"]


def load(path):
    return SentenceTransformer(str(path), device="cpu")


def mean_pair_cosine(emb: np.ndarray) -> float:
    sims = emb @ emb.T
    return float(sims[~np.eye(len(emb), dtype=bool)].mean())


def test_centering_matches_the_formula_and_survives_save_and_load(tiny_model_dir, tmp_path):
    model = load(tiny_model_dir)
    raw = model.encode(CATALOG, normalize_embeddings=True)
    info, predicted = center_model(model, CATALOG, 0.5)
    assert info["fraction"] == 0.5 and info["texts"] == len(CATALOG)
    assert np.isclose(info["mean_norm"], np.linalg.norm(raw.mean(0)), atol=1e-4)
    expected = raw - 0.5 * raw.mean(0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = model.encode(CATALOG)                     # no normalize flag: the model itself normalises
    assert np.allclose(got, expected, atol=1e-5)
    assert np.allclose(predicted, got, atol=1e-5)   # what the run caches instead of encoding again
    assert mean_pair_cosine(got) < mean_pair_cosine(raw)   # the shared direction is gone

    model.save(str(tmp_path / "centred"))
    again = load(tmp_path / "centred")
    assert is_centered(again) and not is_centered(load(tiny_model_dir))
    assert np.allclose(again.encode(CATALOG), got, atol=1e-6)


def test_full_centering_removes_the_mean_and_zero_is_a_no_op(tiny_model_dir):
    model = load(tiny_model_dir)
    before = model.encode(CATALOG, normalize_embeddings=True)
    assert center_model(model, CATALOG, 0.0) == ({"fraction": 0.0}, None)
    assert len(model) == 2 and np.allclose(model.encode(CATALOG, normalize_embeddings=True), before)
    add_centering(model, catalog_mean(model, CATALOG), 1.0)
    # Subtracting the whole mean leaves the centred vectors summing to ~0 before renormalising;
    # after it their mean is far shorter than the raw one.
    assert np.linalg.norm(model.encode(CATALOG).mean(0)) < 0.5 * np.linalg.norm(before.mean(0))


def test_centering_refuses_bad_fractions_twice_centering_and_no_texts(tiny_model_dir):
    model = load(tiny_model_dir)
    with pytest.raises(ValueError, match="between 0 and 1"):
        add_centering(model, np.zeros(32, dtype=np.float32), 1.5)
    with pytest.raises(ValueError, match="at least one text"):
        catalog_mean(model, [])
    center_model(model, CATALOG, 0.3)
    with pytest.raises(ValueError, match="already centred"):
        center_model(model, CATALOG, 0.3)
    with pytest.raises(DataError, match="center"):
        make_config(overrides={"center": 2})
