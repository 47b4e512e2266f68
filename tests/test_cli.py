"""The launcher (`python -m svtune`, what `make train` runs): every bad input is one line, exit 2 and
nothing written; a run that fails later is kept as <name>.failed with its reason; leftovers can be listed
and removed."""

from __future__ import annotations

import json

import pytest

from helpers import write
from svtune import cli, paths
from svtune.run.folder import leftovers


def refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    return tmp_path / "runs"


BAD_INPUTS = [
    ("curated_input/c.csv", "Name,Description\nX,y\n", "missing required column(s) dcid"),
    ("curated_input/c.csv", b"dcid,Name,Description\nA,caf\xe9,x\n", "not valid UTF-8 (byte 0xe9"),
    ("finetuning/sentence_pairs.csv", "sentence_1,sentence_2,score\na,b,1.7\n", "line 2, column 'score': 1.7 lies outside [0, 1]"),
    ("finetuning/sentence_pairs.csv", "sentence_1,sentence_2,score\na,b,high\n", "'high' is not a number"),
    ("curated_input/c.csv", "dcid,Name,Description\n", "no data rows"),
    ("curated_input/c.csv", "dcid,Name,Description\nA,\"" + "x" * (1 << 20) + "\",d\n", "line 2: malformed CSV"),
    ("curated_input/d.csv", "dcid,Name,Description\nMedian_Income_Household,Number of Cats,cats\n",
     "Median_Income_Household is defined again with a different Name"),
    ("topics/t.csv", "topic_dcid,topic_name,member_dcid\ndc/topic/A,A,dc/topic/B\ndc/topic/B,B,dc/topic/A\n", "cycle"),
]


@pytest.mark.parametrize("relative, content, message", BAD_INPUTS)
def test_bad_data_is_one_line_and_nothing_is_written(capsys, runs, tiny_data, relative, content, message):
    path = tiny_data / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    err = refused(capsys, ["-p", "data_dir", str(tiny_data)])
    assert message in err and str(path) in err
    assert not runs.exists()


def test_missing_folders_and_models(capsys, runs, tiny_data, tmp_path, tiny_model_dir):
    assert "data folder not found" in refused(capsys, ["-p", "data_dir", str(tmp_path / "nowhere")])
    assert "not found" in refused(capsys, ["-p", "data_dir", str(tiny_data), "-p", "base_model", str(tmp_path / "m")])
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    err = refused(capsys, ["-p", "data_dir", str(tiny_data), "-p", "base_model", str(broken)])
    assert "unreadable weights" in err and str(broken / "model.safetensors") in err
    assert "learns from a teacher" in refused(capsys, ["-p", "data_dir", str(tiny_data), "-o", "teacher_neighbours", "3"])
    assert not runs.exists()


def test_not_enough_disk_is_refused_up_front(capsys, runs, tiny_data, monkeypatch):
    import shutil
    from collections import namedtuple
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 5 * 2**20))
    assert "not enough free disk" in refused(capsys, ["-p", "data_dir", str(tiny_data)])


@pytest.mark.slow
def test_a_run_that_fails_later_is_kept_marked_failed(capsys, runs, tiny_data, tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell('size = "small"\ndata_dir = ""\nrun_dir = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell('import pathlib, json\n(pathlib.Path(run_dir) / "config.json").write_text('
                                          'json.dumps({"status": "running", "pid": 0}))\nraise RuntimeError("disk on fire")')]
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nb, notebook)
    with pytest.raises(SystemExit) as e:
        cli.main(["-p", "data_dir", str(tiny_data), "--notebook", str(notebook)])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "error: RuntimeError: disk on fire" in err and "-p resume" in err
    (failed,) = runs.iterdir()
    assert failed.name.endswith(".failed") and (failed / "train.ipynb").is_file()
    assert json.loads((failed / "config.json").read_text())["reason"] == "RuntimeError: disk on fire"
    assert [p for p, _ in leftovers(runs)] == [failed]
    cli.main(["clean"])                                                   # a dry run first
    assert failed.exists() and "would delete" in capsys.readouterr().out
    cli.main(["clean", "--yes"])
    assert not failed.exists() and leftovers(runs) == []


def test_abandoned_runs_are_found_but_live_ones_kept(runs):
    import os
    dead, live = runs / ".incomplete-a", runs / ".incomplete-b"
    for folder, pid in ((dead, 999999999), (live, os.getpid())):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"status": "running", "pid": pid}))
    write(runs / ".incomplete-a.ipynb", "{}")
    assert {p.name for p, _ in leftovers(runs)} == {".incomplete-a", ".incomplete-a.ipynb"}


@pytest.mark.slow
def test_torchrun_two_processes_on_gloo(tmp_path):
    """The README's distributed command on 2 CPU processes: rank 0 writes one complete run folder."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "SVTUNE_OUTPUTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "svtune",
                          "--size", "tiny", "-p", "precision", "fp32"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    assert not run.name.startswith(".") and {"model", "metrics.json", "train.ipynb", "rank_diff.html"} <= \
        {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "complete" and config["world_size"] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 3 and metrics["after"]["retrieval"]["queries"] > 0
    done = [line for line in out.stdout.splitlines() if line.strip().startswith("train [") and "steps/s" in line]
    assert len(done) == 1, done                           # rank 0 alone prints progress
    assert "terminate called" not in out.stderr and "SIGABRT" not in out.stderr
