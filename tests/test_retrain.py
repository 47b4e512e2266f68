"""Retrain from the notebook and see the difference: the run's own command, the background job's console and
result, the run-vs-run rank diff with labelled queries first, `svtune compare` writing it."""

from __future__ import annotations

import json
import re
import sys

import pytest

from helpers import finished_run
from svtune import paths
from svtune.data.curation import Curator
from svtune.eval.run_diff import labelled_first, run_diff
from svtune.run.retrain import Retrain, RetrainFailed, command


@pytest.fixture
def two_runs(tmp_path, monkeypatch, tiny_model_dir, tiny_data):
    """Two finished runs of tiny_data (A older) sharing two held-out queries, and two labels in its curation file."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path)
    a = finished_run(tmp_path / "runs", tiny_model_dir, tiny_data, name="20260101-000000-small-tiny", tuned=True)
    b = finished_run(tmp_path / "runs", tiny_model_dir, tiny_data, name="20260102-000000-small-tiny", tuned=True)
    held = [("jobless share", ["UnemploymentRate_Person"]), ("women count", ["Count_Person_Female"])]
    for folder, tops in ((a, [["Count_Farm_Wheat", "UnemploymentRate_Person"], ["Count_Person_Female"]]),
                         (b, [["UnemploymentRate_Person"], ["Count_Farm_Wheat", "Count_Person_Female"]])):
        details = [{"query": q, "expected": e, "top": [[d, 0.9 - i / 10] for i, d in enumerate(t)]}
                   for (q, e), t in zip(held, tops)]
        (folder / "eval_after.json").write_text(json.dumps({"details": {"queries": details, "pairs_heldout": []},
                                                             "names": {}}))
    cur = Curator(tiny_data)
    cur.add("wheat growers", "Wheat Farms", 1.0)
    cur.add("wheat growers", "Female Population", 0.01)
    return a, b


def test_the_rank_diff_of_two_runs_puts_labelled_queries_first(two_runs):
    a, b = two_runs
    out = run_diff(a, b)
    page = out["html"]
    assert out["queries"] == 3 and out["heldout"] == 2
    (query, rank_a, rank_b), = out["labelled"]
    assert query == "wheat growers" and re.fullmatch(r"#[1-5]", rank_a) and re.fullmatch(r"#[1-5]", rank_b)
    headings = re.findall(r"<h2 id='(\w+)'>", page)
    assert headings[0] == "labelled" and {"improved", "regressed"} <= set(headings)
    order = re.findall(r"<h3 id='q\d+'>([^<]*)</h3>", page)
    assert order == ["wheat growers", "women count", "jobless share"]   # labelled, then regressed, then improved
    assert "A: 20260101-000000-small-tiny" in page and "B: 20260102-000000-small-tiny" in page


def test_labelled_first_leaves_a_page_without_labels_alone():
    ctx = {"sections": [{"status": "improved", "title": "Improved", "blocks": [{"query": "q"}]}]}
    assert labelled_first(ctx, set()) is ctx
    moved = labelled_first(ctx, {"q"})
    assert [s["status"] for s in moved["sections"]] == ["labelled", "improved"]
    assert moved["sections"][1]["blocks"] == []


def test_svtune_compare_prints_and_writes_the_rank_diff(two_runs, capsys):
    from svtune import cli
    a, b = two_runs
    cli.main(["compare", str(a), str(b)])
    out = capsys.readouterr().out
    assert "rank diff A vs B (3 queries, labelled first):" in out
    assert re.search(r"labelled 'wheat growers': first expected StatVar #\d -> #\d", out)
    written = paths.OUTPUTS_DIR / "compare" / f"{a.name}_vs_{b.name}.html"
    assert written.is_file() and "Labelled queries" in written.read_text()


def test_the_retrain_command_is_the_runs_own(two_runs, tiny_model_dir, tiny_data):
    a, _ = two_runs
    argv = command(a)
    assert argv[:4] == [sys.executable, "-m", "svtune", "train"]
    assert argv[argv.index("base_model") + 1] == str(tiny_model_dir)
    assert argv[argv.index("data_dir") + 1] == str(tiny_data)


def test_a_background_retrain_streams_its_console_and_diffs_against_the_previous_run(two_runs):
    a, b = two_runs
    script = ("import sys, time\nfor i in range(3):\n    print(f'step {i}/3', flush=True)\n    time.sleep(0.05)\n"
              f"print('run complete: {b}')\n")
    seen = []
    job = Retrain(a, argv=[sys.executable, "-c", script], on_line=seen.append)
    assert job.wait(60) == b
    assert seen[:3] == ["step 0/3", "step 1/3", "step 2/3"] and job.lines == seen
    assert job.diff_path.is_file() and "Labelled queries" in job.diff_path.read_text() and job.seconds > 0
    failing = Retrain(a, argv=[sys.executable, "-c", "print('error: data/x.csv, line 2: bad'); raise SystemExit(2)"])
    with pytest.raises(RetrainFailed, match=r"exit status 2.*line 2: bad"):
        failing.wait(60)


def test_the_retrain_widget_shows_console_and_result(two_runs):
    pytest.importorskip("ipywidgets")
    from svtune.run.retrain import retrain_widget
    a, b = two_runs
    ui = retrain_widget(a, argv=[sys.executable, "-c", f"print('step 1/1'); print('run complete: {b}')"])
    ui.parts["start"].click()
    ui.parts["state"]["job"].thread.join(60)
    assert "step 1/1" in ui.parts["console"].value
    assert "<iframe" in ui.parts["result"].value and b.name in ui.parts["status"].value
    assert not ui.parts["start"].disabled and ui.parts["stop"].disabled
