"""A bundle exported from a tiny run loads and answers under the Data Commons NL server's libraries.

    make test-compat          # builds build/compat-venv (scripts/compat.sh) if missing, then runs this

Exports a fake finished run (helpers.finished_run: the conftest tiny model, centred, over the tiny
catalog), writes what today's libraries give (embeddings of a few texts, the top dcid of three queries),
and runs tests/compat/check_bundle.py with the compat venv's python, where svtune is not installed. Your own
`svtune export RUN --to-custom-dc` output is checked the same way by `make check-custom-dc`
(scripts/check_custom_dc.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from compat.reference import CHECK, COMPAT_PYTHON, QUERIES, check_bundle, custom_dc_reference, expected_tops
from helpers import TEXTS, centred_copy, custom_dc, finished_run, variables
from svtune.ship.export import export


@pytest.mark.slow
def test_bundle_loads_and_answers_under_the_server_libraries(tmp_path, tiny_model_dir, tiny_data):
    from sentence_transformers import SentenceTransformer

    from svtune.data.catalog import load_catalog
    from svtune.data.formats import index_from_catalog
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    run = finished_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), tiny_data)
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
    done = check_bundle(bundle, reference, tmp_path, *extra)
    print(done.stdout, done.stderr, file=sys.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "bundle OK" in done.stdout


@pytest.mark.slow
def test_custom_dc_export_loads_and_answers_held_out_descriptions_under_the_server_libraries(tmp_path,
                                                                                           tiny_model_dir):
    """issue 28: the --to-custom-dc export, model at the cache path, embeddings.csv read as the server reads it;
    its top result for three held-out descriptions is svtune's own."""
    from svtune.data.heldout import HELDOUT_MIN
    from svtune.ship.custom_dc import export_custom_dc
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN))
    run = finished_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), folder)
    dc_input = tmp_path / "medium.csv"
    dc_input.write_text("dcid,sentence\nCount_Person,Population;number of people\nCount_Farm,farms\n")
    export_custom_dc(run, tmp_path / "output", cache_root=tmp_path / "cache", dc_index=dc_input)
    custom_dc_reference(run, tmp_path / "output", tmp_path / "reference")
    check(tmp_path / "output", tmp_path / "reference", tmp_path, str(tmp_path / "cache"))


@pytest.mark.slow
def test_serving_cost_times_an_exported_model_in_the_server_stack(tmp_path, tiny_model_dir, tiny_data):
    """tests/compat/serving_cost.py (issue 22's shipping table): ms per query and index sentences/s of an
    exported model, measured with the server's libraries; every figure is there and positive."""
    if not COMPAT_PYTHON.is_file():
        pytest.skip(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh` (make test-compat)")
    run = finished_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), tiny_data)
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
