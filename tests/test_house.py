"""The house rules as tests: one command with every verb, the recorded command reproduces the run's
config, resume takes the run's own parameters, stages import only downward, no module too long."""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

import pytest

from svtune import cli, paths
from svtune.run.checks import resume_params
from svtune.run.config import RunConfig, make_config
from svtune.run.provenance import reproduce_command

STAGES = ["data", "model", "train", "eval", "ship", "run", "bench"]
PKG = Path(cli.__file__).parent


def recorded_config(command: str):
    """The RunConfig that a recorded `python -m svtune train ...` command asks for."""
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "svtune", "train"]
    args = cli._parser().parse_args(argv[3:])
    return make_config(**cli.run_params(args))


def every_parameter(tiny_model_dir, tiny_data, tmp_path) -> dict:
    """A non-default value for every run parameter (resume aside: it names a folder, not a config)."""
    (tmp_path / "report.txt").write_text("poverty\nwomen\n")
    return dict(size="tiny", data_dir=str(tiny_data), recipe="twostage", base_model=str(tiny_model_dir),
                epochs=2.0, batch_size=4, learning_rate=1e-3, seed=7, max_steps=2, precision="fp32",
                eval_dir=str(tiny_data / "eval"), teacher=str(tiny_model_dir),
                report_queries=str(tmp_path / "report.txt"), overrides={"center": 0.3, "mnrl_scale": 30.0})


def test_every_verb_is_listed(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for verb in cli.VERBS:
        assert verb in out, verb
    assert cli._argv(["--size", "tiny"]) == ["train", "--size", "tiny"]   # python -m svtune --size ... trains
    assert cli._argv(["--recipes"]) == ["recipes"]


def test_reproduce_command_names_every_field(tiny_model_dir, tiny_data, tmp_path):
    params = every_parameter(tiny_model_dir, tiny_data, tmp_path)
    cfg = make_config(**params)
    again = recorded_config(reproduce_command(cfg))
    assert again.to_dict() == cfg.to_dict()
    assert again.hp == cfg.hp


@pytest.mark.slow
def test_a_runs_recorded_command_gives_its_config_back(tiny_model_dir, tiny_data, tmp_path, monkeypatch):
    from svtune.run import Run
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = Run.start(**every_parameter(tiny_model_dir, tiny_data, tmp_path)).run_all()
    doc = json.loads((folder / "config.json").read_text())
    assert doc["status"] == "complete" and "-p teacher" in doc["command"]
    again = recorded_config(doc["command"]).to_dict()
    assert again == {k: v for k, v in doc["params"].items()}


def test_resume_takes_the_runs_own_parameters(tmp_path, tiny_model_dir, tiny_data):
    folder = tmp_path / "r.failed"
    folder.mkdir()
    stored = make_config(size="tiny", data_dir=str(tiny_data), recipe="seed", base_model=str(tiny_model_dir),
                         seed=7).to_dict()
    (folder / "config.json").write_text(json.dumps({"status": "failed", "reason": "interrupted (Ctrl-C)",
                                                    "params": stored}))
    # A notebook's parameters cell holds every default: they are not "given".
    notebook = {**RunConfig().to_dict(), "resume": str(folder)}
    assert resume_params(notebook)["seed"] == 7 and resume_params(notebook)["recipe"] == "seed"
    # The launcher knows what the user typed: only those are compared.
    assert resume_params({"resume": str(folder), "seed": 7}, given={"resume", "seed"})["seed"] == 7
    with pytest.raises(Exception, match=r"drop seed \(the run has 7\)"):
        resume_params({"resume": str(folder), "seed": 8}, given={"resume", "seed"})


def test_mark_failed_keeps_earlier_reasons(tmp_path):
    from svtune.run.folder import mark_failed
    folder = tmp_path / ".incomplete-r"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"status": "failed", "reason": "interrupted (Ctrl-C)"}))
    failed = mark_failed(folder, "interrupted (SIGTERM)")
    doc = json.loads((failed / "config.json").read_text())
    assert doc["reason"] == "interrupted (SIGTERM)" and doc["attempts"][0]["reason"] == "interrupted (Ctrl-C)"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svtune."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("svtune.")}
    return out


def test_stages_import_only_downward():
    for stage in STAGES:
        for module in (PKG / stage).glob("*.py"):
            upward = {s for s in _imports(module) if s in STAGES and STAGES.index(s) > STAGES.index(stage)}
            assert not upward, f"{module.relative_to(PKG)} imports {upward}, a later stage"
    for module in ("paths.py", "progress.py", "hashing.py"):
        assert not _imports(PKG / module) & set(STAGES), module


def test_modules_and_functions_stay_short():
    for module in PKG.rglob("*.py"):
        lines = module.read_text().splitlines()
        assert len(lines) <= 320, f"{module.relative_to(PKG)}: {len(lines)} lines"
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 70, f"{module.relative_to(PKG)}:{node.name} is {length} lines"
