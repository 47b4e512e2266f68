"""Suggestions: regressed held-out queries, close top twos, weak topics, unreached StatVars, a query log."""

from __future__ import annotations

import json

import pytest

from helpers import finished_run, write
from svtune import paths
from svtune.eval.suggest import suggest, table


@pytest.fixture
def run(tmp_path, monkeypatch, tiny_model_dir, tiny_data):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    folder = finished_run(tmp_path / "runs", tiny_model_dir, tiny_data, tuned=True)

    def q(query, expected, top):
        return {"query": query, "expected": expected, "top": top}
    before = [q("jobless share", ["UnemploymentRate_Person"], [["UnemploymentRate_Person", .9], ["Count_Farm_Wheat", .5]]),
              q("women count", ["Count_Person_Female"], [["Count_Farm_Wheat", .9], ["Count_Person_Female", .8]])]
    after = [q("jobless share", ["UnemploymentRate_Person"], [["Count_Farm_Wheat", .90], ["UnemploymentRate_Person", .89]]),
             q("women count", ["Count_Person_Female"], [["Count_Person_Female", .9], ["Count_Farm_Wheat", .5]])]
    topics = [q("farming", ["dc/topic/Agriculture"], [["Count_Farm_Wheat", .7], ["dc/topic/Agriculture", .6]])]
    (folder / "eval_before.json").write_text(json.dumps({"details": {"queries": before}}))
    (folder / "eval_after.json").write_text(json.dumps({"details": {"queries": after, "topic_queries": topics},
                                                        "names": {"Count_Farm_Wheat": "Wheat Farms"}}))
    return folder


def test_suggestions_are_ranked_with_their_reasons(run):
    rows = suggest(run)
    kinds = [r["kind"] for r in rows]
    assert kinds == sorted(kinds, key=["regressed", "close", "topic", "unreached"].index)
    assert rows[0] == {"rank": 1, "kind": "regressed", "query": "jobless share",
                       "reason": "held-out: the tuned model ranks its StatVar #2, the base #1"}
    assert [r["query"] for r in rows if r["kind"] == "close"] == ["jobless share"]   # 0.01 apart; women: 0.4
    assert "'Wheat Farms' and 'Unemployment Rate' only 0.010 apart" in rows[1]["reason"]
    assert [r["query"] for r in rows if r["kind"] == "topic"] == ["farming"]
    unreached = {r["query"] for r in rows if r["kind"] == "unreached"}
    assert unreached == {"People Below Poverty Level", "Median Household Income"}   # no query's top 10 has them
    assert list(table(rows, 3).columns) == ["rank", "kind", "query", "reason"] and len(table(rows, 3)) == 3
    assert len(table(rows, None, per_kind=1)) == 4


def test_a_query_log_is_searched_and_ranked_too(run, tmp_path):
    log = write(tmp_path / "log.txt", "# real queries\nwheat growers\nhousehold income\n")
    rows = suggest(run, report_queries=str(log), margin=1.0)        # margin 1: every logged query is "close"
    logged = [r for r in rows if r["reason"].startswith("query log")]
    assert {r["query"] for r in logged} == {"wheat growers", "household income"}
    assert not [r for r in rows if r["kind"] == "unreached"]        # the log's top 10s reach all 5 StatVars
