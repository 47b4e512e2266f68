"""Every entry is as careful as the launcher, and resume keeps a run's own parameters: the launcher,
papermill and Run.start refuse bad input before a folder exists; a failed run with non-default
seed, recipe and base model resumes through both documented commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from svtune import cli, paths, runs
from svtune.run import Run
from svtune.run.folder import mark_failed

NOTEBOOK = paths.NOTEBOOKS_DIR / "train.ipynb"


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """A fresh outputs folder for this process and every process it starts (papermill's kernel)."""
    out = tmp_path / "outputs"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "keep-me").mkdir()              # something that was there before
    monkeypatch.setenv("SVTUNE_OUTPUTS", str(out))
    monkeypatch.setattr(paths, "RUNS_DIR", out / "runs")
    return out


def bad_catalog(tiny_data):
    (tiny_data / "finetuning" / "sentence_pairs.csv").write_text("sentence_1,sentence_2,score\na,b,1.7\n")
    return tiny_data


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_every_entry_refuses_bad_input_before_writing(outputs, tiny_data, tiny_model_dir, tmp_path, capsys):
    data = bad_catalog(tiny_data)
    before = listing(outputs / "runs")
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "-p", "data_dir", str(data), "-p", "base_model", str(tiny_model_dir)])
    assert e.value.code == 2 and "1.7 lies outside [0, 1]" in capsys.readouterr().err
    with pytest.raises(Exception, match="1.7 lies outside"):
        Run.start(data_dir=str(data), base_model=str(tiny_model_dir))
    out = subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / "out.ipynb"),
                          "-p", "data_dir", str(data), "-p", "base_model", str(tiny_model_dir)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode != 0 and "1.7 lies outside" in out.stderr + out.stdout
    assert listing(outputs / "runs") == before


def failed_run(tiny_data, tiny_model_dir, reason="interrupted (Ctrl-C)"):
    """A run with non-default seed, recipe and base model that stopped after its data step."""
    run = Run.start(data_dir=str(tiny_data), base_model=str(tiny_model_dir), recipe="mnrl", seed=7, size="tiny")
    run.load_data()
    return mark_failed(run.dir, reason)


def check_resumed(outputs, reason):
    (done,) = runs.finished_runs(outputs / "runs")
    doc = json.loads((done / "config.json").read_text())
    assert doc["status"] == "complete" and doc["params"]["seed"] == 7 and doc["params"]["recipe"] == "mnrl"
    assert doc["attempts"][0]["reason"] == reason          # the failure's reason is kept, not overwritten
    return done


@pytest.mark.slow
def test_resume_through_the_launcher(outputs, tiny_data, tiny_model_dir, capsys):
    failed = failed_run(tiny_data, tiny_model_dir)
    cli.main(["train", "-p", "resume", str(failed)])        # the command the tool prints
    done = check_resumed(outputs, "interrupted (Ctrl-C)")
    assert (done / "train.ipynb").is_file()
    printed = capsys.readouterr().out
    assert "held-out evaluation" in printed and "health:" in printed   # the terminal summary
    with pytest.raises(SystemExit) as e:                     # a value the user gives that differs: refused
        cli.main(["train", "-p", "resume", str(done), "-p", "seed", "8"])
    assert e.value.code == 2


@pytest.mark.slow
def test_resume_through_papermill(outputs, tiny_data, tiny_model_dir, tmp_path):
    failed = failed_run(tiny_data, tiny_model_dir, reason="interrupted (SIGTERM)")
    out = subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / "out.ipynb"),
                          "-p", "resume", str(failed)], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "SVTUNE_OUTPUTS": str(outputs)})
    assert out.returncode == 0, out.stderr[-3000:]
    check_resumed(outputs, "interrupted (SIGTERM)")


@pytest.mark.slow
def test_sigterm_stops_the_launcher_like_ctrl_c(outputs, tiny_data, tiny_model_dir):
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "svtune", "train", "-p", "data_dir", str(tiny_data),
                             "-p", "base_model", str(tiny_model_dir), "-p", "epochs", "200", "-p", "batch_size", "4"],
                            env={**os.environ, "SVTUNE_OUTPUTS": str(outputs)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((outputs / "runs").glob(".incomplete-*/.checkpoints")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, text[-2000:]      # 128 + SIGTERM, as a killed program reports
    (failed,) = (outputs / "runs").glob("*.failed")
    assert json.loads((failed / "config.json").read_text())["reason"] == "interrupted (SIGTERM)"
    assert (failed / "train.ipynb").is_file()
    shutil.rmtree(failed)


def test_a_run_driven_in_python_that_stops_is_kept_as_failed_not_incomplete(tmp_path, tiny_model_dir, tiny_data,
                                                                            monkeypatch):
    """Run.start(...).run_all() outside the launcher: a crash renames the folder <name>.failed with its
    reason (the launcher's own rule), so no `.incomplete-` folder is left that nothing will finish."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    run = Run.start(size="tiny", data_dir=str(tiny_data), base_model=str(tiny_model_dir), precision="fp32")
    assert run.owns_folder and run.dir.name.startswith(paths.INCOMPLETE_PREFIX)

    def boom(*a, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(Run, "evaluate", boom)
    with pytest.raises(RuntimeError, match="boom"):
        run.run_all()
    (left,) = (tmp_path / "runs").iterdir()
    assert left == run.dir and left.name.endswith(paths.FAILED_SUFFIX)
    doc = json.loads((left / "config.json").read_text())
    assert doc["status"] == "failed" and doc["reason"] == "RuntimeError: boom"
