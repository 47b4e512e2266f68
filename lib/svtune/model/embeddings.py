"""Encode texts into unit-length embeddings, cached on disk per (model fingerprint, text).

Every run evaluates the same base model on the same catalog, and a teacher scores the same
texts again on a rerun: both come from the cache from the second time on. The key is the
model folder's fingerprint (sha256 of its files, plus max_seq_length) and the text's sha1;
a model being trained has no fingerprint and is never cached. The cache lives in
outputs/cache/embeddings/ and may be deleted at any time.

    emb = encode(model, texts)            # (len(texts), dim) float32, rows of unit length
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from svtune import paths
from svtune.progress import Progress

BATCH_SIZE = 128
PROGRESS_CHUNK = 2048   # texts encoded between two progress updates
_memory: dict[str, dict[bytes, np.ndarray]] = {}   # fingerprint -> text sha1 -> embedding, this process
FINGERPRINT = "svtune_fingerprint"   # the model attribute its cached embeddings are keyed by


def fingerprint_of(model) -> str | None:
    """The key `model`'s embeddings are cached under; None (never cached) for a model without one: a model
    being trained, or a stand-in that encodes otherwise (train/centering.CentredView, ship/speed.OnnxEncoder)."""
    return getattr(model, FINGERPRINT, None)


def set_fingerprint(model, folder_fingerprint: str | None) -> None:
    """Key `model`'s cached embeddings by its folder's fingerprint (model/load.fingerprint) and its
    max_seq_length; None: never cache them (its weights are about to change)."""
    setattr(model, FINGERPRINT, f"{folder_fingerprint}:{model.max_seq_length}" if folder_fingerprint else None)


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def _folder(fp: str) -> Path:
    return paths.CACHE_DIR / "embeddings" / hashlib.sha256(fp.encode()).hexdigest()[:24]


def _load(fp: str) -> dict[bytes, np.ndarray]:
    if fp not in _memory:
        table: dict[bytes, np.ndarray] = {}
        for shard in sorted(_folder(fp).glob("*.npz")):
            try:
                with np.load(shard) as z:
                    table.update(zip((bytes(k) for k in z["keys"]), z["emb"]))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):   # a torn shard is ignored: only a cache
                continue
        _memory[fp] = table
    return _memory[fp]


def _store(fp: str, keys: list[bytes], emb: np.ndarray) -> None:
    folder = _folder(fp)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{uuid.uuid4().hex}.tmp.npz"
        np.savez(tmp, keys=np.array(keys, dtype="S20"), emb=emb.astype(np.float32))
        os.replace(tmp, folder / f"{uuid.uuid4().hex}.npz")   # whole shards only: safe for concurrent runs
    except OSError:
        pass   # a read-only or full disk costs speed, not correctness


def _encode(model, texts: list[str], progress: bool, batch_size: int) -> np.ndarray:
    def run(chunk: list[str]) -> np.ndarray:
        return model.encode(chunk, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
    if not progress or len(texts) <= PROGRESS_CHUNK:
        return run(list(texts))
    # Chunks of similar length (the library sorts within a call): progress lines without more padding.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), _dim(model)), dtype=np.float32)
    with Progress("encode", len(texts), "texts") as bar:
        for start in range(0, len(order), PROGRESS_CHUNK):
            idx = order[start:start + PROGRESS_CHUNK]
            out[idx] = run([texts[i] for i in idx])
            bar.update(len(idx))
    return out


def encode(model, texts: list[str], progress: bool = False, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Unit-length embeddings of `texts`, from the cache where the model has a fingerprint."""
    texts = list(texts)
    fp = fingerprint_of(model)
    if not fp or not texts:
        return _encode(model, texts, progress, batch_size) if texts else np.zeros((0, _dim(model)), np.float32)
    table = _load(fp)
    keys = [_key(t) for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in table))
    if missing:
        first = {}
        for k, t in zip(keys, texts):
            first.setdefault(k, t)
        new = _encode(model, [first[k] for k in missing], progress, batch_size)
        table.update(zip(missing, new))
        _store(fp, missing, new)
    return np.stack([table[k] for k in keys])


def remember(model, texts: list[str], emb: np.ndarray) -> None:
    """Put embeddings `model` is known to give for `texts` into its cache (e.g. the catalog's,
    computed while centring it), so they are not encoded again."""
    fp = fingerprint_of(model)
    if fp and len(texts):
        keys = [_key(t) for t in texts]
        _load(fp).update(zip(keys, emb.astype(np.float32)))
        _store(fp, keys, emb)


def _dim(model) -> int:
    return model.get_embedding_dimension()
