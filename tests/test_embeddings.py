"""The embeddings cache: keyed by model fingerprint and text, shared across processes, never for a model in training."""

from __future__ import annotations

import numpy as np

from svtune import paths
from svtune.model import embeddings


class Counting:
    """Stands in for a SentenceTransformer: a fixed vector per text, and a count of what it encoded."""

    def __init__(self, fingerprint):
        self.svtune_fingerprint, self.seen = fingerprint, []

    def encode(self, texts, **_):
        self.seen += list(texts)
        v = np.array([[len(t), t.count("a") + 1.0] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def get_embedding_dimension(self):
        return 2


def test_second_encoding_comes_from_disk_and_only_new_texts_are_encoded(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    first = Counting("fp-1")
    a = embeddings.encode(first, ["poverty", "income", "poverty"])
    assert first.seen == ["poverty", "income"]                     # each distinct text once
    embeddings._memory.clear()                                      # a new process: only the disk is left
    again = Counting("fp-1")
    b = embeddings.encode(again, ["income", "poverty", "women"])
    assert again.seen == ["women"] and np.allclose(b[:2], a[[1, 0]])
    other = Counting("fp-2")                                        # another model shares nothing
    embeddings.encode(other, ["income"])
    assert other.seen == ["income"]


def test_a_model_in_training_is_never_cached_and_torn_shards_are_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    training = Counting(None)
    embeddings.encode(training, ["poverty"])
    embeddings.encode(training, ["poverty"])
    assert training.seen == ["poverty", "poverty"] and not (tmp_path / "cache").exists()
    model = Counting("fp-3")
    embeddings.remember(model, ["catalog text"], np.array([[1.0, 0.0]], dtype=np.float32))
    embeddings._memory.clear()
    folder = next((tmp_path / "cache" / "embeddings").iterdir())
    (folder / "torn.npz").write_bytes(b"PK\x03\x04 not a whole file")
    fresh = Counting("fp-3")
    assert np.allclose(embeddings.encode(fresh, ["catalog text"]), [[1.0, 0.0]]) and fresh.seen == []
