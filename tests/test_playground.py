"""The query playground: one query's base vs tuned table, and its ipywidgets UI, on a fake finished run."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from helpers import finished_run
from svtune import paths
from svtune.eval import playground
from svtune.eval.playground import Playground, widget
from svtune.eval.report import rank_diff_html

NAMES = {"Count_Person_BelowPovertyLevelInThePast12Months": "People Below Poverty Level",
         "Median_Income_Household": "Median Household Income", "UnemploymentRate_Person": "Unemployment Rate",
         "Count_Person_Female": "Female Population", "Count_Farm_Wheat": "Wheat Farms"}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """An empty outputs/runs/ (and embeddings cache) in tmp_path."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


@pytest.fixture
def run(runs, tiny_model_dir, tiny_data):
    """A finished run folder: the tiny model with its weights nudged as the tuned model."""
    return finished_run(runs, tiny_model_dir, tiny_data, tuned=True, names=NAMES)


def test_compare_one_query_side_by_side(run):
    pg = Playground()                           # "": the newest finished run
    assert pg.run == run
    page = pg.page("poverty")
    assert "<th>base: " in page and "<th>tuned</th>" in page
    rows = re.findall(r"<tr><td>(\d+)</td>", page)
    assert rows == [str(i) for i in range(1, 6)]    # all 5 StatVars of the tiny catalog, ranked
    for name in NAMES.values():                 # every StatVar appears, by its catalog name
        assert html.escape(name) in page
    assert page.count('<span class="dcid">') == 10  # 5 in each column
    framed = pg.compare("poverty")
    assert framed.startswith('<div class="svtune-playground"><iframe')
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', framed)[1]) == page
    assert len(pg.search("poverty", k=3)[1]) == 3
    with pytest.raises(ValueError, match="Type a query"):
        pg.compare("   ")


def test_moves_are_marked():
    before = [("a", .9), ("b", .8), ("c", .7)]
    after = [("c", .95), ("a", .9), ("d", .5)]
    page = playground.page_html("q", before, after, {"a": "A", "b": "B", "c": "C", "d": "D"})
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", page, re.S)
    assert len(rows) == 3
    assert ">▲2</span><span class=\"dcid\">c</span>" in rows[0]    # c: base #3 -> tuned #1
    assert ">▼1</span><span class=\"dcid\">a</span>" in rows[1]    # a: base #1 -> tuned #2
    assert ">left</span><span class=\"dcid\">b</span>" in rows[1]  # b left the top list
    assert ">new</span><span class=\"dcid\">d</span>" in rows[2]   # d is new in it
    assert "▲" not in rows[1] + rows[2] and "▼" not in rows[0] + rows[2]
    assert 'title="base #3 → tuned #1"' in rows[0] and 'title="not in the tuned top list"' in rows[1]
    # the playground's template adds its CSS after the report's, verbatim (CSS is not HTML-escaped)
    assert f"</style><style>{playground.STYLE}</style></head>" in page
    assert page.count('class="mv ') == 4


def test_page_is_the_report_page_plus_marks():
    """Without its marks and CSS, the playground page is the report's page of the same query."""
    before, after = [("a", .9), ("b", .8)], [("b", .9), ("e", .5)]
    names = {"a": "A <&>", "b": "B"}
    page = playground.page_html("q <x>", before, after, names, "run r", ("base: m", "tuned"))
    plain = re.sub(r'<span class="mv [^"]*" title="[^"]*">[^<]*</span>', "", page)
    plain = plain.replace(f"<style>{playground.STYLE}</style>", "")
    assert plain == rank_diff_html(["q <x>"], [before], [after], names, "run r", ("base: m", "tuned"))
    assert "q &lt;x&gt;" in page and "A &lt;&amp;&gt;" in page


def test_widget_lists_runs_and_searches(run):
    pytest.importorskip("ipywidgets")
    old = run.parent / "20250101-000000-small-old"
    shutil.copytree(run, old)
    (run.parent / ".incomplete-20270101-000000-small").mkdir()   # unfinished: not listed
    ui = widget()
    parts = ui.parts
    assert parts["run"].options == ((run.name, str(run)), (old.name, str(old)))   # newest first
    assert parts["run"].value == str(run)
    assert parts["result"].value == ""           # no query given: nothing searched yet
    parts["search"].click()
    assert "Type a query first." in parts["result"].value and "Traceback" not in parts["result"].value
    parts["query"].value = "poverty"             # what Enter in the box does
    assert "<iframe" in parts["result"].value and "Wheat Farms" in parts["result"].value
    parts["run"].value = str(old)                # switching runs loads the other one
    assert old.name in html.unescape(parts["result"].value)


def test_no_finished_run_is_one_line(runs):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        Playground()
    pytest.importorskip("ipywidgets")
    ui = widget(query="poverty")
    assert ui.parts["run"].options == ()
    assert "no finished run" in ui.parts["result"].value and "Traceback" not in ui.parts["result"].value
