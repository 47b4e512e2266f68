"""Shared fixtures: a tiny randomly initialised BERT sentence model (no download) and a tiny catalog.
What tests import (files, a fake finished run, constants) lives in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import WORDS, centred_copy, finished_run, write


def pytest_collection_modifyitems(config, items):
    """Tests marked `shared` need ../shared/datacommons; without it they are skipped, saying why."""
    from svtune import paths
    if paths.SHARED_DATACOMMONS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real Data Commons data not found at {paths.SHARED_DATACOMMONS}")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with mean pooling, saved as a SentenceTransformer folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-bert")
    hf = root / "hf"
    hf.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), *"abcdefghijklmnopqrstuvwxyz0123456789_",
             *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]]
    # transformers 5 takes the vocabulary itself (a `vocab_file=` argument is silently ignored,
    # which leaves every word [UNK] and every text equally similar).
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(hf)
    tok.save_pretrained(hf)
    word = Transformer(str(hf), max_seq_length=32)
    model = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "mean")], device="cpu")
    out = root / "model"
    model.save(str(out))
    return out


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """A complete data folder in the repo's layout, small enough to read at a glance."""
    d = tmp_path / "data"
    write(d / "curated_input" / "c.csv", """
        dcid,Name,Description,Override_Alternatives,Curated_Alternatives
        Count_Person_BelowPovertyLevelInThePast12Months,People Below Poverty Level,number of poor people;poverty count,,people in poverty;how many people are poor
        Median_Income_Household,Median Household Income,the median income of households,,household income;typical household earnings
        UnemploymentRate_Person,Unemployment Rate,share of people without a job,,jobless rate;unemployment
        Count_Person_Female,Female Population,number of women,,women;how many women
        Count_Farm_Wheat,Wheat Farms,number of farms growing wheat,,wheat farm count
        """)
    write(d / "alternatives" / "a.csv", """
        dcid,Alternatives
        Median_Income_Household,income of a typical household;household earnings
        UnemploymentRate_Person,rate of unemployment
        """)
    write(d / "finetuning" / "sentence_pairs.csv", """
        sentence_1,sentence_2,score
        poverty,prison,0.01
        african americans,black americans,1
        african americans,people living in africa,0.2
        unemployment,poverty,0.5
        """)
    write(d / "eval" / "queries.csv", """
        query,expected
        how many poor people,Count_Person_BelowPovertyLevelInThePast12Months
        jobless share,UnemploymentRate_Person
        women count,Count_Person_Female;Count_Person_BelowPovertyLevelInThePast12Months
        """)
    write(d / "eval" / "pairs.csv", """
        sentence_1,sentence_2,score
        poverty,crime,0.01
        black men,african american men,1
        poor,poverty,0.95
        """)
    return d


@pytest.fixture(scope="session")
def centred_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with svtune's centring modules, as a tuned model is saved."""
    return centred_copy(tiny_model_dir, tmp_path_factory.mktemp("centred") / "model")


@pytest.fixture
def tiny_run(tmp_path, centred_model_dir, tiny_data) -> Path:
    """A finished run of the centred tiny model on tiny_data (helpers.finished_run's hand-made results)."""
    return finished_run(tmp_path / "runs", centred_model_dir, tiny_data)
