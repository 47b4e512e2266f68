"""Publish a finished run: its model (with the model card), config.json and metrics.json.

    svtune publish outputs/runs/<run> --to gs://bucket/models/statvar-v3
    svtune publish outputs/runs/<run> --to file:///srv/models/statvar-v3 --overwrite
    svtune publish outputs/runs/<run> --hub my-org/statvar-minilm [--private]   # token: HF_TOKEN or `hf auth login`

Any fsspec URI works (file://, memory://, and gs:// or s3:// once gcsfs or s3fs is installed).
The destination gets `model/`, `config.json`, `metrics.json` and `MANIFEST.json` (sha256 and size
of every file, the run's name, the svtune version). The files go to `<dest>.partial-<random>`
first, each is read back and its sha256 checked, and only then is an old destination moved aside
to `<dest>.previous` (kept; an older one removed) and the new folder moved to the final name: a
failure at any step leaves the old model where it was and no half-model anywhere. A destination
that holds no MANIFEST.json is not a complete publication. The Hub gets the model folder at the
repo root (so `SentenceTransformer("<repo id>")` loads it) and the run's files under `svtune/`, in
one commit.

Only complete runs are published: config.json status "complete", metrics.json present, and
model/ holding modules.json and safetensors weights.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from svtune import __version__, runs
from svtune.hashing import sha256_stream
from svtune.ship.card import MARKER, card_text, write_card

# fsspec protocols whose implementation lives in a separate package.
FS_PACKAGES = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs", "s3a": "s3fs", "az": "adlfs", "abfs": "adlfs",
               "abfss": "adlfs", "hf": "huggingface_hub", "sftp": "paramiko", "ssh": "paramiko"}
BIG_FILE = 16 << 20  # files above this size get a progress bar


class PublishError(Exception):
    """A refusal or failure, said in one line."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def check_run(run_dir: str | Path) -> dict:
    """The run's config.json, or PublishError when the folder is not a finished run with its
    executed notebook (a run killed between finishing and moving it in lacks train.ipynb)."""
    run = Path(run_dir)
    problem = runs.run_problem(run)
    if problem:
        raise PublishError(problem)
    if not (run / "train.ipynb").is_file():
        raise PublishError(f"{run} has no train.ipynb: its run did not end cleanly; train it again")
    if not any((run / "model").rglob("*.safetensors")):
        raise PublishError(f"{run}/model has no *.safetensors weights")
    return runs.read_config(run)


def _ensure_card(run: Path) -> None:
    card = run / "model" / "README.md"
    if not card.is_file() or MARKER not in card.read_text(encoding="utf-8", errors="replace"):
        write_card(run)
        _log(f"wrote the model card {card}")


def run_files(run: Path) -> dict[str, Path]:
    """relative name at the destination -> local file: model/** then config.json, metrics.json."""
    files = {f"model/{p.relative_to(run / 'model').as_posix()}": p
             for p in sorted((run / "model").rglob("*")) if p.is_file() and not p.is_symlink()}
    files.update({name: run / name for name in (runs.CONFIG, runs.METRICS)})
    return files


def manifest(run: Path, files: dict[str, Path]) -> dict:
    entries = {}
    for name, p in files.items():
        with open(p, "rb") as f:
            entries[name] = {"sha256": sha256_stream(f), "size": p.stat().st_size}
    return {"run": run.name, "svtune_version": __version__,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": entries}


def filesystem(uri: str):
    import fsspec
    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as e:
        proto = uri.split("://", 1)[0]
        pkg = FS_PACKAGES.get(proto)
        hint = f"pip install {pkg}" if pkg else "install its fsspec implementation"
        raise PublishError(f"{proto}:// needs a package that is not installed ({hint}): {e}") from None
    except ValueError as e:
        raise PublishError(f"cannot write to {uri}: {e}") from None


def _is_local(fs) -> bool:
    from fsspec.implementations.local import LocalFileSystem
    return isinstance(fs, LocalFileSystem)


def _upload(fs, files: dict[str, Path], root: str) -> None:
    total, done = sum(p.stat().st_size for p in files.values()), 0
    for i, (name, p) in enumerate(files.items(), 1):
        remote = f"{root}/{name}"
        if _is_local(fs):
            fs.makedirs(fs._parent(remote), exist_ok=True)
        size = p.stat().st_size
        if size > BIG_FILE:
            from fsspec.callbacks import TqdmCallback
            fs.put_file(str(p), remote, callback=TqdmCallback(tqdm_kwargs={"desc": name, "unit": "B",
                                                                              "unit_scale": True, "file": sys.stderr}))
        else:
            fs.put_file(str(p), remote)
        done += size
        _log(f"  [{i}/{len(files)}] {name} ({_mb(size)}; {_mb(done)} of {_mb(total)})")


def _verify(fs, root: str, entries: dict) -> None:
    for name, e in entries.items():
        with fs.open(f"{root}/{name}", "rb") as f:
            digest = sha256_stream(f)
        if digest != e["sha256"]:
            raise PublishError(f"{name} reads back with sha256 {digest}, expected {e['sha256']}")


def _files_at(fs, folder: str) -> list[str]:
    """Every file under `folder`, by its name inside it; MANIFEST.json last (a folder without it is incomplete)."""
    root = fs._strip_protocol(folder).rstrip("/")
    names = [p[len(root) + 1:] for p in fs.find(root)]
    return sorted(names, key=lambda n: (n == "MANIFEST.json", n))


def _copy_tree(fs, src: str, dst: str) -> None:
    """Object stores cannot rename a folder: copy each object (MANIFEST.json last); a failure removes the copy."""
    try:
        for name in _files_at(fs, src):
            fs.copy(f"{src}/{name}", f"{dst}/{name}")
    except BaseException:
        _remove(fs, dst)
        raise


def _move(fs, src: str, dst: str) -> None:
    """`src` takes the name `dst` (which must not exist): one atomic rename on a local disk, else copy
    then remove the source."""
    if _is_local(fs):
        os.rename(src, dst)
        return
    _copy_tree(fs, src, dst)
    fs.rm(src, recursive=True)


def _swap(fs, partial: str, dest: str, previous: str) -> None:
    """The verified `partial` becomes `dest`; an old `dest` is kept as `previous` (an older one removed).
    If moving the new copy in fails, the old one is put back at `dest`."""
    if not fs.exists(dest):
        _move(fs, partial, dest)
        return
    if fs.exists(previous):
        fs.rm(previous, recursive=True)
    if _is_local(fs):
        os.rename(dest, previous)
    else:
        _copy_tree(fs, dest, previous)   # dest still serves while its copy is made
    try:
        if not _is_local(fs):
            fs.rm(dest, recursive=True)
        _move(fs, partial, dest)
    except BaseException:
        _put_back(fs, previous, dest)
        raise


def _put_back(fs, previous: str, dest: str) -> None:
    """After a failed swap: the old copy at `dest` again (the caller's error is raised after this)."""
    try:
        _remove(fs, dest)
        _move(fs, previous, dest)
        _log(f"the old copy is back at {fs.unstrip_protocol(dest)}")
    except Exception as e:  # still kept under the .previous name: say where
        _log(f"warning: could not put the old copy back ({e}); it is kept at {fs.unstrip_protocol(previous)}")


def _remove(fs, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except Exception as e:  # the caller's error matters more than this one
        _log(f"warning: could not remove {path}: {e}")


def is_bundle(folder: Path) -> bool:
    """A Data Commons NL-server bundle written by `svtune export` (ship/export.py)."""
    return all((folder / name).is_file() for name in ("catalog.yaml", "embeddings.csv", "model/modules.json"))


def bundle_files(folder: Path) -> dict[str, Path]:
    """Every file of a bundle, by its name inside it."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def put_folder(fs, dest: str, source: Path, files: dict[str, Path], overwrite: bool = True) -> None:
    """`files` of folder `source` and their MANIFEST.json at `dest` on `fs`. The new copy is uploaded
    beside it under a partial name and every file read back against its sha256; only then is an old
    `dest` moved aside to `<dest>.previous` (kept; an older one removed) and the new copy moved in.
    A failure at any step removes the partial copy and leaves the old `dest` serving."""
    previous = f"{dest}.previous"
    old = fs.exists(dest)
    if old and not overwrite:
        raise PublishError(f"{fs.unstrip_protocol(dest)} already exists (use --overwrite to replace it)")
    if old and fs.exists(previous) and not fs.exists(f"{previous}/MANIFEST.json"):
        raise PublishError(f"{fs.unstrip_protocol(previous)} holds no MANIFEST.json, so it is not a copy svtune "
                           "kept: move it away yourself, then publish again")
    man = manifest(source, files)
    partial = f"{dest}.partial-{secrets.token_hex(4)}"
    _log(f"uploading {len(files)} files ({_mb(sum(e['size'] for e in man['files'].values()))}) to {partial}")
    try:
        _upload(fs, files, partial)
        fs.pipe_file(f"{partial}/MANIFEST.json", json.dumps(man, indent=2).encode())
        _verify(fs, partial, man["files"])
        _log(f"verified sha256 of {len(files)} files")
        _swap(fs, partial, dest, previous)
    finally:
        _remove(fs, partial)   # gone already when the swap renamed it; on object stores the copied-from folder


def publish(run_dir: str | Path, uri: str, overwrite: bool = False) -> str:
    """Copy a complete run's model, config.json and metrics.json (or a whole export bundle) to an
    fsspec URI; return the final URI."""
    run = Path(run_dir)
    bundle = is_bundle(run)
    if not bundle:
        check_run(run)
    fs, dest = filesystem(uri)
    dest = dest.rstrip("/")
    if not dest:
        raise PublishError(f"{uri} names no folder")
    if fs.exists(dest) and not overwrite:
        raise PublishError(f"{uri} already exists (use --overwrite to replace it)")
    if not bundle:
        _ensure_card(run)
    put_folder(fs, dest, run, bundle_files(run) if bundle else run_files(run), overwrite)
    final = fs.unstrip_protocol(dest)
    _log(f"published {run.name} to {final}")
    return final


def stage_for_hub(run: Path, stage: Path, repo_id: str) -> list[str]:
    """Lay the run out as a Hub repo in `stage`: the model at the root (card naming the repo id),
    the run's config.json, metrics.json and MANIFEST.json under svtune/. Returns the file names."""
    files = run_files(run)
    man = manifest(run, files)
    for name, p in files.items():
        target = stage / (name.removeprefix("model/") if name.startswith("model/") else f"svtune/{name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    (stage / "svtune" / "MANIFEST.json").write_text(json.dumps(man, indent=2), encoding="utf-8")
    found = runs.read_all(run)
    card = card_text(found["config"], found["metrics"], {s: found[s] for s in runs.EVALS},
                     name=run.name, load_path=repo_id)
    (stage / "README.md").write_text(card, encoding="utf-8")
    return sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())


def push_to_hub(run_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None,
                commit_message: str | None = None) -> str:
    """Push a complete run to a Hugging Face model repo in one commit; return the commit URL.
    `token` defaults to the environment (HF_TOKEN) or `hf auth login`."""
    from huggingface_hub import HfApi

    run = Path(run_dir)
    check_run(run)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="svtune-hub-") as tmp:
        names = stage_for_hub(run, Path(tmp), repo_id)
        size = sum((Path(tmp) / n).stat().st_size for n in names)
        _log(f"pushing {len(names)} files ({_mb(size)}) to {repo_id}")
        api.create_repo(repo_id, repo_type="model", private=private or None, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=tmp,
                                 commit_message=commit_message or f"svtune run {run.name}")
    url = getattr(info, "commit_url", None) or str(info)
    _log(f"pushed {run.name} to {repo_id}: {url}")
    return url


def command(run: str, to: str | None, hub: str | None, overwrite: bool = False, private: bool = False,
            token: str | None = None) -> int:
    """`svtune publish`: 0 when published, 2 (with one error line) when not."""
    try:
        if hub:
            print(push_to_hub(run, hub, private=private, token=token))
        else:
            print(publish(run, to, overwrite=overwrite))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # storage and network errors: one line, no traceback
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"error: {type(e).__name__}: {msg}", file=sys.stderr)
        return 2
    return 0

