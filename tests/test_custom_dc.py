"""A custom Data Commons as its owner has it (issue 28): config.json or an importer's nl/ read into the
catalog, one search description of each variable held out in the owner's own words, and the tuned
model's index written back into the owner's output folder (ship/custom_dc.py). Tiny inline data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from compat.check_catalog import server_reads
from helpers import centred_copy, custom_dc, finished_run, variables, write
from svtune import cli
from svtune.data.catalog import load_catalog
from svtune.data.csvio import DataError
from svtune.data.custom_dc import custom_dc_kind
from svtune.data.formats import index_from_catalog
from svtune.data.heldout import HELDOUT_MIN, check_count, label
from svtune.ship.convert import ExportError
from svtune.ship.custom_dc import export_custom_dc, report

# --- reading ----------------------------------------------------------------------------------------------

def test_config_json_maps_onto_the_catalog_with_groups_as_topics(tmp_path):
    folder = custom_dc(tmp_path, {
        "c/Income": {"name": "Median Income", "description": "median household income",
                     "searchDescriptions": ["typical earnings", "household income"], "group": "Economy/Income"},
        "c/Rent": {"name": "Median Rent", "searchDescriptions": ["rent"], "group": "Economy"},
        "c/Crime": {"searchDescriptions": ["crime rate"]},
    }, pairs="sentence_1,sentence_2,score\nrent,housing cost,0.9\n")
    assert custom_dc_kind(folder) == "config"
    cat = load_catalog(folder, warn=False)
    inc = cat.statvars["c/Income"]
    assert (inc.name, inc.descriptions, inc.curated_alternatives) == ("Median Income", ["median household income"],
                                                                      ["typical earnings", "household income"])
    assert cat.statvars["c/Crime"].name == "" and cat.statvars["c/Crime"].curated_alternatives == ["crime rate"]
    topics = cat.hierarchy.topics
    assert topics["c/topic/Economy"].members == ["c/topic/Economy/Income", "c/Rent"]
    assert topics["c/topic/Economy/Income"].members == ["c/Income"]
    assert topics["c/topic/Economy/Income"].name == "Income" and cat.statvars["c/topic/Economy"].topic
    assert cat.num_statvars == 3 and cat.num_topics == 2
    assert [(p.sentence_1, p.sentence_2, p.score) for p in cat.pairs] == [("rent", "housing cost", 0.9)]
    assert cat.heldout_queries == []   # nobody has 3 search descriptions
    assert folder / "config.json" in cat.files and folder / "finetuning" / "sentence_pairs.csv" in cat.files


def test_importer_output_folder_with_its_topic_cache(tmp_path):
    write(tmp_path / "out" / "nl" / "sentences.csv", """
        dcid,sentence
        c/Income,typical earnings;household income;what people earn
        c/Rent,Median Rent
        """)
    (tmp_path / "out" / "nl" / "custom_dc_topic_cache.json").write_text(json.dumps({"nodes": [
        {"dcid": ["c/topic/Money"], "typeOf": ["Topic"], "name": ["Money"], "relevantVariableList": ["c/Income"]},
        {"dcid": ["c/svpg/Housing"], "typeOf": ["StatVarPeerGroup"], "name": ["Housing"],
         "memberList": ["c/Rent", "c/Income"]}]}))
    folder = tmp_path / "out"
    assert custom_dc_kind(folder) == "importer"
    cat = load_catalog(folder, warn=False, heldout_seed=None)
    assert cat.statvars["c/Rent"].name == "Median Rent"   # one text: the importer wrote the name
    assert cat.statvars["c/Income"].curated_alternatives == ["typical earnings", "household income",
                                                             "what people earn"]
    assert cat.hierarchy.topics["c/topic/Money"].members == ["c/Income"]
    assert cat.hierarchy.topics["c/svpg/Housing"].members == ["c/Rent", "c/Income"]
    assert cat.statvars["c/topic/Money"].topic and "c/svpg/Housing" not in cat.statvars
    assert custom_dc_kind(tmp_path / "nothing") is None


# --- bad input: one line naming the file and place ---------------------------------------------------------

@pytest.mark.parametrize("text, where, words", [
    ('{"variables": {\n  "a": {"name": "x",}\n}}', "line 2", "invalid JSON"),
    ('{"inputFiles": {}}', "line 1", 'found no "variables"'),
    ('{"variables": {\n "a": {"name": "x", "searchDescriptions": "one"}}}', "line 2", "must be a list of strings"),
    ('{"variables": {\n "a": {"name": "x", "searchDescriptions": ["ok", 3]}}}', "line 2", "list of strings"),
    ('{"variables": {\n "a": {"name": "x"},\n "a": {"name": "y"}}}', "lines 2 and 3", "different names"),
])
def test_bad_config_json_is_one_line_with_file_and_place(tmp_path, text, where, words):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(DataError) as e:
        load_catalog(tmp_path, warn=False)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'config.json'}, {where}") and words in msg and "\n" not in msg, msg


def test_malformed_json_gives_line_and_column(tmp_path):
    (tmp_path / "config.json").write_text('{"variables": {\n  "a": {"name": "x",}\n}}')
    with pytest.raises(DataError, match=r"line 2: invalid JSON .* at column 21"):
        load_catalog(tmp_path, warn=False)


@pytest.mark.parametrize("text, words", [("", "empty file"), ("dcid;sentence\na;b\n", "missing required column"),
                                         ("dcid,sentence\n", "no data rows")])
def test_bad_sentences_csv(tmp_path, text, words):
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "sentences.csv").write_text(text)
    with pytest.raises(DataError, match=words) as e:
        load_catalog(tmp_path, warn=False)
    assert str(e.value).startswith(str(tmp_path / "nl" / "sentences.csv"))


def test_svtune_train_refuses_bad_input_with_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from svtune import paths
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    (tmp_path / "dc").mkdir()
    (tmp_path / "dc" / "config.json").write_text('{"variables": {"a": {"name": "x", "searchDescriptions": 5}}}')
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "-p", "data_dir", str(tmp_path / "dc")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert str(tmp_path / "dc" / "config.json") in err and "list of strings" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_variable_without_name_or_search_descriptions_is_a_named_warning(tmp_path):
    folder = custom_dc(tmp_path, {"c/A": {"name": "a"}, "c/Empty": {"description": "only this", "group": "G"}})
    with pytest.warns(UserWarning, match=r"config.json, line \d+: variable c/Empty has neither a name nor"):
        cat = load_catalog(folder)
    assert "c/Empty" not in cat.statvars and list(cat.statvars) == ["c/A"]


# --- held-out queries in the owner's own words --------------------------------------------------------------

def test_one_search_description_of_each_variable_with_three_is_held_out(tmp_path):
    vs = variables(6)
    vs["c/Var0"]["searchDescriptions"] = ["only one", "and two"]           # fewer than 3: nothing held out
    vs["c/Var1"]["searchDescriptions"].append("crime 1 shared")             # also a curated pair's text below
    vs["c/Var3"]["searchDescriptions"].append("economy")                    # also a group's name
    folder = custom_dc(tmp_path, vs, pairs="sentence_1,sentence_2,score\ncrime 1 shared,crime,0.9\n")
    cat = load_catalog(folder, warn=False, heldout_seed=7)
    held = dict((q, e) for q, e in cat.heldout_queries)
    assert sorted(e[0] for e in held.values()) == [f"c/Var{i}" for i in range(1, 6)]
    for dcid in [f"c/Var{i}" for i in range(1, 6)]:
        given = vs[dcid]["searchDescriptions"]
        candidates = [d for d in given if d not in ("crime 1 shared", "economy")]
        want = min(candidates, key=lambda d: hashlib.sha256(f"7:{dcid}:{d}".encode()).hexdigest())
        assert held[want] == [dcid]
        assert want not in cat.statvars[dcid].sentences()                  # never trained on
        assert len(cat.statvars[dcid].curated_alternatives) == len(given) - 1
    texts = {t.lower() for t, _ in index_from_catalog(cat)}
    assert not texts & {q.lower() for q in held}                           # nor in the evaluation index
    from svtune.data.mining import mine_pairs
    pairs, _ = mine_pairs(cat)
    mined = set(pairs["sentence_1"].str.lower()) | set(pairs["sentence_2"].str.lower())
    assert not mined & {q.lower() for q in held}
    again = load_catalog(folder, warn=False, heldout_seed=7).heldout_queries
    assert again == cat.heldout_queries                                    # deterministic
    other = load_catalog(folder, warn=False, heldout_seed=8).heldout_queries
    assert {e[0] for _, e in other} == {e[0] for _, e in cat.heldout_queries}


def test_no_holdout_with_an_eval_folder_or_without_a_seed(tmp_path):
    folder = custom_dc(tmp_path, variables(4))
    assert len(load_catalog(folder, warn=False).heldout_queries) == 4
    assert load_catalog(folder, warn=False, heldout_seed=None).heldout_queries is None
    write(folder / "eval" / "queries.csv", "query,expected\nhow many poverty,c/Var0\n")
    cat = load_catalog(folder, warn=False)
    assert cat.heldout_queries is None and len(cat.statvars["c/Var0"].curated_alternatives) == 3


def test_fewer_than_20_held_out_queries_is_refused_before_any_folder(tmp_path, tiny_model_dir, monkeypatch):
    from svtune import paths
    from svtune.run.checks import check_inputs
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN - 1))
    params = dict(data_dir=str(folder), base_model=str(tiny_model_dir))
    with pytest.raises(DataError) as e:
        check_inputs(params)
    msg = str(e.value)
    assert msg.startswith(str(folder / "config.json")) and f"only {HELDOUT_MIN - 1} held-out queries" in msg
    assert "eval/queries.csv" in msg and "-p eval_dir none" in msg and "\n" not in msg
    assert not (tmp_path / "runs").exists()
    check_inputs({**params, "eval_dir": "none"})                           # the user may opt out
    (folder / "config.json").write_text(json.dumps({"variables": variables(HELDOUT_MIN)}))
    cfg = check_inputs(params)                                             # 20: enough, and no repo data/eval
    from svtune.eval.evaluate import eval_files
    assert eval_files(cfg) == (None, None, None)
    check_count(None, None)


def test_evaluation_summary_and_card_say_what_was_held_out(tmp_path, tiny_model_dir):
    from svtune.eval.evaluate import evaluate_run
    from svtune.eval.summary import summary
    from svtune.model.load import load_model
    from svtune.run.config import make_config
    from svtune.ship.card_sections import results_section
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN))
    cfg = make_config(data_dir=str(folder), base_model=str(tiny_model_dir), seed=3)
    cat = load_catalog(folder, warn=False, heldout_seed=3)
    result = evaluate_run(load_model(str(tiny_model_dir)), cat, cfg)
    assert [q["query"] for q in result["details"]["queries"]] == [q for q, _ in cat.heldout_queries]
    assert result["retrieval"]["queries"] == HELDOUT_MIN and result["files"]["queries"] is None
    assert result["heldout"] == label(HELDOUT_MIN) == "held out: 1 search description of each of 20 variables"
    after = {k: v for k, v in result.items() if k not in ("details", "names")}
    (tmp_path / "metrics.json").write_text(json.dumps({"before": after, "after": after}, default=float))
    assert label(HELDOUT_MIN) in summary(tmp_path)
    assert label(HELDOUT_MIN) in "\n".join(results_section({"before": after, "after": after}))


# --- writing back where the server looks ---------------------------------------------------------------------

@pytest.fixture
def dc_run(tmp_path, tiny_model_dir):
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN))
    return finished_run(tmp_path / "runs", centred_copy(tiny_model_dir, tmp_path / "centred"), folder)


def read_embeddings(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


def test_export_to_custom_dc_writes_embeddings_catalog_and_the_model_at_the_cache_path(dc_run, tmp_path):
    from sentence_transformers import SentenceTransformer
    out, cache = tmp_path / "output", tmp_path / "nl_cache"
    dc_input = write(tmp_path / "medium" / "sv_descriptions.csv",
                     "dcid,sentence\nCount_Person,Population;number of people\nCount_Farm,farms;how many farms\n")
    done = export_custom_dc(dc_run, out, cache_root=cache, dc_index=dc_input)
    emb_file, cat_file = out / "nl" / "embeddings" / "embeddings.csv", out / "nl" / "embeddings" / "custom_catalog.yaml"
    assert done["embeddings"] == emb_file and done["catalog"] == cat_file
    table = read_embeddings(emb_file)
    assert list(table.columns) == [*map(str, range(32)), "dcid", "sentence"]
    owner = {t for v in variables(HELDOUT_MIN).values()
             for t in [v["name"], v.get("description", ""), *v["searchDescriptions"]] if t}
    assert set(table["sentence"]) == owner              # every text of every variable, held-out ones too
    model_name = f"svtune-{dc_run.name}"
    assert done["model_at"] == cache / "goog-svtune-local-only" / model_name and (done["model_at"] / "modules.json").is_file()
    fresh = SentenceTransformer(str(done["model_at"]), device="cpu").encode(table["sentence"].tolist())
    assert np.abs(table[[str(i) for i in range(32)]].to_numpy() - fresh).max() < 1e-5
    doc = yaml.safe_load(cat_file.read_text())
    assert doc["indexes"]["user_all_minilm_mem"] == {
        "store_type": "MEMORY", "source_path": str(out / "nl"), "embeddings_path": str(emb_file),
        "healthcheck_query": "Life expectancy", "model": model_name}
    medium = out / "nl" / "embeddings" / "medium_ft" / "embeddings.csv"   # Data Commons' index, same model
    assert doc["version"] == "1" and doc["indexes"]["medium_ft"] == {
        "store_type": "MEMORY", "source_path": str(dc_input), "embeddings_path": str(medium),
        "model": model_name, "healthcheck_query": "Life expectancy"}
    dc_table = read_embeddings(medium)
    assert sorted(zip(dc_table["sentence"], dc_table["dcid"]))[:2] == [("Population", "Count_Person"),
                                                                        ("farms", "Count_Farm")]
    fresh = SentenceTransformer(str(done["model_at"]), device="cpu").encode(dc_table["sentence"].tolist())
    assert np.abs(dc_table[[str(i) for i in range(32)]].to_numpy() - fresh).max() < 1e-5
    assert isinstance(done["threshold"], float)   # calibrated on the run's held-out answers (export.calibrate_run)
    assert doc["models"] == {model_name: {"type": "LOCAL", "usage": "EMBEDDINGS", "score_threshold": done["threshold"],
                                          "gcs_folder": f"gs://goog-svtune-local-only/{model_name}"}}
    assert server_reads(cat_file) == ["user_all_minilm_mem", "medium_ft"]
    text = report(done)
    assert f"placed the model at {done['model_at']}" in text and text.splitlines()[-1].startswith("next: ")
    assert "both indexes, one model" in text and f"-v {cache}:/workspace/nl_cache" in text
    assert not [p for p in (out / "nl" / "embeddings").iterdir() if p.name.startswith(".")]   # no partial left


def test_export_again_keeps_the_old_files_as_previous_and_never_reuses_a_vector(dc_run, tmp_path):
    out, cache = tmp_path / "output", tmp_path / "nl_cache"
    emb_file = out / "nl" / "embeddings" / "embeddings.csv"
    owner = sorted({d for v in variables(HELDOUT_MIN).values() for d in v["searchDescriptions"]})
    stale = pd.DataFrame(np.full((len(owner), 32), 0.25), columns=[str(i) for i in range(32)])
    stale["dcid"], stale["sentence"] = "c/Old", owner
    emb_file.parent.mkdir(parents=True)
    stale.to_csv(emb_file, index=False)
    (emb_file.parent / "custom_catalog.yaml").write_text(yaml.safe_dump({
        "indexes": {"user_all_minilm_mem": {"store_type": "MEMORY", "source_path": "/data/nl",
                                            "embeddings_path": "/data/nl/embeddings/embeddings.csv",
                                            "model": "ft-final-v20230717230459-all-MiniLM-L6-v2"}},
        "models": {"ft-final-v20230717230459-all-MiniLM-L6-v2": {
            "type": "LOCAL", "usage": "EMBEDDINGS", "score_threshold": 0.5,
            "gcs_folder": "gs://datcom-nl-models/ft_final_v20230717230459.all-MiniLM-L6-v2"}}}))
    export_custom_dc(dc_run, out, cache_root=cache, owner_only=True)
    new = read_embeddings(emb_file)
    assert (new[[str(i) for i in range(32)]].to_numpy() != 0.25).all() and "c/Old" not in set(new["dcid"])
    assert read_embeddings(emb_file.with_name("embeddings.csv.previous"))["dcid"].eq("c/Old").all()
    doc = yaml.safe_load((emb_file.parent / "custom_catalog.yaml").read_text())
    index = doc["indexes"]["user_all_minilm_mem"]
    assert index["embeddings_path"] == "/data/nl/embeddings/embeddings.csv"   # the server's own view kept
    assert index["model"] == f"svtune-{dc_run.name}"
    assert doc["models"]["ft-final-v20230717230459-all-MiniLM-L6-v2"]["gcs_folder"].startswith("gs://datcom")
    assert (emb_file.parent / "custom_catalog.yaml.previous").is_file()
    export_custom_dc(dc_run, out, cache_root=cache, owner_only=True)       # a second time: one .previous each
    names = sorted(p.name for p in emb_file.parent.iterdir())
    assert names == ["custom_catalog.yaml", "custom_catalog.yaml.previous", "embeddings.csv", "embeddings.csv.previous"]


def test_sentences_of_the_output_folder_are_what_gets_indexed(dc_run, tmp_path):
    out = tmp_path / "output"
    write(out / "nl" / "sentences.csv", "dcid,sentence\nc/Var0,how many poverty;poor people\nc/Var1,income\n")
    export_custom_dc(dc_run, out, cache_root=tmp_path / "cache", owner_only=True)
    table = read_embeddings(out / "nl" / "embeddings" / "embeddings.csv")
    assert sorted(zip(table["sentence"], table["dcid"])) == [("how many poverty", "c/Var0"), ("income", "c/Var1"),
                                                             ("poor people", "c/Var0")]


def test_gcs_folder_publishes_the_model_there(dc_run, tmp_path, monkeypatch):
    import fsspec

    from svtune.ship import publish
    memory = fsspec.filesystem("memory")
    monkeypatch.setattr(publish, "filesystem", lambda uri: (memory, uri.removeprefix("gs://")))
    done = export_custom_dc(dc_run, tmp_path / "output", gcs_folder="gs://owner-bucket/models/tuned", owner_only=True)
    assert done["published"] and done["model_at"] == "gs://owner-bucket/models/tuned"
    assert memory.exists("owner-bucket/models/tuned/modules.json")
    assert memory.exists("owner-bucket/models/tuned/MANIFEST.json")
    assert not [p for p in memory.ls("owner-bucket/models", detail=False) if "partial" in p]
    doc = yaml.safe_load((tmp_path / "output" / "nl" / "embeddings" / "custom_catalog.yaml").read_text())
    assert next(iter(doc["models"].values()))["gcs_folder"] == "gs://owner-bucket/models/tuned"
    assert "published the model to gs://owner-bucket/models/tuned" in report(done)
    memory.rm("owner-bucket", recursive=True)


def test_refusals_write_nothing(dc_run, tmp_path):
    out = tmp_path / "output"
    with pytest.raises(ExportError, match="gs://bucket/path"):
        export_custom_dc(dc_run, out, gcs_folder="/local/folder", owner_only=True)
    (out / "nl" / "embeddings").mkdir(parents=True)
    (out / "nl" / "embeddings" / "custom_catalog.yaml").write_text("indexes: [unclosed\n")
    with pytest.raises(DataError, match=r"custom_catalog.yaml, line \d+: invalid YAML"):
        export_custom_dc(dc_run, out, cache_root=tmp_path / "cache", owner_only=True)
    assert sorted(p.name for p in (out / "nl" / "embeddings").iterdir()) == ["custom_catalog.yaml"]
    assert not (tmp_path / "cache").exists()
    with pytest.raises(ExportError, match="not complete|no config.json|not a run"):
        export_custom_dc(tmp_path / "no-run", out)
    import importlib.util
    if importlib.util.find_spec("gcsfs") is None:   # the upload fails: nothing replaced, no partial left
        (out / "nl" / "embeddings" / "custom_catalog.yaml").write_text("indexes: {}\n")
        with pytest.raises(ExportError, match="gcsfs"):
            export_custom_dc(dc_run, out, gcs_folder="gs://owner-bucket/tuned", owner_only=True)
        assert sorted(p.name for p in (out / "nl" / "embeddings").iterdir()) == ["custom_catalog.yaml"]
        assert (out / "nl" / "embeddings" / "custom_catalog.yaml").read_text() == "indexes: {}\n"


def test_cli_export_to_custom_dc(dc_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:   # the run names no Data Commons index: say how to give one
        cli.main(["export", str(dc_run), "--to-custom-dc", str(tmp_path / "output")])
    assert e.value.code == 2 and "--dc-index" in capsys.readouterr().err and not (tmp_path / "output").exists()
    cli.main(["export", str(dc_run), "--to-custom-dc", str(tmp_path / "output"), "--cache-root", str(tmp_path / "c"),
              "--owner-only"])
    printed = capsys.readouterr().out
    assert "embeddings.csv" in printed and "placed the model at" in printed and "\nnext: " in printed
    assert "the owner's index only" in printed
    for flag in ("--onnx", "--int8", "--overwrite"):   # never ignored in silence
        with pytest.raises(SystemExit) as e:
            cli.main(["export", str(dc_run), "--to-custom-dc", str(tmp_path / "output"), "--owner-only", flag])
        assert e.value.code == 2 and flag in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["export", str(dc_run), "--to", str(tmp_path / "b"), "--to-custom-dc", str(tmp_path / "o")])


@pytest.mark.slow
def test_a_run_on_a_custom_dc_is_evaluated_on_its_held_out_descriptions(tmp_path, tiny_model_dir, monkeypatch):
    from svtune import paths
    from svtune.eval.summary import summary
    from svtune.run import Run
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    folder = custom_dc(tmp_path, variables(HELDOUT_MIN + 4))
    run = Run.start(size="tiny", data_dir=str(folder), base_model=str(tiny_model_dir), max_steps=2, precision="fp32")
    final = run.run_all()
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["after"]["retrieval"]["queries"] == HELDOUT_MIN + 4
    assert metrics["after"]["heldout"] == label(HELDOUT_MIN + 4) and "mrr@10" in metrics["bootstrap"]
    held = {q for q, _ in run.catalog.heldout_queries}
    pairs = pd.read_csv(final / "pairs.csv", keep_default_na=False)
    assert not held & (set(pairs["sentence_1"]) | set(pairs["sentence_2"]))   # never trained on
    assert label(HELDOUT_MIN + 4) in summary(final) and label(HELDOUT_MIN + 4) in (final / "model" / "README.md").read_text()
