"""The search a custom Data Commons serves (issue 33): the owner's index merged with Data Commons' medium
index by raw cosine under one threshold (eval/served.py), Data Commons' catalog joined for training
(run/served.py), and a threshold graded on queries that did not set it (eval/threshold.py). Tiny inline data."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import write
from svtune.data.csvio import DataError
from svtune.data.formats import read_index
from svtune.data.served import check_disjoint, owner_rows
from svtune.eval import served, threshold


class FakePart:
    """A served index whose hits are given: what merged_search does with them is the point."""

    def __init__(self, hits):
        self._hits = hits

    def hits(self, queries):
        return [self._hits[q] for q in queries]


def test_merge_is_by_raw_cosine_a_dcid_at_its_best_and_ties_by_dcid():
    owner = FakePart({"q": {"c/Fires": 0.59, "c/Trees": 0.3}})
    dc = FakePart({"q": {"Count_FireEvent": 0.845, "c/Fires": 0.7, "B": 0.3000000001, "A": 0.3}})
    top = served.merged_search([owner, dc], ["q"])[0]
    assert [d for d, _ in top] == ["Count_FireEvent", "c/Fires", "A", "B", "c/Trees"]   # 0.3 ties: by dcid
    assert dict(top)["c/Fires"] == 0.7                                                # its best score, any index
    assert served.merged_search([owner, dc], ["q"], k=2)[0] == [("Count_FireEvent", 0.845), ("c/Fires", 0.7)]


def test_each_index_gives_only_its_top_40_sentences(tiny_model_dir):
    from svtune.model.load import load_model
    rows = [(f"poverty {i}", f"d{i}") for i in range(60)]
    part = served.Part(load_model(str(tiny_model_dir)), rows)
    assert len(part.sentences) == 60 and len(part.hits(["poverty"])[0]) == served.SERVER_TOP


def test_served_evaluation_of_three_configurations(tiny_model_dir):
    from svtune.model.load import load_model
    base = load_model(str(tiny_model_dir))
    tuned = load_model(str(tiny_model_dir))
    owner = [("poverty rate", "c/Poverty"), ("poor people", "c/Poverty"), ("farm income", "c/Farms"),
             ("wheat farms", "c/Farms")]
    dc = [("people below poverty", "Count_Poverty"), ("unemployment", "Rate_Unemployment"),
          ("women", "Count_Female"), ("farms", "Count_Farm")]
    owner_q = [("how many poor", ["c/Poverty"]), ("farm count", ["c/Farms"]), ("not here", ["c/Nothing"])]
    dc_q = [("jobless", ["Rate_Unemployment"]), ("how many women", ["Count_Female"]), ("farms", ["Count_Farm"])]
    out = served.evaluate_served(base, tuned, owner, dc, owner_q, dc_q)
    a, c = out["configs"]["a"], out["configs"]["c"]
    assert a["threshold"] == 0.5 and "2023" in a["threshold_rule"]             # today's: the stock threshold
    assert c["threshold_rule"] == served.HALF_RULE and c["nonsense_below_threshold"]
    assert out["skipped_not_in_index"] == {"owner": 1, "dc": 0}
    for name in "abc":
        for side, n in (("owner", 2), ("dc", 3)):
            figs = out["configs"][name][side]
            assert figs["queries"] == n and 0 <= figs["mrr@10"] <= 1 and 0 <= figs["first_answer_other_index"] <= 1
    # the same model in every configuration: (c) equals (a) in ranking, so its interval is exactly 0
    assert out["intervals"]["c"]["dc"]["mrr@10"]["diff"] == 0 and out["intervals"]["c"]["dc"]["mrr@10"]["items"] == 3
    assert [q["query"] for q in out["details"]["c"]["owner"]] == ["how many poor", "farm count"]
    assert out["index_sentences"] == {"owner": 4, "dc": 4}
    table = served.summary_lines(out)[1].splitlines()   # the summary and the card: (c) against (a) first
    assert "(c) tuned, both indexes" in table[1] and "(a) base" in table[3] and "(b) tuned" in table[5]
    card = served.card_lines(out)
    assert "## Served beside Data Commons" in card and card[-6].startswith("| (c) tuned, both indexes | owner's (2)")


def test_threshold_is_calibrated_on_one_half_and_graded_on_the_other():
    queries = [f"query {i}" for i in range(40)]
    halves = [threshold.half(q) for q in queries]
    assert 0 < sum(halves) < 40 and halves == [threshold.half(q) for q in queries]   # both halves, stable
    # the calibration half answers at 0.9, the graded half at 0.6: the threshold comes from 0.9 alone
    expected = [0.9 if h == 0 else 0.6 for h in halves]
    cal = threshold.calibration(expected, [0.3], queries=queries)
    assert cal["threshold"] == pytest.approx(0.6) and "other half" in cal["rule"]
    assert cal["graded_queries"] == sum(halves) and cal["answered@10"]["calibrated"] == 1.0
    assert cal["answered@10_calibration_half"] == {"default": 1.0, "calibrated": 1.0}
    cal = threshold.calibration([0.95 if h == 0 else 0.62 for h in halves], [0.3], queries=queries)
    assert cal["threshold"] == pytest.approx(0.625) and cal["answered@10"]["calibrated"] == 0.0   # graded apart


def test_an_index_is_read_from_its_input_csv_or_the_servers_embeddings_file(tmp_path):
    csv = write(tmp_path / "in.csv", "dcid,sentence\nCount_Person,Population; number of people\n")
    assert read_index(csv)[0] == [("Population", "Count_Person"), ("number of people", "Count_Person")]
    emb = pd.DataFrame({"0": [0.1, 0.2], "1": [0.3, 0.4], "dcid": ["A;B", "C"], "sentence": ["shared", "own"]})
    emb.to_csv(tmp_path / "embeddings.csv", index=False)
    assert read_index(tmp_path / "embeddings.csv")[0] == [("shared", "A"), ("shared", "B"), ("own", "C")]
    with pytest.raises(DataError, match="unknown index format"):
        read_index(write(tmp_path / "bad.csv", "a,b\n1,2\n"))
    with pytest.raises(DataError, match="owner's own index"):
        check_disjoint([("x", "A")], [("x", "A"), ("y", "B")], tmp_path)


def test_owner_rows_are_what_the_importer_writes(tmp_path):
    from svtune.data.records import Catalog, StatVar
    cat = Catalog({"c/A": StatVar("c/A", "Name A", ["desc"], [], ["alt 1", "alt 2"]),
                   "c/B": StatVar("c/B", "Name B", [], [], []),
                   "c/topic/T": StatVar("c/topic/T", "Topic", [], [], [], topic=True)}, [], [])
    assert owner_rows(cat, "importer") == [("alt 1", "c/A"), ("alt 2", "c/A"), ("Name B", "c/B")]
    assert owner_rows(cat) == [("Name A", "c/A"), ("desc", "c/A"), ("alt 1", "c/A"), ("alt 2", "c/A"),
                               ("Name B", "c/B")]   # every text: what the export writes and the served search reads


def test_dc_dir_joins_data_commons_pairs_and_is_checked_before_a_run(tmp_path, tiny_data):
    from svtune.run.config import make_config
    from svtune.run.served import check_served, join_dc_pairs
    cfg = make_config(data_dir=str(tiny_data), dc_dir=str(tiny_data), dc_index=str(tiny_data / "dc.csv"))
    assert cfg.dc_index == str(tiny_data / "dc.csv")
    with pytest.raises(DataError, match="needs -p dc_dir"):
        make_config(dc_index="x.csv")
    owner = pd.DataFrame([["poverty", "prison", 0.01, "curated_pair", ""]],
                         columns=["sentence_1", "sentence_2", "score", "source", "dcid"])
    pairs, info = join_dc_pairs(cfg, owner)
    n = cfg.hp.owner_repeat   # the owner's pairs n times; Data Commons' copy of the shared pair dropped
    assert n == info["owner_repeat"] > 1 and info["owner_pairs"] == 1 and info["dc_pairs"] == len(pairs) - n > 10
    assert (pairs["sentence_1"] == "poverty").sum() == n and "Median_Income_Household" in set(pairs["dcid"])
    half_dc, _ = join_dc_pairs(make_config(data_dir=str(tiny_data), dc_dir=str(tiny_data),
                                           overrides={"dc_fraction": 0.5, "owner_repeat": 1}), owner)
    curated = (pairs["source"] == "curated_pair").sum() - n   # Data Commons' curated pairs are always kept
    assert (half_dc["source"] == "curated_pair").sum() - 1 == curated and len(half_dc) < len(pairs) - n + 1
    with pytest.raises(DataError, match="not found"):
        check_served(cfg, None)   # its index file is missing: refused before the run


def test_svtune_evaluate_served_with_prints_the_three_configurations(tmp_path, tiny_model_dir, capsys):
    import json

    from svtune import cli
    owner = write(tmp_path / "owner.csv", "dcid,sentence\nc/Poverty,poverty rate;poor people\nc/Farms,wheat farms\n")
    dc = write(tmp_path / "dc.csv", "dcid,sentence\nCount_Female,women\nRate_Unemployment,unemployment\n")
    oq = write(tmp_path / "oq.csv", "query,expected\nhow many poor,c/Poverty\nfarm count,c/Farms\n")
    dq = write(tmp_path / "dq.csv", "query,expected\njobless,Rate_Unemployment\nhow many women,Count_Female\n")
    args = ["evaluate", "--model", str(tiny_model_dir), "--model", str(tiny_model_dir), "--catalog", str(owner),
            "--queries", str(oq), "--served-with", str(dc), "--served-queries", str(dq)]
    cli.main(args)
    out = capsys.readouterr().out
    assert "(c) tuned, both indexes" in out and "(a) base, both indexes (today)" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert set(figures["configs"]) == {"a", "b", "c"} and figures["configs"]["c"]["owner"]["queries"] == 2
    with pytest.raises(SystemExit) as e:   # one model is no comparison
        cli.main(args[:3] + args[5:])
    assert e.value.code == 2 and "two models" in capsys.readouterr().err


def test_bench_served_verdicts_name_every_target_and_judge_it():
    from svtune.bench.served import TARGETS, table, verdicts
    side = {"queries": 66, "mrr@10": 0.91, "top1": 0.86, "answered@10": 0.9, "first_answer_other_index": 0.01}
    a = {"owner": {**side, "mrr@10": 0.6, "top1": 0.5}, "dc": {**side, "mrr@10": 0.52}, "label": "a"}
    c = {"owner": side, "dc": {**side, "mrr@10": 0.519}, "threshold": 0.6, "nonsense_max": 0.55,
         "nonsense_below_threshold": True, "label": "c"}
    iv = {"mrr@10": {"diff": 0.31, "diff_ci95": [0.2, 0.4]}}
    served_ = {"configs": {"a": a, "b": c, "c": c}, "intervals": {"b": {"owner": iv}, "c": {"owner": iv, "dc": iv}}}
    got = verdicts(served_, run_s=200, reference_s=160, export_s=100)
    assert len(got) == 8 and all(ok for _, ok in got)
    got = verdicts(served_, run_s=300, reference_s=160, export_s=200)   # 1.88x and over 3 minutes: two misses
    assert [ok for _, ok in got][-2:] == [False, False] and TARGETS["run_ratio"] == 1.5
    c["dc"]["first_answer_other_index"] = 0.03
    assert not dict((w.split(" (c)")[0], ok) for w, ok in verdicts(served_, 200, 160, 100))[
        "Data Commons queries answered first by an owner variable"]
    assert len(table(served_)) == 7 and "+0.310 [+0.200, +0.400]" in table(served_)[5]   # (c), owner


def test_without_a_cache_root_the_model_goes_to_a_private_folder_never_tmp(tmp_path, monkeypatch):
    import stat

    from svtune import paths
    from svtune.ship import custom_dc
    monkeypatch.setattr(paths, "OUTPUTS_DIR", tmp_path / "outputs")
    monkeypatch.setattr(custom_dc, "CACHE_ROOTS", [str(tmp_path / "no-workspace"), "/tmp"])
    where = custom_dc.cache_path("gs://goog-svtune-local-only/svtune-run")
    assert where == tmp_path / "outputs" / "nl_cache" / "goog-svtune-local-only" / "svtune-run"
    assert stat.S_IMODE((tmp_path / "outputs" / "nl_cache").stat().st_mode) == 0o700
    (tmp_path / "workspace").mkdir()
    monkeypatch.setattr(custom_dc, "CACHE_ROOTS", [str(tmp_path / "workspace"), "/tmp"])   # the server's image
    assert custom_dc.cache_path("gs://b/p") == tmp_path / "workspace" / "b" / "p"
    assert custom_dc.cache_path("gs://b/p", tmp_path / "mine") == tmp_path / "mine" / "b" / "p"   # named: as named


def test_medium_ft_is_registered_beside_the_owners_embeddings_as_the_server_sees_them(tmp_path):
    import yaml

    from svtune.ship.custom_dc import catalog_doc
    old = write(tmp_path / "custom_catalog.yaml", yaml.safe_dump({"indexes": {"user_all_minilm_mem": {
        "store_type": "MEMORY", "source_path": "/data/nl", "embeddings_path": "/data/nl/embeddings/embeddings.csv",
        "model": "ft-final-v20230717230459-all-MiniLM-L6-v2"}}}))
    doc = catalog_doc(old, "svtune-x", tmp_path / "nl" / "embeddings" / "embeddings.csv", tmp_path / "nl",
                      "gs://b/p", 0.6, tmp_path / "medium.csv")
    assert doc["version"] == "1" and doc["indexes"]["medium_ft"]["embeddings_path"] == \
        "/data/nl/embeddings/medium_ft/embeddings.csv"   # the container's path form, kept from the owner's file
    assert doc["indexes"]["user_all_minilm_mem"]["model"] == doc["indexes"]["medium_ft"]["model"] == "svtune-x"
    assert "medium_ft" not in catalog_doc(old, "svtune-x", tmp_path / "e.csv", tmp_path, "gs://b/p", 0.6)["indexes"]
