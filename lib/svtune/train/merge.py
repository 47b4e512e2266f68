"""Merge the tuned weights back toward the base model's, against forgetting (model soups, WiSE-FT,
LM-Cocktail): every transformer weight becomes alpha * tuned + (1 - alpha) * base. Applied before
centring, which is then computed for the merged model (finalize.py; `-o merge_base ALPHA`)."""

from __future__ import annotations

from svtune.model.load import load_model


def merge_toward_base(model, base_model: str, alpha: float):
    """`model`'s transformer weights moved to `alpha` of the way from the base model's to its own (in place)."""
    import torch
    if not 0 <= alpha <= 1:
        raise ValueError(f"merge_base must be between 0 and 1, got {alpha}")
    if alpha == 1:
        return model
    base = load_model(base_model, str(model.device))[0].auto_model.state_dict()
    with torch.no_grad():
        for name, weight in model[0].auto_model.state_dict().items():
            if name in base and weight.dtype.is_floating_point:
                weight.copy_(alpha * weight + (1 - alpha) * base[name].to(weight.dtype))
    return model


def uncentred(model):
    """The transformer and pooling of a saved run's model, without its centring modules."""
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(modules=[model[0], model[1]], device=str(model.device))
