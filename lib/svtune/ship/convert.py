"""Rewrite a model folder saved by sentence-transformers 6.x for the Data Commons NL server's pinned
sentence-transformers 2.7.0: modules.json names `sentence_transformers.models.*`, every module config
in 2.7's keys, Dense weights as pytorch_model.bin. `check_same` proves the copy encodes identically."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from svtune.data.csvio import DataError

SERVER_MODULES = "sentence_transformers.models."
# Files sentence-transformers 6.x writes beside the transformer's own that 2.7 reads differently or not at all.
ST_FILES = {"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "README.md"}
TOKENIZER_V5_KEYS = ("backend", "is_local", "local_files_only")   # transformers 5 only; 4.53 passes them on
POOLING_27 = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]   # 2.7's concat order
POOLING_KEYS = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
                "mean": "pooling_mode_mean_tokens", "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
                "weightedmean": "pooling_mode_weightedmean_tokens", "lasttoken": "pooling_mode_lasttoken"}
SAME_EMBEDDINGS = 1e-5


class ExportError(DataError):
    """A refusal, said in one line (a DataError, so a ValueError too)."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the model, rewritten for sentence-transformers 2.7.0 ----------------------------------------------


def _transformer(module, src: Path, dst: Path) -> str:
    for f in src.iterdir():
        if f.is_file() and f.name not in ST_FILES:
            shutil.copy2(f, dst / f.name)
    tok = dst / "tokenizer_config.json"
    if tok.is_file():
        cfg = {k: v for k, v in json.loads(tok.read_text()).items() if k not in TOKENIZER_V5_KEYS}
        tok.write_text(json.dumps(cfg, indent=2))
    # 6.x keeps lower-casing inside the tokenizer and the length in the tokenizer's model_max_length.
    (dst / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": int(module.max_seq_length), "do_lower_case": False}, indent=2))
    return "Transformer"


def _pooling(module, src: Path, dst: Path) -> str:
    modes = [module.pooling_mode] if isinstance(module.pooling_mode, str) else list(module.pooling_mode)
    if modes != sorted(modes, key=POOLING_27.index):
        raise ExportError(f"pooling modes {modes} concatenate in another order than 2.7's {POOLING_27}")
    cfg = {"word_embedding_dimension": module.embedding_dimension,
           **{key: mode in modes for mode, key in POOLING_KEYS.items()}, "include_prompt": module.include_prompt}
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))
    return "Pooling"


def _dense(module, src: Path, dst: Path) -> str:
    import torch
    from sentence_transformers.util import fullname
    if module.use_residual or {module.module_input_name, module.module_output_name} != {"sentence_embedding"}:
        raise ExportError("a Dense with a residual or on other features than sentence_embedding has no 2.7 form")
    cfg = {"in_features": module.in_features, "out_features": module.out_features, "bias": module.bias,
           "activation_function": fullname(module.activation_function)}
    (dst / "config.json").write_text(json.dumps(cfg))
    state = {f"linear.{k}": v.detach().cpu().contiguous() for k, v in module.linear.state_dict().items()}
    torch.save(state, dst / "pytorch_model.bin")   # 2.7's Dense.load reads only this file
    return "Dense"


def _normalize(module, src: Path, dst: Path) -> str:
    return "Normalize"   # 2.7 loads Normalize without reading its folder


CONVERTERS = {"Transformer": _transformer, "Pooling": _pooling, "Dense": _dense, "Normalize": _normalize}


def convert_model(src: Path | str, dst: Path | str):
    """Write `src` (a sentence-transformers 6.x folder) to `dst` in 2.7.0's layout; returns the loaded model."""
    from sentence_transformers import SentenceTransformer
    src, dst = Path(src), Path(dst)
    model = SentenceTransformer(str(src), device="cpu")
    entries = json.loads((src / "modules.json").read_text())
    dst.mkdir(parents=True)
    for entry, module in zip(entries, model):
        kind = type(module).__name__
        if kind not in CONVERTERS:
            raise ExportError(f"{src}: module {kind} has no sentence-transformers 2.7 conversion here")
        folder = dst / entry["path"]
        folder.mkdir(parents=True, exist_ok=True)
        entry["type"] = SERVER_MODULES + CONVERTERS[kind](module, src / entry["path"], folder)
    (dst / "modules.json").write_text(json.dumps(entries, indent=2))
    (dst / "config_sentence_transformers.json").write_text(json.dumps(
        {"__version__": {"sentence_transformers": "2.7.0"}, "prompts": {}, "default_prompt_name": None}, indent=2))
    return model


def check_same(model, converted: Path, texts: list[str]) -> float:
    """Largest difference between the run's model and the converted folder, both loaded by this library."""
    from sentence_transformers import SentenceTransformer
    diff = float(np.abs(model.encode(texts) - SentenceTransformer(str(converted), device="cpu").encode(texts)).max())
    if diff > SAME_EMBEDDINGS:
        raise ExportError(f"the converted model's embeddings differ by {diff:.2e} (> {SAME_EMBEDDINGS})")
    return diff


# --- the index and its embeddings.csv ------------------------------------------------------------------


