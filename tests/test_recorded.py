"""The tiny smoke run (`make test`'s size, the packaged MiniLM, the repo's data, fp32) against its
recorded metrics, so a change that moves them cannot slip through silently.

After a deliberate change, record again and commit the diff of tests/expected/tiny_run.json:
    SVTUNE_RECORD=1 .venv/bin/python -m pytest tests/test_recorded.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from svtune import paths
from svtune.run import Run

EXPECTED = Path(__file__).parent / "expected" / "tiny_run.json"


def summary(m: dict) -> dict:
    losses = [h["loss"] for h in m["train"]["loss_history"]]
    return {"statvars": m["data"]["statvars"], "topics": m["data"]["topics"],
            "pairs_per_source": m["data"]["pairs_per_source"], "steps": m["train"]["steps"],
            "pairs_trained": m["train"]["pairs_trained"], "loss": losses,
            **{f"{stage}.{k}": m[stage][group][k] for stage in ("before", "after")
               for group, k in (("retrieval", "mrr@10"), ("retrieval", "recall@1"), ("pairs_heldout", "spearman"),
                                ("collapse", "nonsense_max"))}}


@pytest.mark.slow
def test_tiny_run_matches_its_record(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = Run.start(size="tiny", precision="fp32", max_steps=12).run_all()
    got = summary(json.loads((folder / "metrics.json").read_text()))
    if os.environ.get("SVTUNE_RECORD"):
        EXPECTED.write_text(json.dumps(got, indent=2) + "\n")
        pytest.skip(f"recorded {EXPECTED}")
    want = json.loads(EXPECTED.read_text())
    # Counts are exact; the base model's figures are deterministic; training moves a little across CPUs.
    for key in ("statvars", "topics", "pairs_per_source", "steps", "pairs_trained"):
        assert got[key] == want[key], key
    for key in [k for k in want if k.startswith("before.")]:
        assert got[key] == pytest.approx(want[key], abs=2e-3), key
    for key in [k for k in want if k.startswith("after.")]:
        assert got[key] == pytest.approx(want[key], abs=0.02), key
    assert got["loss"] == pytest.approx(want["loss"], rel=0.05, abs=0.02)
    third = len(got["loss"]) // 3
    assert sum(got["loss"][-third:]) < 0.8 * sum(got["loss"][:third])   # training lowers the loss
