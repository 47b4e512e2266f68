"""The Data Commons bundle (ship/export.py) on the tiny model, and threshold calibration on hand-made numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from compat.check_catalog import server_reads
from helpers import CONFIG, TEXTS, finished_run
from svtune.eval import threshold
from svtune.ship import export as ex
from svtune.ship import onnx as onnx_copy
from svtune.ship.export import ExportError, export


@pytest.fixture
def run(tiny_run) -> Path:
    return tiny_run


def siblings(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []


def encode(path: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(path), device="cpu").encode(texts)


def test_bundle_layout_and_model_in_sentence_transformers_2_7_form(run, tmp_path):
    dest = export(run, tmp_path / "out" / "bundle")
    assert dest == tmp_path / "out" / "bundle" and siblings(dest) == ["bundle"]
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert {"model/modules.json", "model/model.safetensors", "model/sentence_bert_config.json",
            "model/1_Pooling/config.json", "model/3_Dense/config.json", "model/3_Dense/pytorch_model.bin",
            "embeddings.csv", "input/sentences.csv", "catalog.yaml", "custom_dc_env.yaml", "env.list",
            "calibration.json", "README.md"} <= files
    assert "model/3_Dense/model.safetensors" not in files and "model/README.md" not in files
    modules = json.loads((dest / "model" / "modules.json").read_text())
    assert [m["type"] for m in modules] == [f"sentence_transformers.models.{c}" for c in
                                            ("Transformer", "Pooling", "Normalize", "Dense", "Normalize")]
    assert json.loads((dest / "model" / "sentence_bert_config.json").read_text()) == {"max_seq_length": 32,
                                                                                      "do_lower_case": False}
    pooling = json.loads((dest / "model" / "1_Pooling" / "config.json").read_text())
    assert pooling == {"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
                       "pooling_mode_max_tokens": False, "pooling_mode_mean_tokens": True,
                       "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
                       "pooling_mode_lasttoken": False, "include_prompt": True}
    dense = json.loads((dest / "model" / "3_Dense" / "config.json").read_text())
    assert dense == {"in_features": 32, "out_features": 32, "bias": True,
                     "activation_function": "torch.nn.modules.linear.Identity"}
    import torch
    state = torch.load(dest / "model" / "3_Dense" / "pytorch_model.bin")
    assert sorted(state) == ["linear.bias", "linear.weight"] and torch.equal(state["linear.weight"], torch.eye(32))
    tokenizer = json.loads((dest / "model" / "tokenizer_config.json").read_text())
    assert not {"backend", "is_local", "local_files_only"} & set(tokenizer)
    assert np.abs(encode(dest / "model", TEXTS) - encode(run / "model", TEXTS)).max() < 1e-6


def test_catalog_yaml_env_lines_and_readme(run, tmp_path, tiny_data):
    dest = export(run, tmp_path / "bundle")
    cal = json.loads((dest / "calibration.json").read_text())
    catalog = yaml.safe_load((dest / "catalog.yaml").read_text())
    (index_name, index), = catalog["indexes"].items()
    (model_name, model), = catalog["models"].items()
    assert model_name == f"svtune-{run.name}" and index["model"] == model_name
    assert index["store_type"] == "MEMORY" and index["embeddings_path"] == str(dest / "embeddings.csv")
    assert index["source_path"] == str(dest / "input")
    assert model == {"type": "LOCAL", "usage": "EMBEDDINGS", "gcs_folder": f"gs://goog-svtune-local-only/{model_name}",
                     "score_threshold": cal["threshold"]}
    assert catalog["version"] == "1" and server_reads(dest / "catalog.yaml") == [index_name]   # as the server reads it
    assert cal["nonsense_searched"] == "the same index as the held-out queries"
    env = yaml.safe_load((dest / "custom_dc_env.yaml").read_text())
    assert env["default_indexes"][0] == index_name and index_name in env["enabled_indexes"]
    assert (dest / "env.list").read_text() == f"ADDITIONAL_CATALOG_PATH={dest / 'catalog.yaml'}\n"
    readme = (dest / "README.md").read_text()
    assert f"score_threshold: {cal['threshold']}" in readme
    assert f"/workspace/nl_cache/goog-svtune-local-only/{model_name}" in readme
    lost = cal["answers_at_or_below_nonsense"]   # the random tiny model scores nonsense as high as answers
    assert lost > 0 and f"{lost} of the {cal['in_top10']} right answers in the top 10 score no higher" in readme
    assert cal["nonsense_queries"] >= 23 and cal["heldout_queries"] == 3   # tiny_data's eval/queries.csv, searched
    assert cal["heldout_from"] == str(tiny_data / "eval" / "queries.csv")
    assert max(cal["nonsense_best"].values()) < cal["threshold"]


def test_without_eval_after_the_heldout_queries_are_evaluated_now(tmp_path, centred_model_dir, tiny_data):
    run = finished_run(tmp_path / "runs", centred_model_dir, tiny_data, evals=False)
    cal = json.loads((export(run, tmp_path / "out" / "bundle") / "calibration.json").read_text())
    assert cal["heldout_queries"] == 3 and cal["heldout_from"] == str(tiny_data / "eval" / "queries.csv")


def test_embeddings_csv_from_the_catalog_is_fresh_and_one_row_per_sentence(run, tmp_path, tiny_data):
    from svtune.data.catalog import load_catalog
    from svtune.data.formats import index_from_catalog
    dest = export(run, tmp_path / "bundle")
    table = pd.read_csv(dest / "embeddings.csv")
    assert list(table.columns) == [str(i) for i in range(32)] + ["dcid", "sentence"]
    rows = index_from_catalog(load_catalog(tiny_data, "tiny", warn=False))
    assert sorted(table["sentence"]) == sorted({s for s, _ in rows}) and table["sentence"].is_unique
    assert any(dcid.startswith("Median_Income") for dcid in table["dcid"])
    fresh = encode(run / "model", table["sentence"].tolist())   # the server's way: model.encode, no normalize
    assert np.abs(table[[str(i) for i in range(32)]].to_numpy() - fresh).max() < 1e-6
    sources = pd.read_csv(dest / "input" / "sentences.csv")
    assert list(sources.columns) == ["dcid", "sentence"] and len(sources) == len({d for _, d in rows})


def test_index_folder_joins_dcids_skips_underscore_files_and_strips(run, tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "a.csv").write_text("dcid,sentence\nCount_Person,people count; population ;;\n"
                                  "Count_Person_Female,women;population\n")
    (folder / "b.csv").write_text('dcid,sentence\nCount_Farm,"farms; population"\n')
    (folder / "_draft.csv").write_text("dcid,sentence\nIgnored_Dcid,never indexed\n")
    dest = export(run, tmp_path / "bundle", index=folder)
    table = pd.read_csv(dest / "embeddings.csv")
    assert dict(zip(table["sentence"], table["dcid"])) == {
        "farms": "Count_Farm", "people count": "Count_Person", "women": "Count_Person_Female",
        "population": "Count_Farm;Count_Person;Count_Person_Female"}
    assert not (dest / "input").exists()
    assert yaml.safe_load((dest / "catalog.yaml").read_text())["indexes"].popitem()[1]["source_path"] == str(folder)


@pytest.mark.parametrize("breakage", ["running", "failed", "no-metrics", "no-model", "failed-name"])
def test_incomplete_runs_are_refused_with_nothing_written(tmp_path, tiny_model_dir, tiny_data, breakage):
    params = dict(CONFIG["params"], data_dir=str(tiny_data))
    config = dict(CONFIG, params=params, status={"running": "running", "failed": "failed"}.get(breakage, "complete"))
    name = "20260101-x.failed" if breakage == "failed-name" else "r"
    run = finished_run(tmp_path / "runs", tiny_model_dir, tiny_data, config=config, name=name,
                   metrics=False if breakage == "no-metrics" else None)
    if breakage == "no-model":
        shutil.rmtree(run / "model")
    dest = tmp_path / "out" / "bundle"
    with pytest.raises(ExportError) as e:
        export(run, dest)
    assert isinstance(e.value, ValueError) and str(run) in str(e.value) and "\n" not in str(e.value)
    assert siblings(dest) == []


def test_existing_destination_needs_overwrite_and_old_vectors_are_never_reused(run, tmp_path):
    dest = tmp_path / "out" / "bundle"
    dest.mkdir(parents=True)
    stale = pd.DataFrame({**{str(i): [9.0] for i in range(32)}, "dcid": ["Count_Person_Female"],
                          "sentence": ["women"]})
    stale.to_csv(dest / "embeddings.csv", index=False)
    (dest / ex.BUNDLE_MARKER).write_text("{}\n")   # a bundle svtune wrote: --overwrite may replace it
    with pytest.raises(ExportError, match="already exists"):
        export(run, dest)
    assert pd.read_csv(dest / "embeddings.csv").equals(stale)
    export(run, dest, overwrite=True)
    women = pd.read_csv(dest / "embeddings.csv").set_index("sentence").loc["women", [str(i) for i in range(32)]]
    assert np.abs(women.to_numpy(float) - encode(run / "model", ["women"])[0]).max() < 1e-6
    assert siblings(dest) == ["bundle"]


def test_a_failure_midway_leaves_no_temporary_folder_and_the_old_bundle(run, tmp_path, monkeypatch):
    dest = tmp_path / "out" / "bundle"
    export(run, dest)
    before = (dest / "embeddings.csv").read_bytes()

    def broken(*a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(ex, "calibrate_run", broken)
    with pytest.raises(OSError, match="disk full"):
        export(run, dest, overwrite=True)
    assert siblings(dest) == ["bundle"] and (dest / "embeddings.csv").read_bytes() == before
    with pytest.raises(OSError, match="disk full"):
        export(run, tmp_path / "out" / "other")
    assert siblings(dest) == ["bundle"]


def test_bad_gcs_folder_and_cli_errors_are_one_line(run, tmp_path, capsys):
    with pytest.raises(ExportError, match="gs://bucket/path"):
        export(run, tmp_path / "out" / "b", gcs_folder="/local/folder")
    from svtune.cli import main
    (run / "metrics.json").unlink()
    with pytest.raises(SystemExit) as e:
        main(["export", str(run), "--to", str(tmp_path / "out" / "b")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "has no metrics.json" in err
    assert not (tmp_path / "out").exists()


def test_onnx_and_int8_copies_are_measured_and_kept_only_when_as_good(run, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr("svtune.ship.speed.synthetic_texts", lambda: TEXTS * 5)
    dest = export(run, tmp_path / "bundle", onnx=True, int8=True)
    speed = json.loads((dest / "speed.json").read_text())
    int8 = onnx_copy.int8_name().removesuffix(".onnx")
    assert set(speed) == {"fp32", "model", int8}
    for name in ("model", int8):
        s = speed[name]
        assert s["kept"] == (s["mrr_loss"] <= onnx_copy.MRR_LOSS_MAX) and s["decision"].startswith(("kept", "dropped"))
        assert (dest / "model" / "onnx" / f"{name}.onnx").is_file() == s["kept"]
        assert s["queries_per_s_one_at_a_time"] > 0 and s["catalog_texts"] == 20
    assert abs(speed["model"]["mrr_loss"]) < 1e-6   # fp32 ONNX answers as the torch model does


def test_onnx_keep_decision():
    assert onnx_copy._decide(0.005, True) == (True, "kept: MRR@10 loss +0.0050 <= 0.005")
    assert onnx_copy._decide(0.0051, True) == (False, "dropped: MRR@10 loss +0.0051 > 0.005")
    assert onnx_copy._decide(None, True)[0] is False and onnx_copy._decide(0.0, False)[0] is False


# --- threshold calibration on hand-made numbers ---------------------------------------------------------


def test_threshold_is_the_midpoint_above_the_highest_nonsense():
    expected = [0.9, 0.62, None, 0.45, 0.7]
    assert threshold.calibrate(expected, [0.3, 0.5, 0.41]) == pytest.approx(0.56)
    cal = threshold.calibration(expected, [0.3, 0.5, 0.41])
    assert cal["answered@10"] == {"default": pytest.approx(0.6), "calibrated": pytest.approx(0.6)}
    assert cal["nonsense_max"] == 0.5 and cal["answers_at_or_below_nonsense"] == 1 and cal["in_top10"] == 4
    # a nonsense query at 0.66 pushes the threshold up: 0.62 is lost, 0.7 is the lowest kept
    cal = threshold.calibration(expected, [0.3, 0.66])
    assert cal["threshold"] == pytest.approx(0.68)
    assert cal["answered@10"] == {"default": pytest.approx(0.6), "calibrated": pytest.approx(0.4)}
    assert cal["nonsense_above_default"] == 1


def test_threshold_edges():
    assert threshold.calibrate([0.3, None], [0.5]) == np.nextafter(0.5, 1)   # nothing above the nonsense
    assert threshold.calibrate([0.50002], [0.5]) == pytest.approx(0.50001)   # rounding would reach the nonsense
    assert threshold.calibrate([0.8], [0.2]) == 0.5
    with pytest.raises(ValueError):
        threshold.calibrate([0.8], [])
    assert threshold.answered([0.5, 0.49, None, 0.7], 0.5) == 0.5


def test_expected_scores_from_evaluation_details():
    details = [{"query": "a", "expected": ["x", "y"], "top": [["z", 0.9], ["y", 0.8], ["x", 0.7]]},
               {"query": "b", "expected": ["x"], "top": [["z", 0.9]]}]
    assert threshold.expected_scores(details) == [0.8, None]


def test_top1_scores_are_cosines_over_the_index():
    index = np.array([[2.0, 0.0], [0.0, 3.0]])
    queries = np.array([[1.0, 1.0], [-1.0, 0.0]])
    assert threshold.top1_scores(queries, index) == pytest.approx([np.sqrt(0.5), 0.0])


def test_nonsense_file_has_enough_distinct_queries(tmp_path):
    queries = threshold.read_nonsense()
    assert len(queries) >= 20 and "how do I bake sourdough" in queries
    some = tmp_path / "n.csv"
    some.write_text('query\n fine \n""\n\nfine\nagain\n')
    assert threshold.read_nonsense(some) == ["fine", "again"]


def test_publish_copies_a_whole_bundle(run, tmp_path):
    from svtune.ship.publish import publish
    bundle = export(run, tmp_path / "bundle")
    final = publish(bundle, (tmp_path / "published").as_uri())
    assert final.endswith("published")
    names = {p.relative_to(tmp_path / "published").as_posix() for p in (tmp_path / "published").rglob("*") if p.is_file()}
    assert {"catalog.yaml", "embeddings.csv", "model/modules.json", "README.md", "MANIFEST.json"} <= names
    assert (tmp_path / "published" / "embeddings.csv").read_bytes() == (bundle / "embeddings.csv").read_bytes()
