"""Run parameters: the essentials, recipe records, overrides checked against the recipe's own knobs."""

from __future__ import annotations

import pytest

from svtune.data.csvio import DataError
from svtune.run.config import make_config, params_from
from svtune.train.recipes import RECIPES, describe


def test_unknown_size_recipe_and_parameter():
    with pytest.raises(DataError, match="unknown size 'huge'"):
        make_config(size="huge")
    with pytest.raises(DataError, match="unknown recipe 'magic'"):
        make_config(recipe="magic")
    with pytest.raises(DataError, match="unknown parameter.*epoch.*known: size"):
        make_config(epoch=3)
    with pytest.raises(DataError, match="recipe knobs go in overrides: -o center VALUE"):
        make_config(center=0.3)                        # a knob given as a parameter says where it goes
    with pytest.raises(DataError, match="recipe 'seed' has no knob mnrl_scale"):
        make_config(recipe="seed", overrides={"mnrl_scale": 20})   # checked against the recipe's own knobs


def test_recipe_records_and_overrides():
    seed = make_config(recipe="seed").hp
    assert (seed.epochs, seed.batch_size, seed.warmup, seed.learning_rate, seed.center, seed.bf16) == \
        (10, 256, 10, 2e-5, 0.0, False)              # the original Data Commons recipe, fp32, uncentred
    default = make_config().hp
    assert (default.mnrl_scale, default.mined_fraction, default.curated_repeat, default.center,
            default.scored_epochs) == (40.0, 1.0, 16, 0.5, 0.0)
    assert make_config(recipe="twostage").hp.scored_epochs == 1.0
    assert make_config(recipe="seed", epochs=1).hp.epochs == 1          # the lifted essentials
    cfg = make_config(recipe="mnrl", overrides={"mnrl_scale": 20, "center": 0})
    assert (cfg.hp.mnrl_scale, cfg.hp.center, cfg.hp.name) == (20.0, 0.0, "mnrl")
    assert RECIPES["mnrl"].mnrl_scale == 40.0                           # the record itself is untouched
    assert make_config(overrides='{"center": 0.25}').hp.center == 0.25  # papermill/shell pass text
    with pytest.raises(DataError, match="overrides must be a mapping"):
        make_config(overrides="[1, 2]")


def test_tiny_is_a_smoke_test():
    cfg = make_config(size="tiny")
    assert (cfg.hp.batch_size, cfg.hp.scored_batch_size, cfg.max_steps, cfg.max_statvars) == (16, 16, 3, 40)
    assert make_config(size="tiny", recipe="seed").hp.batch_size == 16
    assert make_config(size="small").max_statvars is None


@pytest.mark.parametrize("knob, value", [("mnrl_scale", 0), ("anchor_fraction", -1), ("mined_fraction", 1.5),
                                         ("center", -0.1), ("scored_learning_rate", 0),
                                         ("scored_epochs", -1), ("scored_batch_size", 0),
                                         ("hard_negatives", -1), ("hard_negatives", 1.5),
                                         ("scored_loss", "mse"), ("length_grouped", 1), ("epochs", "two")])
def test_bad_knobs_are_refused(knob, value):
    with pytest.raises(DataError, match=knob):
        make_config(overrides={knob: value})


def test_bad_essentials_are_refused():
    for params, match in [({"seed": -1}, "seed"), ({"max_steps": 0}, "max_steps"), ({"precision": "fp8"}, "precision"),
                          ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(DataError, match=match):
            make_config(**params)


def test_notebook_parameters_and_recipe_listing():
    namespace = {"size": "tiny", "recipe": "seed", "run_dir": "/x", "json": object(), "overrides": {}}
    assert params_from(namespace) == {"size": "tiny", "recipe": "seed", "overrides": {}, "run_dir": "/x"}
    text = describe(RECIPES["default"])
    assert "mnrl_scale" in text and "40.0" in text and "in-batch softmax scale" in text


def test_launcher_rejects_bad_input_before_writing_anything(capsys, tmp_path, monkeypatch, tiny_data):
    from svtune import cli, paths
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    for argv, message in [(["--size", "huge"], "unknown size 'huge'"),
                          (["-p", "recipe", "nope"], "unknown recipe 'nope'"),
                          (["-o", "center", "7"], "center must be between 0 and 1"),
                          (["-p", "data_dir", str(tmp_path / "missing")], "data folder not found"),
                          (["-p", "base_model", str(tmp_path / "nomodel")], "not found")]:
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and message in err and len(err.splitlines()) == 1, (argv, err)
    (tiny_data / "finetuning" / "sentence_pairs.csv").write_text("sentence_1,sentence_2,score\na,b,high\n")
    with pytest.raises(SystemExit):
        cli.main(["-p", "data_dir", str(tiny_data)])
    assert "sentence_pairs.csv, line 2, column 'score': 'high' is not a number" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()          # nothing was created


def test_the_train_notebook_lists_every_run_parameter():
    """A run parameter added to RunConfig but forgotten in the notebook's parameters cell fails here."""
    import ast
    import json

    from svtune import paths
    from svtune.run.config import PARAMETERS
    nb = json.loads((paths.REPO_ROOT / "notebooks" / "train.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    names = [t.id for node in ast.parse("".join(cell["source"])).body for t in node.targets]
    assert sorted(names) == sorted([*PARAMETERS, "run_dir"])
