"""The text files of a Data Commons NL-server bundle: the catalog.yaml entries, a custom Data
Commons' env lines, and the bundle's README (how to install it, what the threshold means)."""

from __future__ import annotations

import re
from pathlib import Path

# Without --gcs-folder the model is served from the server's local cache path for gs://LOCAL_BUCKET/<model>.
# Google Cloud Storage refuses bucket names that begin with "goog", so nobody can own this one: a server that
# misses the cache folder fails to load the model instead of downloading a stranger's (serving.md).
LOCAL_BUCKET = "goog-svtune-local-only"
CACHE_ROOTS = ["/workspace/nl_cache", "/tmp"]   # where the server looks for gs://bucket/path first
CATALOG_VERSION = "1"   # the server's config reader stops with KeyError: 'version' without it


def names_for(run: Path) -> tuple[str, str]:
    """(model name, index name) for the server's catalog, from the run's folder name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", run.name).strip("-")
    return f"svtune-{slug}", re.sub(r"[^a-z0-9]+", "_", slug.lower()).strip("_") + "_ft_mem"


def catalog_entries(model_name: str, index_name: str, embeddings: Path, source: Path, gcs_folder: str,
                    threshold: float) -> dict:
    return {"version": CATALOG_VERSION, "indexes": {index_name: {"store_type": "MEMORY", "source_path": str(source),
                                     "embeddings_path": str(embeddings), "model": model_name,
                                     "healthcheck_query": "Life expectancy"}},
            "models": {model_name: {"type": "LOCAL", "usage": "EMBEDDINGS", "gcs_folder": gcs_folder,
                                    "score_threshold": threshold}}}


def readme_text(run: Path, dest: Path, model_name: str, index_name: str, gcs_folder: str, cal: dict,
                speed: dict | None) -> str:
    bucket_path = gcs_folder.removeprefix("gs://")
    pct = lambda v: f"{100 * v:.1f}%"
    lines = [f"# {model_name}: a Data Commons NL server bundle", "",
             f"Exported by svtune from run `{run.name}`. The model in `model/` loads with a plain "
             "`SentenceTransformer(\"model\")` under sentence-transformers 2.7.0 (the server's pin); "
             f"`embeddings.csv` holds every index sentence encoded by it (index `{index_name}`).", "",
             "## Its score threshold", "",
             f"`score_threshold: {cal['threshold']}` (catalog.yaml), not the stock 0.5: tuning changes the cosine "
             f"scale. Rule: {cal['rule']}. Answered@10 on {cal['heldout_queries']} held-out queries (right answer "
             f"in the top 10 and scoring at least the threshold): {pct(cal['answered@10']['default'])} at 0.5, "
             f"{pct(cal['answered@10']['calibrated'])} at {cal['threshold']}; the highest of "
             f"{cal['nonsense_queries']} nonsense queries scores {cal['nonsense_max']:.4f}. Details: calibration.json.",
             *([f"\n**{cal['answers_at_or_below_nonsense']} of the {cal['in_top10']} right answers in the top 10 score "
                "no higher than a nonsense query** and get no answer at this threshold: check the run's health "
                "before serving it."] if cal["answers_at_or_below_nonsense"] else []),
             "", "## Install it", "",
             f"1. The model: the server reads `gcs_folder: {gcs_folder}`. Place it at the server's cache path, "
             "which it uses first (a bucket beginning with `goog` cannot exist, so without that folder the server "
             "stops instead of downloading anything), or export with `--gcs-folder gs://YOUR_BUCKET/PATH` and copy "
             "`model/` there (publicly readable): "
             f"`cp -r model {CACHE_ROOTS[0]}/{bucket_path}` in its Docker image (`{CACHE_ROOTS[1]}/{bucket_path}` "
             "elsewhere). To use your own bucket, export again with `--gcs-folder gs://BUCKET/PATH`.",
             f"2. The index: `catalog.yaml` names `{dest / 'embeddings.csv'}`; if you move the bundle, edit "
             "`embeddings_path` (a `gs://` path works too).",
             "3. A custom Data Commons: set the environment variable in `env.list` "
             f"(`ADDITIONAL_CATALOG_PATH={dest / 'catalog.yaml'}`) and put the `default_indexes` / "
             "`enabled_indexes` lines of `custom_dc_env.yaml` into the server's env file "
             "(nl_server/custom_dc_env.yaml). The full Data Commons: merge catalog.yaml's entries into "
             "deploy/helm_charts/dc_website/nl/catalog.yaml.",
             "4. Never update an older embeddings.csv with this model: the server's build reuses vectors by "
             "sentence text, so a new model needs this fresh file.", ""]
    if speed:
        lines += ["## ONNX copies (model/onnx/)", "",
                  "Data Commons' NL server (sentence-transformers 2.7.0) cannot load them: it has no ONNX backend. "
                  "They are for a sentence-transformers 5+ service with `backend=\"onnx\"`; the server uses `model/`.",
                  "",
                  "| backend | queries/s one at a time | queries/s batched | catalog encode s | MRR@10 | decision |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, s in speed.items():
            mrr = f"{s['mrr@10']:.4f}" if "mrr@10" in s else "-"
            lines.append(f"| {name} | {s['queries_per_s_one_at_a_time']:.1f} | {s['queries_per_s_batched']:.1f} | "
                         f"{s['catalog_encode_s']:.1f} | {mrr} | {s.get('decision', 'reference')} |")
        lines.append("")
    return "\n".join(lines)


# --- the bundle ----------------------------------------------------------------------------------------------


