"""Frozen bottom layers and their cache: a step with the cache gives the same loss and gradients as
the same step without it, for BERT (MiniLM's kind) and MPNet; the model stays a stock model."""

from __future__ import annotations

import pytest
import torch

from svtune.train.frozen import FrozenPrefix

TEXTS = ["poverty rate", "median household income", "how many women", "poverty rate",
         "unemployment rate of black african americans", "wheat farm count", "how many women"]


def tiny_model(kind: str, root):
    """A 3-layer random BERT or MPNet sentence model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast, MPNetConfig, MPNetModel

    from helpers import WORDS
    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>", *sorted(set(WORDS))]
    tok = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    shape = dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)
    hf = root / kind
    (MPNetModel(MPNetConfig(**shape)) if kind == "mpnet" else BertModel(BertConfig(**shape))).save_pretrained(hf)
    tok.save_pretrained(hf)
    word = Transformer(str(hf), max_seq_length=32)
    return SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "mean")], device="cpu")


def step(model, texts):
    """Loss and gradients of one training step (mean pooled embeddings, a pairwise loss)."""
    model.train()
    model.zero_grad()
    features = model.tokenize(texts)
    emb = model(features)["sentence_embedding"]
    emb = torch.nn.functional.normalize(emb, dim=-1)
    loss = ((emb @ emb.T - torch.eye(len(texts))) ** 2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_the_cache_gives_the_same_loss_and_gradients(kind, tmp_path):
    model = tiny_model(kind, tmp_path)
    keys = list(model.state_dict())
    with FrozenPrefix(model, 2, cache=False):
        plain_loss, plain = step(model, TEXTS)
    with FrozenPrefix(model, 2, cache=True) as frozen:
        first_loss, first = step(model, TEXTS)            # fills the cache
        cached_loss, cached = step(model, TEXTS[::-1])    # reads it back, other batch order and padding
        again_loss, again = step(model, TEXTS)
        assert frozen.stats()["cached_texts"] == len(set(TEXTS)) and frozen.hits >= len(TEXTS) * 2
    assert first_loss == pytest.approx(plain_loss, abs=1e-6) and again_loss == pytest.approx(plain_loss, abs=1e-6)
    assert set(first) == set(plain) and set(again) == set(plain)
    assert not any(".layer.0." in n or ".layer.1." in n or "embeddings" in n for n in plain)   # frozen: no grads
    for name in plain:
        torch.testing.assert_close(first[name], plain[name], atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(again[name], plain[name], atol=1e-6, rtol=1e-4)
    assert cached_loss == pytest.approx(plain_loss, abs=1e-6)     # a permutation of the same texts
    # Afterwards: a stock model again (same state dict, trainable, the layers' own forward).
    assert list(model.state_dict()) == keys
    assert all(p.requires_grad for p in model.parameters())
    assert "forward" not in vars(model[0].auto_model.encoder.layer[0])


def test_freezing_keeps_the_top_layer_trainable(tmp_path, capsys):
    model = tiny_model("bert", tmp_path)
    with FrozenPrefix(model, 4) as frozen:            # a recipe's k meant for a deeper model
        assert frozen.k == 2 and "freezing 2" in capsys.readouterr().out
        top = model[0].auto_model.encoder.layer[2]
        assert all(p.requires_grad for p in top.parameters())
    with pytest.raises(ValueError, match="3 layers"):
        from svtune.train.frozen import freeze
        freeze(model, 3)
