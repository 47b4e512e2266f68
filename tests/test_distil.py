"""Distillation from a teacher tuned on the catalog: the projection, the embedding-level loss, and the
teacher trained once per catalog and reused (run/teacher_cache.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from svtune import paths, runs
from svtune.train.teacher import Space, project


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_project_keeps_the_teachers_cosines_in_the_students_width():
    rng = np.random.default_rng(0)
    low = rng.normal(size=(60, 6))
    low -= low.mean(0)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    teacher = low @ q[:6]                                  # 16 wide, 6 dimensions of signal
    student = rng.normal(size=(60, 8))
    student -= student.mean(0)                             # no common direction to add back
    out = project(teacher, student)
    assert out.shape == (60, 8) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert np.allclose(out @ out.T, _unit(teacher) @ _unit(teacher).T, atol=1e-4)


def test_project_finds_the_rotation_the_student_already_has():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(80, 12))
    t = teacher - teacher.mean(0)
    _, _, vt = np.linalg.svd(t, full_matrices=False)
    rot, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    student = t @ vt[:6].T @ rot + 0.3                     # the teacher's top 6 components, turned, shifted
    assert np.allclose(project(teacher, student), _unit(student), atol=1e-4)


def test_embed_loss_is_zero_on_the_targets_and_grows_away_from_them():
    from sentence_transformers.sentence_transformer import losses as st_losses

    from svtune.train.losses import InBatchAndScored
    rng = np.random.default_rng(2)
    targets = _unit(rng.normal(size=(5, 4))).astype(np.float32)
    sp = Space([f"t{i}" for i in range(5)], targets, 1.0, 0.0, targets)
    model = SimpleNamespace()
    loss = InBatchAndScored.__new__(InBatchAndScored)
    torch.nn.Module.__init__(loss)
    loss.targets, loss.model = torch.as_tensor(sp.targets), model
    labels = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 0, 2, 3]], dtype=torch.float)
    emb = [torch.as_tensor(targets[[0, 2]]) * 3, torch.as_tensor(targets[[1, 3]])]   # scale does not count
    assert float(loss._embed(emb, labels)) < 1e-10
    assert float(loss._embed([emb[1], emb[0]], labels)) > 0.1
    assert st_losses is not None


def test_distil_needs_no_teacher_parameter_but_other_teacher_knobs_do(tiny_data):
    from svtune.data.csvio import DataError
    from svtune.run.config import make_config
    cfg = make_config(size="tiny", data_dir=str(tiny_data), recipe="distil")
    assert cfg.hp.tuned_teacher == "all-mpnet-base-v2" and cfg.hp.distils and cfg.hp.embeds_teacher
    assert make_config(recipe="distil", overrides={"teacher_distil": 0.0, "embed_distil": 0.0}).hp.tuned_teacher == ""
    with pytest.raises(DataError, match="learns from a teacher"):
        make_config(recipe="default", overrides={"embed_distil": 1.0})
    with pytest.raises(DataError, match="teacher_base must be text"):
        make_config(recipe="distil", overrides={"teacher_base": 3})


@pytest.mark.slow
def test_the_teacher_is_tuned_once_per_catalog_then_reused(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    from svtune.run import Run, launch, teacher_cache
    from svtune.run.config import make_config
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "TEACHERS_DIR", tmp_path / "teachers")
    trained = []

    def in_process(params):   # the launcher's notebook, without a kernel: the same Run steps
        trained.append(params)
        return str(Run.start(**params).run_all())

    monkeypatch.setattr(launch, "main", in_process)
    params = dict(size="tiny", data_dir=str(tiny_data), base_model=str(tiny_model_dir), recipe="distil",
                  precision="fp32", overrides={"teacher_base": str(tiny_model_dir)})
    student = Run.start(**params).run_all()
    assert len(trained) == 1 and trained[0]["base_model"] == str(tiny_model_dir)
    assert trained[0]["overrides"] == teacher_cache.PRESET["overrides"]
    doc = json.loads((student / "config.json").read_text())
    teacher_run = doc["params"]["teacher"]
    assert runs.run_problem(Path(teacher_run)) is None
    assert "-p teacher" in doc["command"]
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["teacher"]["texts"] > 0 and metrics["teacher"]["tuned_from"] == str(tiny_model_dir)
    records = list((tmp_path / "teachers").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["run"] == teacher_run
    again = teacher_cache.ensure(make_config(**params), launch.main)      # a second student finds it
    assert again == teacher_run and len(trained) == 1
    other = make_config(**{**params, "seed": 3})              # another seed is another teacher
    assert teacher_cache.cache_key(other, teacher_cache.teacher_params(other)) != records[0].stem
