"""A bundle exported from a tiny run loads and answers under the Data Commons NL server's libraries.

    make test-compat          # builds build/compat-venv (scripts/compat.sh) if missing, then runs this

Exports a fake finished run (the conftest tiny model, centred, over the tiny catalog), writes what
today's libraries give (embeddings of a few texts, the top dcid of three queries), and runs
tests/compat/check_bundle.py with the compat venv's python, where svtune is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from svtune import paths
from svtune.ship.export import export
from test_export import TEXTS, centred_copy, tiny_run

COMPAT_PYTHON = paths.REPO_ROOT / "build" / "compat-venv" / "bin" / "python"
CHECK = paths.REPO_ROOT / "tests" / "compat" / "check_bundle.py"
QUERIES = ["how many poor people", "jobless share", "women count", "household income", "wheat farm count",
           "unemployment rate"]
MARGIN = 1e-3   # queries whose top two dcids are closer than this could swap between libraries


def expected_tops(model, index_rows, queries: list[str] = QUERIES) -> dict[str, str]:
    """The top dcid of three queries with a clear lead, by svtune's own search over the run's index."""
    from svtune.eval.evaluate import Index
    out = {}
    for query, top in zip(queries, Index(model, index_rows).search(queries, k=2)):
        if top[0][1] - top[1][1] > MARGIN:
            out[query] = top[0][0]
    assert len(out) >= 3, f"fewer than three queries with a clear top result: {out}"
    return dict(list(out.items())[:3])


@pytest.mark.slow
def test_bundle_loads_and_answers_under_the_server_libraries(tmp_path, tiny_model_dir, tiny_data):
    from sentence_transformers import SentenceTransformer

    from svtune.data.catalog import load_catalog
    from svtune.data.formats import index_from_catalog
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    run = tiny_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), tiny_data)
    bundle = export(run, tmp_path / "bundle")
    model = SentenceTransformer(str(run / "model"), device="cpu")
    reference = tmp_path / "reference"
    reference.mkdir()
    texts = [*TEXTS, "Count of Person: Female", "a longer text about the median income of households in 2020"]
    (reference / "texts.json").write_text(json.dumps(texts))
    np.save(reference / "embeddings.npy", model.encode(texts))
    tops = expected_tops(model, index_from_catalog(load_catalog(tiny_data, "tiny", warn=False)))
    (reference / "expected_top.json").write_text(json.dumps(tops))
    check(bundle, reference, tmp_path)


def check(bundle, reference, tmp_path, *extra: str) -> None:
    """tests/compat/check_bundle.py in the compat venv, where svtune is not installed; it must pass."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))   # nothing fetched
    done = subprocess.run([str(COMPAT_PYTHON), str(CHECK), str(bundle), str(reference), *extra], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    print(done.stdout, done.stderr, file=sys.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "bundle OK" in done.stdout


def custom_dc_reference(run, out, reference) -> None:
    """What svtune itself says of a --to-custom-dc export of `run` in `out`: the run model's embeddings of
    held-out descriptions, and its top result for three of them over the same sentences (owner_rows)."""
    from sentence_transformers import SentenceTransformer

    from svtune.data.catalog import load_catalog
    from svtune.ship.custom_dc import owner_rows
    from svtune.ship.export import run_data
    config = json.loads((run / "config.json").read_text())
    data_dir, size = run_data(config)
    held = load_catalog(data_dir, size, warn=False, heldout_seed=config["params"]["seed"]).heldout_queries
    assert held, f"{data_dir} holds out no search descriptions (it has an eval/ folder, or is no custom DC)"
    queries = [q for q, _ in held]
    model = SentenceTransformer(str(run / "model"), device="cpu")
    reference.mkdir()
    (reference / "texts.json").write_text(json.dumps(queries[:6]))
    np.save(reference / "embeddings.npy", model.encode(queries[:6]))
    tops = expected_tops(model, owner_rows(config, out)[0], queries)
    (reference / "expected_top.json").write_text(json.dumps(tops))


@pytest.mark.slow
def test_custom_dc_export_loads_and_answers_held_out_descriptions_under_the_server_libraries(tmp_path,
                                                                                           tiny_model_dir):
    """issue 28: the --to-custom-dc export, model at the cache path, embeddings.csv read as the server reads it;
    its top result for three held-out descriptions is svtune's own."""
    from svtune.ship.custom_dc import export_custom_dc
    from test_card import CONFIG
    from test_custom_dc import HELDOUT_MIN, custom_dc, variables
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN))
    config = dict(CONFIG, params=dict(CONFIG["params"], data_dir=str(folder)))
    run = tiny_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), folder, config=config)
    dc_input = tmp_path / "medium.csv"
    dc_input.write_text("dcid,sentence\nCount_Person,Population;number of people\nCount_Farm,farms\n")
    export_custom_dc(run, tmp_path / "output", cache_root=tmp_path / "cache", dc_index=dc_input)
    custom_dc_reference(run, tmp_path / "output", tmp_path / "reference")
    check(tmp_path / "output", tmp_path / "reference", tmp_path, str(tmp_path / "cache"))


@pytest.mark.slow
def test_your_own_custom_dc_export(tmp_path):
    """SVTUNE_COMPAT_RUN=RUN SVTUNE_COMPAT_CUSTOM_DC=OUTPUT_FOLDER [SVTUNE_COMPAT_CACHE_ROOT=DIR] make test-compat:
    the same check on a real run and the folder `svtune export RUN --to-custom-dc` wrote."""
    run, out = os.environ.get("SVTUNE_COMPAT_RUN"), os.environ.get("SVTUNE_COMPAT_CUSTOM_DC")
    if not (run and out):
        pytest.skip("set SVTUNE_COMPAT_RUN and SVTUNE_COMPAT_CUSTOM_DC to check your own --to-custom-dc export")
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    custom_dc_reference(paths.resolve(run), paths.resolve(out), tmp_path / "reference")
    cache = os.environ.get("SVTUNE_COMPAT_CACHE_ROOT")
    check(paths.resolve(out), tmp_path / "reference", tmp_path, *([str(paths.resolve(cache))] if cache else []))


@pytest.mark.slow
def test_serving_cost_times_an_exported_model_in_the_server_stack(tmp_path, tiny_model_dir, tiny_data):
    """tests/compat/serving_cost.py (issue 22's shipping table): ms per query and index sentences/s of an
    exported model, measured with the server's libraries; every figure is there and positive."""
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    run = tiny_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), tiny_data)
    bundle = export(run, tmp_path / "bundle")
    index = tmp_path / "index.csv"
    index.write_text("dcid,sentence\nCount_Person,people; population; head count\nMedian_Income,income; pay; pay\n")
    queries = tmp_path / "queries.txt"
    queries.write_text("# comment\n" + "\n".join(QUERIES * 2) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([str(COMPAT_PYTHON), str(CHECK.with_name("serving_cost.py")), str(bundle / "model"),
                           "--index", str(index), "--queries", str(queries), "--out", str(tmp_path / "cost.json")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads((tmp_path / "cost.json").read_text())
    assert row["sentences"] == 5 and row["queries"] == len(QUERIES) * 2 - 5   # "pay" once; 5 warm-up queries
    assert 0 < row["ms_per_query_median"] <= row["ms_per_query_p90"] and row["sentences_per_s"] > 0
    assert "ms/query" in done.stdout and "sentence-transformers 2.7.0" in done.stdout
