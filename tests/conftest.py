"""Shared fixtures: a tiny randomly initialised BERT sentence model (no download) and a tiny catalog."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

WORDS = """poverty prison income household median unemployment rate people population women men
children count of person below level black african american americans living in africa
farm wheat corn energy solar electricity crime burglary housing rent home value the a and
number how many what is jobless poor earnings age female male health insurance""".split()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


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


def make_finished_run(runs_dir: Path, tiny_model_dir: Path, data_dir: Path, name: str = "20260101-000000-small-tiny",
                      names: dict | None = None) -> Path:
    """A finished run folder without training: the tiny model with its weights nudged as the tuned model
    (what the playground, the curation widget and the browser test load)."""
    import json

    import torch
    from sentence_transformers import SentenceTransformer

    folder = runs_dir / name
    tuned = SentenceTransformer(str(tiny_model_dir), device="cpu")
    torch.manual_seed(1)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.5 * torch.randn_like(p))
    tuned.save(str(folder / "model"))
    (folder / "config.json").write_text(json.dumps({"status": "complete", "params": {
        "base_model": str(tiny_model_dir), "data_dir": str(data_dir), "size": "small"}}))
    (folder / "metrics.json").write_text("{}")
    (folder / "eval_after.json").write_text(json.dumps({"names": names or {}}))
    return folder
