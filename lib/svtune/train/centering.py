"""Centre a tuned model on its catalog: subtract part of the catalog's mean embedding, renormalise.

Fine-tuning on one domain makes its texts share a common direction (anisotropy):
every statistical phrase ends up a little similar to every other, which is what
lets nonsense queries and unrelated catalog texts score high. Removing the mean
is the standard cure (Mu & Viswanath 2018, "All-but-the-top"; Su et al. 2021,
BERT-whitening); it keeps the directions that tell texts apart.

The correction is saved inside the model as two stock sentence-transformers
modules appended after its pooling, so `SentenceTransformer(run/model)` gives the
centred embeddings everywhere (search server, notebooks, evaluate):

    Normalize -> Dense(weight = I, bias = -fraction * mean) -> Normalize

    model = add_centering(model, catalog_mean(model, texts), fraction=0.5)

fraction 0 leaves the model as it was; 1 removes the whole mean. What the
default uses and why: docs/experiments.md.
"""

from __future__ import annotations

import numpy as np

from svtune.model.embeddings import encode  # the same encoding the evaluation and search use


def catalog_mean(model, texts: list[str], progress: bool = False) -> np.ndarray:
    """Mean of the unit-length embeddings of `texts` (the catalog the model will search)."""
    if not texts:
        raise ValueError("catalog_mean needs at least one text")
    return encode(model, texts, progress).mean(axis=0).astype(np.float32)


def is_centered(model) -> bool:
    """True when the model holds a centring Dense (an identity square Dense), saved or not."""
    import torch
    for module in model:
        linear = getattr(module, "linear", None)
        if (linear is not None and linear.bias is not None and linear.in_features == linear.out_features
                and torch.equal(linear.weight, torch.eye(linear.in_features, device=linear.weight.device))):
            return True
    return False


def add_centering(model, mean: np.ndarray, fraction: float):
    """Append the centring modules to `model` (in place) and return it; fraction 0 is a no-op."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    if not 0 <= fraction <= 1:
        raise ValueError(f"centering fraction must be between 0 and 1, got {fraction}")
    if fraction == 0:
        return model
    if is_centered(model):
        raise ValueError("model is already centred; centre the uncentred model instead")
    dim = len(mean)
    dense = Dense(dim, dim, bias=True, activation_function=torch.nn.Identity())
    with torch.no_grad():
        dense.linear.weight.copy_(torch.eye(dim))
        dense.linear.bias.copy_(-fraction * torch.as_tensor(mean, dtype=torch.float32))
    device = next(model.parameters()).device
    # The mean was taken over unit vectors, so subtract it from unit vectors.
    if type(model[len(model) - 1]).__name__ != "Normalize":
        model.append(Normalize())
    model.append(dense.to(device))
    model.append(Normalize())
    return model


def centred(emb: np.ndarray, mean: np.ndarray, fraction: float) -> np.ndarray:
    """What the centred model gives for texts the uncentred one embedded as `emb` (unit rows)."""
    out = emb - fraction * mean
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def center_model(model, texts: list[str], fraction: float) -> tuple[dict, np.ndarray | None]:
    """Centre `model` on `texts`; returns what was done (for the run's metrics) and the texts'
    embeddings by the centred model, computed from the ones the mean was taken over (so the
    catalog need not be encoded again)."""
    if fraction == 0:
        return {"fraction": 0.0}, None
    emb = encode(model, texts, progress=len(texts) > 1000)
    mean = emb.mean(axis=0).astype(np.float32)
    add_centering(model, mean, fraction)
    return ({"fraction": float(fraction), "texts": len(texts), "mean_norm": round(float(np.linalg.norm(mean)), 4)},
            centred(emb, mean, fraction))


class CentredView:
    """A model as it would encode once centred on `texts`, without changing it: what a benchmark
    evaluates mid-training (the same Normalize -> subtract -> Normalize as add_centering)."""

    def __init__(self, model, texts: list[str], fraction: float):
        self.model, self.fraction = model, fraction
        self.shift = fraction * catalog_mean(model, texts) if fraction else None
        # no fingerprint (embeddings.fingerprint_of is None): never cached, the weights are still changing

    def encode(self, texts, **kwargs) -> np.ndarray:
        emb = self.model.encode(texts, **{**kwargs, "normalize_embeddings": True})
        return emb if self.shift is None else centred(emb, self.shift, 1.0)

    def get_embedding_dimension(self) -> int:
        return self.model.get_embedding_dimension()
