"""Publishing a finished run: fsspec round trips, refusals, failed uploads, and the Hub at its HTTP boundary."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
import yaml
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from helpers import CONFIG, finished_run
from svtune.cli import main as cli_main
from svtune.ship.card import MARKER
from svtune.ship.publish import PublishError, publish, push_to_hub


def main(argv):
    """`svtune publish ARGV`'s exit status."""
    try:
        cli_main(["publish", *argv])
    except SystemExit as e:
        return e.code
    return 0

TEXTS = ["how many poor people", "median household income", "women"]


@pytest.fixture
def run(tmp_path, tiny_model_dir) -> Path:
    return finished_run(tmp_path / "runs", tiny_model_dir)


@pytest.fixture
def mem_root():
    """A fresh folder in the in-memory file system, removed afterwards."""
    root = f"/svtune-test-{uuid.uuid4().hex[:8]}"
    yield root
    fs = fsspec.filesystem("memory")
    for p in list(MemoryFileSystem.store):
        if p.startswith(root):
            fs.rm_file(p)
    MemoryFileSystem.pseudo_dirs[:] = [d for d in MemoryFileSystem.pseudo_dirs if not d.startswith(root)]


@pytest.fixture(params=["file", "memory"])
def dest(request, tmp_path, mem_root) -> str:
    """A destination URI that does not exist yet, on each backend."""
    return (tmp_path / "published" / "statvar-v1").as_uri() if request.param == "file" else f"memory://{mem_root}/statvar-v1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embed(path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(path), device="cpu").encode(TEXTS)


def siblings(uri: str) -> list[str]:
    """Names beside the destination (where a .partial- folder would be left)."""
    fs, path = fsspec.core.url_to_fs(uri)
    parent = fs._parent(path)
    return sorted(Path(p).name for p in fs.ls(parent, detail=False)) if fs.exists(parent) else []


def test_publish_round_trip_same_embeddings_and_manifest(run, dest, tmp_path):
    out = publish(run, dest)
    fs, path = fsspec.core.url_to_fs(dest)
    assert fs.unstrip_protocol(path) == out
    local = tmp_path / "copy"
    fs.get(path, str(local), recursive=True)  # memory:// must come down to disk to load
    manifest = json.loads((local / "MANIFEST.json").read_text())
    assert manifest["run"] == run.name and manifest["svtune_version"]
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert files == sorted([*manifest["files"], "MANIFEST.json"])
    assert {"config.json", "metrics.json", "model/modules.json", "model/model.safetensors", "model/README.md"} <= set(files)
    for name, entry in manifest["files"].items():
        data = (local / name).read_bytes()
        assert sha(data) == entry["sha256"] and len(data) == entry["size"], name
        src = run / name
        assert sha(src.read_bytes()) == entry["sha256"], name
    assert MARKER in (local / "model" / "README.md").read_text()  # the card was written before copying
    assert np.allclose(embed(local / "model"), embed(run / "model"), atol=1e-6)
    assert siblings(dest) == ["statvar-v1"]  # no .partial- left behind


@pytest.mark.parametrize("breakage", ["running", "failed-status", "no-metrics", "no-modules", "no-weights",
                                      "incomplete-name", "failed-name"])
def test_incomplete_runs_are_refused_with_nothing_written(tmp_path, tiny_model_dir, dest, breakage):
    cfg = dict(CONFIG, status={"running": "running", "failed-status": "failed"}.get(breakage, "complete"))
    name = {"incomplete-name": ".incomplete-20260101-x", "failed-name": "20260101-x.failed"}.get(breakage, "r")
    run = finished_run(tmp_path / "runs", tiny_model_dir, name=name, config=cfg,
                   metrics=False if breakage == "no-metrics" else None)
    if breakage == "no-modules":
        (run / "model" / "modules.json").unlink()
    if breakage == "no-weights":
        (run / "model" / "model.safetensors").unlink()
    card_before = (run / "model" / "README.md").read_text() if (run / "model" / "README.md").exists() else None
    with pytest.raises(PublishError) as e:
        publish(run, dest)
    assert "\n" not in str(e.value) and str(run) in str(e.value)
    assert siblings(dest) == []
    card_after = (run / "model" / "README.md").read_text() if (run / "model" / "README.md").exists() else None
    assert card_after == card_before  # the run folder was not touched either


def test_upload_failing_midway_leaves_no_destination(run, dest, monkeypatch):
    cls = LocalFileSystem if dest.startswith("file:") else MemoryFileSystem
    original, calls = cls.put_file, []

    def flaky(self, lpath, rpath, *a, **kw):
        calls.append(rpath)
        if len(calls) == 3:
            raise OSError("connection reset")
        return original(self, lpath, rpath, *a, **kw)

    monkeypatch.setattr(cls, "put_file", flaky)
    with pytest.raises(OSError, match="connection reset"):
        publish(run, dest)
    assert len(calls) == 3 and ".partial-" in calls[0]
    assert siblings(dest) == []  # neither the final name nor the partial folder


def test_corrupted_upload_is_caught_by_the_read_back(run, dest, monkeypatch):
    cls = LocalFileSystem if dest.startswith("file:") else MemoryFileSystem
    original = cls.put_file

    def corrupting(self, lpath, rpath, *a, **kw):
        original(self, lpath, rpath, *a, **kw)
        if rpath.endswith("modules.json"):
            self.pipe_file(rpath, b"[]")

    monkeypatch.setattr(cls, "put_file", corrupting)
    with pytest.raises(PublishError, match="modules.json reads back with sha256"):
        publish(run, dest)
    assert siblings(dest) == []


def test_existing_destination_needs_overwrite(run, dest, tmp_path):
    fs, path = fsspec.core.url_to_fs(dest)
    fs.makedirs(path, exist_ok=True)
    fs.pipe_file(f"{path}/old.txt", b"previous model")
    with pytest.raises(PublishError, match="already exists"):
        publish(run, dest)
    assert fs.cat_file(f"{path}/old.txt") == b"previous model"
    assert not fs.exists(f"{path}/MANIFEST.json")

    publish(run, dest, overwrite=True)
    assert not fs.exists(f"{path}/old.txt")
    manifest = json.loads(fs.cat_file(f"{path}/MANIFEST.json"))
    assert sha(fs.cat_file(f"{path}/model/model.safetensors")) == manifest["files"]["model/model.safetensors"]["sha256"]
    assert siblings(dest) == ["statvar-v1", "statvar-v1.previous"]  # no .partial- left; the old copy kept
    assert fs.cat_file(f"{path}.previous/old.txt") == b"previous model"


def test_cli_errors_are_one_line_exit_2(run, tmp_path, capsys):
    (run / "metrics.json").unlink()
    assert main([str(run), "--to", (tmp_path / "x").as_uri()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "has no metrics.json" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed")
def test_cli_names_the_missing_fsspec_package(run, capsys):
    assert main([str(run), "--to", "gs://bucket/model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: gs:// needs") and "pip install gcsfs" in err and err.count("\n") == 1


def test_cli_publishes(run, tmp_path, capsys):
    target = tmp_path / "pub"
    assert main([str(run), "--to", target.as_uri()]) == 0
    assert capsys.readouterr().out.strip() == target.as_uri()
    assert (target / "MANIFEST.json").is_file() and (target / "model" / "modules.json").is_file()


# --- the Hub, with huggingface_hub's real HfApi talking to a fake server -------------------------------


class FakeHub:
    """Answers the requests HfApi makes for create_repo + upload_folder, recording what was sent.
    huggingface_hub does its HTTP through one httpx2 client made by a replaceable factory
    (huggingface_hub.set_client_factory); the fake plugs in there as an httpx2.MockTransport."""

    def __init__(self):
        self.requests, self.created, self.commits, self.validated = [], [], [], []

    def __call__(self, request):
        import httpx2
        body = request.read()
        path = request.url.path
        self.requests.append((request.method, path, request.headers.get("authorization")))
        if request.method == "POST" and path == "/api/repos/create":
            self.created.append(json.loads(body))
            return httpx2.Response(200, json={"url": "https://huggingface.co/my-org/statvar-test"})
        if request.method == "POST" and path == "/api/validate-yaml":  # the client checks README.md's metadata
            content = json.loads(body)["content"]
            meta = yaml.safe_load(content.split("---\n")[1])
            self.validated.append(meta)
            ok = isinstance(meta, dict) and isinstance(meta.get("model-index"), list)
            return httpx2.Response(200 if ok else 400, json={"errors": [] if ok else [{"message": "bad metadata"}],
                                                             "warnings": []})
        if request.method == "POST" and "/preupload/" in path:
            files = json.loads(body)["files"]  # every file inline in the commit (no LFS/xet round trip)
            return httpx2.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular",
                                                         "shouldIgnore": False} for f in files]})
        if request.method == "POST" and "/commit/" in path:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            files = {ln["value"]["path"]: base64.b64decode(ln["value"]["content"]) for ln in lines if ln["key"] == "file"}
            header = next(ln["value"] for ln in lines if ln["key"] == "header")
            self.commits.append({"path": path, "files": files, "summary": header.get("summary")})
            return httpx2.Response(200, json={"commitUrl": "https://huggingface.co/my-org/statvar-test/commit/" + "a" * 40,
                                              "commitOid": "a" * 40})
        return httpx2.Response(404, json={"error": "not faked"})


@pytest.fixture
def hub(monkeypatch):
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake = FakeHub()
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(fake)))
    yield fake
    huggingface_hub.set_client_factory(default_client_factory)


def test_push_to_hub_uploads_model_at_root_and_run_files(run, hub):
    url = push_to_hub(run, "my-org/statvar-test", private=True, token="hf_fake")
    assert url.endswith("/commit/" + "a" * 40)
    assert len(hub.created) == 1
    assert hub.created[0]["name"] == "statvar-test" and hub.created[0]["organization"] == "my-org"
    # newer clients send "visibility", older ones "private"
    assert hub.created[0].get("visibility") == "private" or hub.created[0].get("private") is True
    (commit,) = hub.commits
    assert commit["path"] == "/api/models/my-org/statvar-test/commit/main"
    assert run.name in commit["summary"]
    model_files = {p.relative_to(run / "model").as_posix() for p in (run / "model").rglob("*") if p.is_file()}
    assert set(commit["files"]) == model_files | {"README.md", "svtune/config.json", "svtune/metrics.json",
                                                  "svtune/MANIFEST.json"}
    assert commit["files"]["model.safetensors"] == (run / "model" / "model.safetensors").read_bytes()
    assert json.loads(commit["files"]["svtune/config.json"]) == CONFIG
    assert [m["base_model"] for m in hub.validated] == ["sentence-transformers/all-MiniLM-L6-v2"]
    card = commit["files"]["README.md"].decode()
    assert MARKER in card and 'SentenceTransformer("my-org/statvar-test")' in card
    manifest = json.loads(commit["files"]["svtune/MANIFEST.json"])
    assert manifest["files"]["model/model.safetensors"]["sha256"] == sha(commit["files"]["model.safetensors"])
    assert all(auth == "Bearer hf_fake" for m, p, auth in hub.requests if p.startswith("/api/repos") or "/commit/" in p)


def test_push_to_hub_refuses_incomplete_run_without_any_request(tmp_path, tiny_model_dir, hub):
    run = finished_run(tmp_path, tiny_model_dir, config=dict(CONFIG, status="running"))
    with pytest.raises(PublishError, match="status is 'running'"):
        push_to_hub(run, "my-org/statvar-test", token="hf_fake")
    assert hub.requests == []


def test_cli_hub(run, hub, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fake")   # the token comes from the environment, never the command line
    assert main([str(run), "--hub", "my-org/statvar-test"]) == 0
    assert capsys.readouterr().out.strip().endswith("/commit/" + "a" * 40)
    assert len(hub.commits) == 1
    assert hub.created[0].get("visibility") != "private" and not hub.created[0].get("private")


def test_object_store_copies_manifest_last_and_a_failed_copy_leaves_nothing(run, mem_root, monkeypatch):
    original, copied = MemoryFileSystem.copy, []

    def recording(self, path1, path2, *a, **kw):
        copied.append(path2)
        return original(self, path1, path2, *a, **kw)

    monkeypatch.setattr(MemoryFileSystem, "copy", recording)
    publish(run, f"memory://{mem_root}/ok")
    manifest = json.loads(fsspec.filesystem("memory").cat_file(f"{mem_root}/ok/MANIFEST.json"))
    assert len(copied) == len(manifest["files"]) + 1 and copied[-1].endswith("/ok/MANIFEST.json")

    def failing(self, path1, path2, *a, **kw):
        if len(copied) == 2:
            raise OSError("copy failed")
        return recording(self, path1, path2, *a, **kw)

    copied.clear()
    monkeypatch.setattr(MemoryFileSystem, "copy", failing)
    with pytest.raises(OSError, match="copy failed"):
        publish(run, f"memory://{mem_root}/bad")
    assert siblings(f"memory://{mem_root}/bad") == ["ok"]


def test_a_run_without_its_executed_notebook_is_refused(tmp_path, tiny_model_dir):
    run = finished_run(tmp_path / "runs", tiny_model_dir)
    (run / "train.ipynb").unlink()   # killed between finishing and moving its notebook in
    with pytest.raises(PublishError, match="no train.ipynb"):
        publish(run, (tmp_path / "x").as_uri())
