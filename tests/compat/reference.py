"""svtune's side of the server compatibility check: what svtune itself says of an exported model (the
REFERENCE folder that check_bundle.py compares against), and check_bundle.py run in the compat venv.

Unlike the other files here this imports svtune and runs with svtune's python; check_bundle.py, which it
starts, runs in build/compat-venv (scripts/compat.sh), where svtune is not installed. Used by
tests/test_compat.py and scripts/check_custom_dc.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from svtune import paths

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


def custom_dc_reference(run: Path, out: Path, reference: Path) -> None:
    """What svtune itself says of a --to-custom-dc export of `run` in `out`: the run model's embeddings of
    held-out descriptions, and its top result for three of them over the same sentences (owner_index)."""
    from sentence_transformers import SentenceTransformer

    from svtune.data.catalog import load_catalog
    from svtune.ship.custom_dc import owner_index
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
    tops = expected_tops(model, owner_index(config, out)[0], queries)
    (reference / "expected_top.json").write_text(json.dumps(tops))


def check_bundle(bundle: Path, reference: Path, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """tests/compat/check_bundle.py BUNDLE REFERENCE [CACHE_ROOT] in the compat venv, offline, in `workdir`
    (its output captured; it passed when the return code is 0 and it printed "bundle OK")."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(workdir / "hf"))   # nothing fetched
    return subprocess.run([str(COMPAT_PYTHON), str(CHECK), str(bundle), str(reference), *extra], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=600)
