"""Train the top, cache the bottom: freeze the embeddings and the bottom k transformer layers, and
compute those layers' output once per distinct text instead of at every occurrence.

    with FrozenPrefix(model, k=4):      # while training; the saved model is a stock model folder
        trainer.train()

Frozen layers never change and run without dropout, so a text's hidden states after them are the
same every time it appears: the first occurrence computes them (a sub-batch of the texts not yet
seen, under no_grad) and keeps the real tokens' states; later occurrences read them back, padded
with zeros (padded positions are masked as keys and left out of pooling, so the top layers' output
for the real tokens is unchanged). Nothing is restructured: the bottom layers' `forward` methods
are swapped while the context is open, so state dicts, checkpoints and resume are untouched. Each
process (DDP rank) caches the texts it sees. Works for BERT-style models (MiniLM) and MPNet, whose
layers take a shared position bias. Bytes per text: tokens x hidden size x 4 (fp32, exact).
"""

from __future__ import annotations

import torch


def encoder_layers(model) -> tuple[torch.nn.Module, torch.nn.ModuleList]:
    """(the transformer, its list of layers) of a SentenceTransformer whose first module wraps one."""
    auto = model[0].auto_model
    return auto, auto.encoder.layer


def freeze(model, k: int) -> list[torch.nn.Parameter]:
    """Freeze the embeddings, the bottom `k` layers and anything they share (MPNet's relative
    position bias); returns the parameters that were trainable before, to restore."""
    auto, layers = encoder_layers(model)
    if not 0 <= k < len(layers):
        raise ValueError(f"freeze_layers={k}: the model has {len(layers)} layers; keep at least the top one")
    frozen = [*auto.embeddings.parameters(), *(p for layer in layers[:k] for p in layer.parameters())]
    bias = getattr(auto.encoder, "relative_attention_bias", None)
    if k and bias is not None:
        frozen += list(bias.parameters())
    was = [p for p in frozen if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    return was


def _rows(value, rows: torch.Tensor, batch: int):
    """`value` cut to `rows` along the batch dimension, when it has one."""
    if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[0] == batch and batch > 1:
        return value[rows]
    return value


class FrozenPrefix:
    """The context that freezes the bottom `k` layers and, with `cache`, serves their output from memory."""

    def __init__(self, model, k: int, cache: bool = True, budget_mb: float = 2048):
        self.model, self.k, self.cache_on, self.budget = model, k, cache, budget_mb * 2**20
        self.store: dict[bytes, torch.Tensor] = {}
        self.bytes, self.hits, self.misses = 0, 0, 0
        self._ids = self._mask = None

    def __enter__(self):
        layers = len(encoder_layers(self.model)[1]) if self.k else 0
        if self.k >= layers > 0:   # a recipe's k for a deeper model: keep the top layer trainable
            print(f"freeze_layers={self.k}: the model has {layers} layers; freezing {layers - 1}", flush=True)
            self.k = layers - 1
        if self.k == 0:
            return self
        self.restore = freeze(self.model, self.k)
        auto, layers = encoder_layers(self.model)
        self.layers, self.forwards = layers, [layer.forward for layer in layers[:self.k]]
        if self.cache_on:
            # sentence-transformers calls the model's forward method itself (no hooks fire): wrap it.
            self.auto, inner = auto, auto.forward
            auto.forward = lambda *args, **kwargs: (self._remember_batch(args, kwargs), inner(*args, **kwargs))[1]
            layers[0].forward = self._prefix
            for layer in layers[1:self.k]:
                layer.forward = self._passthrough
        return self

    def __exit__(self, *exc):
        if self.k == 0:
            return
        for p in self.restore:
            p.requires_grad_(True)
        if self.cache_on:
            del self.auto.forward
            for layer in self.layers[:self.k]:
                del layer.forward   # the instance attribute goes: the class's own forward is back

    def stats(self) -> dict:
        texts = len(self.store)
        return {"freeze_layers": self.k, "cached_texts": texts, "cache_mb": round(self.bytes / 2**20, 1),
                "cache_bytes_per_text": round(self.bytes / texts) if texts else 0,
                "cache_hits": self.hits, "cache_misses": self.misses}

    def _remember_batch(self, args, kwargs):
        self._ids = kwargs.get("input_ids", args[0] if args else None)
        self._mask = kwargs.get("attention_mask")

    def _keys(self) -> tuple[list[bytes], list[int]]:
        ids = self._ids.cpu()
        lengths = (self._mask.sum(dim=1) if self._mask is not None else
                   torch.full((ids.shape[0],), ids.shape[1])).tolist()
        return [ids[i, :n].numpy().tobytes() for i, n in enumerate(lengths)], lengths

    def _passthrough(self, hidden_states, *args, **kwargs):
        return (hidden_states,) if self._tuple_out else hidden_states

    def _prefix(self, hidden_states, *args, **kwargs):
        """In place of layer 0: the output of layers 0..k-1, from the cache where it can."""
        keys, lengths = self._keys()
        batch = hidden_states.shape[0]
        missing = [i for i, key in enumerate(keys) if key not in self.store]
        self.hits += batch - len(missing)
        self.misses += len(missing)
        fresh = self._compute(hidden_states, missing, batch, args, kwargs) if missing else None
        out = hidden_states.new_zeros(hidden_states.shape)
        for j, i in enumerate(missing):
            out[i, :lengths[i]] = fresh[j, :lengths[i]]
            if self.bytes < self.budget:   # past the budget: computed every time, never stored
                state = fresh[j, :lengths[i]].detach().clone()
                self.store[keys[i]] = state
                self.bytes += state.numel() * state.element_size()
        computed = set(missing)
        for i, key in enumerate(keys):
            if i not in computed:
                out[i, :lengths[i]] = self.store[key]
        return (out,) if self._tuple_out else out

    def _compute(self, hidden_states, rows: list[int], batch: int, args, kwargs) -> torch.Tensor:
        """Layers 0..k-1 on the rows not cached yet, without dropout or gradients."""
        index = torch.tensor(rows)
        h = hidden_states[index]
        args = [_rows(a, index, batch) for a in args]
        kwargs = {name: _rows(v, index, batch) for name, v in kwargs.items()}
        training = [layer.training for layer in self.layers[:self.k]]
        with torch.no_grad():
            for layer, forward in zip(self.layers[:self.k], self.forwards):
                layer.eval()
                out = forward(h, *args, **kwargs)
                self._tuple_out = isinstance(out, tuple)
                h = out[0] if self._tuple_out else out
        for layer, mode in zip(self.layers[:self.k], training):
            layer.train(mode)
        return h

    _tuple_out = False
