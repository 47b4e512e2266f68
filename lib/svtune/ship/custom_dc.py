"""Write a run back where a custom Data Commons' NL server looks: its output folder's nl/embeddings/.

    svtune export RUN --to-custom-dc OUTPUT_FOLDER [--gcs-folder gs://bucket/path] [--cache-root DIR]
    export_custom_dc(run, output_folder, gcs_folder=None, cache_root=None)   # the same; returns what it did

Writes what the custom DC importer (datacommonsorg/import simple/stats/nl.py) writes there:
  nl/embeddings/embeddings.csv       the owner's sentences (the folder's nl/sentences.csv, else the run's
                                     custom DC by the importer's rule: searchDescriptions, else the name,
                                     held-out ones included), encoded fresh by the tuned model as the
                                     server encodes (the model converted for sentence-transformers 2.7.0)
  nl/embeddings/custom_catalog.yaml  the importer's index (user_all_minilm_mem: the custom DC env's default,
                                     its keys kept from an existing file) and a models entry with the
                                     importer's keys, for the tuned model: its gcs_folder and its
                                     calibrated score_threshold
The model: with --gcs-folder it is published there (svtune publish's upload, every file read back and
checked); else it is placed at the server's local cache path for gs://svtune-models/<model>
(<cache root>/svtune-models/<model>; the root is /workspace/nl_cache where that exists, as in the server's
image, else /tmp), which the server reads before any bucket. Each file is written beside its final name and
renamed into place; the one it replaces is kept as <name>.previous. No vector is taken from an older file.
The model keeps the run's own name, not the importer's 2023 model name: the server's catalog merges
models by name, and that name also serves Data Commons' medium_ft index, which must keep its own model.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import yaml

from svtune import paths
from svtune.data.csvio import DataError, read_text
from svtune.ship.convert import ExportError, _log, check_same, convert_model
from svtune.ship.export import calibrate_run, index_rows, run_data, server_table, write_embeddings
from svtune.ship.publish import PublishError, check_run
from svtune.ship.server_files import CACHE_ROOTS, DEFAULT_BUCKET, names_for

EMBEDDINGS = Path("nl") / "embeddings"
INDEX = "user_all_minilm_mem"    # the importer's index, a default index of custom_dc_env.yaml
GCS = re.compile(r"gs://[^/]+/.+")


def owner_rows(config: dict, out: Path) -> tuple[list[tuple[str, str]], str]:
    """(sentence, dcid) rows of the owner's sentences, and where they come from."""
    from svtune.data.catalog import load_catalog
    from svtune.data.custom_dc import SENTENCES, custom_dc_kind
    from svtune.data.formats import read_index
    if (out / SENTENCES).exists():
        return read_index(out / SENTENCES)[0], str(out / SENTENCES)
    data_dir, size = run_data(config)
    if not custom_dc_kind(data_dir):
        return index_rows(config), f"the run's catalog {data_dir}"
    catalog = load_catalog(data_dir, size, warn=False, heldout_seed=None)   # every sentence is served
    rows = [(s, sv.dcid) for sv in catalog.statvars.values() if not sv.topic
            for s in (sv.curated_alternatives or [sv.name])]
    return rows, f"{data_dir} (searchDescriptions, else the name, as the importer writes sentences.csv)"


def catalog_doc(old: Path, model_name: str, embeddings: Path, source: Path, gcs_folder: str,
                threshold: float) -> dict:
    """custom_catalog.yaml: an existing file's entries kept, its index pointed at the tuned model."""
    doc = {}
    if old.is_file():
        try:
            doc = yaml.safe_load(read_text(old)) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise DataError(f"invalid YAML ({getattr(e, 'problem', e)})", old,
                            mark.line + 1 if mark else None) from None
        if not isinstance(doc, dict):
            raise DataError("expected a mapping with indexes: and models:", old, 1)
    indexes, models = dict(doc.get("indexes") or {}), dict(doc.get("models") or {})
    name = next(iter(indexes)) if len(indexes) == 1 else INDEX
    entry = {"store_type": "MEMORY", "source_path": str(source), "embeddings_path": str(embeddings),
             "healthcheck_query": "Life expectancy", **(indexes.get(name) or {})}
    indexes[name] = {**entry, "model": model_name}
    models[model_name] = {"type": "LOCAL", "usage": "EMBEDDINGS", "gcs_folder": gcs_folder,
                          "score_threshold": float(threshold)}
    return {**doc, "indexes": indexes, "models": models}


def cache_path(gcs_folder: str, cache_root: Path | str | None = None) -> Path:
    """Where the server looks on local disk for `gcs_folder` before downloading it."""
    root = paths.resolve(cache_root) if cache_root else Path(next((r for r in CACHE_ROOTS if Path(r).is_dir()),
                                                                   CACHE_ROOTS[-1]))
    return root / gcs_folder.removeprefix("gs://")


def publish_model(model_dir: Path, gcs_folder: str) -> None:
    """The model folder's files at `gcs_folder` itself (where the server loads it), with svtune publish's
    upload: to a partial name, read back and checked, then moved into place."""
    from svtune.ship import publish as pub
    try:
        fs, dest = pub.filesystem(gcs_folder)
    except PublishError as e:   # gcsfs not installed: one line, exit 2, nothing replaced
        raise ExportError(str(e)) from None
    pub.put_folder(fs, dest.rstrip("/"), model_dir, pub.bundle_files(model_dir), overwrite=True)


def replace_keeping(new: Path, final: Path) -> None:
    """`new` takes the name `final`; what was there is kept as `<final>.previous` (an older one removed)."""
    previous = final.with_name(final.name + ".previous")
    if final.exists():
        if previous.is_dir() and not previous.is_symlink():
            shutil.rmtree(previous)
        elif previous.exists() or previous.is_symlink():
            previous.unlink()
        if final.is_dir():
            os.replace(final, previous)
        else:
            shutil.copy2(final, previous)   # the old file stays under its name until the new one replaces it
    os.replace(new, final)


def _check(run: Path, out: Path, gcs_folder: str | None) -> dict:
    try:
        config = check_run(run)
    except PublishError as e:
        raise ExportError(str(e)) from None
    if gcs_folder is not None and not GCS.fullmatch(gcs_folder):
        raise ExportError(f"gcs_folder must be gs://bucket/path (the server refuses anything else), not {gcs_folder!r}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, expected the custom Data Commons output folder")
    return config


def export_custom_dc(run_dir: Path | str, output_folder: Path | str, gcs_folder: str | None = None,
                     cache_root: Path | str | None = None) -> dict:
    """Write the tuned model's index into a custom DC's output folder (module docstring); returns
    {embeddings, catalog, model_at, gcs_folder, threshold, sentences, published, next}."""
    run, out = Path(run_dir), paths.resolve(output_folder)
    config = _check(run, out, gcs_folder)
    rows, source = owner_rows(config, out)
    sentences, dcids = server_table(rows)
    if not sentences:
        raise ExportError(f"no sentences to index in {source}")
    target = out / EMBEDDINGS
    model_name, _ = names_for(run)
    gcs = gcs_folder or f"gs://{DEFAULT_BUCKET}/{model_name}"
    old_yaml = target / "custom_catalog.yaml"
    catalog_doc(old_yaml, model_name, target / "embeddings.csv", out / "nl", gcs, 0.5)   # a bad file: refused now
    target.mkdir(parents=True, exist_ok=True)
    work = target / f".svtune-partial-{secrets.token_hex(4)}"
    work.mkdir()
    try:
        _log(f"converting {run / 'model'} for sentence-transformers 2.7.0")
        model = convert_model(run / "model", work / "model")
        check_same(model, work / "model", sentences[:64])
        _log(f"encoding {len(sentences):,} distinct sentences from {source}")
        emb = model.encode(sentences, show_progress_bar=len(sentences) > 2000)   # as the server: raw
        write_embeddings(work / "embeddings.csv", emb, sentences, dcids)
        cal = calibrate_run(run, config, model, emb)
        doc = catalog_doc(old_yaml, model_name, target / "embeddings.csv", out / "nl", gcs, cal["threshold"])
        (work / "custom_catalog.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        if gcs_folder:
            _log(f"publishing the model to {gcs_folder}")
            publish_model(work / "model", gcs_folder)
            model_at = gcs_folder
        else:
            model_at = cache_path(gcs, cache_root)
            model_at.parent.mkdir(parents=True, exist_ok=True)
            replace_keeping(work / "model", model_at)
        for name in ("embeddings.csv", "custom_catalog.yaml"):
            replace_keeping(work / name, target / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    done = {"embeddings": target / "embeddings.csv", "catalog": target / "custom_catalog.yaml",
            "model_at": model_at, "gcs_folder": gcs, "threshold": cal["threshold"], "sentences": len(sentences),
            "published": bool(gcs_folder)}
    done["next"] = next_line(done)
    return done


def next_line(done: dict) -> str:
    """The one command the owner runs next: the NL server reloads its catalog when it restarts."""
    where = ("" if done["published"] else
             f" (if it runs in Docker, it must see {done['model_at']} as "
             f"{CACHE_ROOTS[0]}/{done['gcs_folder'].removeprefix('gs://')}: mount the cache root there)")
    return (f"docker restart <your Data Commons services container>   # its NL server loads {done['catalog']} "
            f"through ADDITIONAL_CATALOG_PATH{where}")


def report(done: dict) -> str:
    """What was done, in a few lines, ending with the one next command."""
    how = (f"published the model to {done['gcs_folder']}" if done["published"] else
           f"placed the model at {done['model_at']}, the server's local cache path for {done['gcs_folder']}")
    return "\n".join([f"wrote {done['embeddings']} ({done['sentences']:,} sentences, encoded fresh by the tuned model)",
                      f"wrote {done['catalog']} (score_threshold {done['threshold']}); old files kept as *.previous",
                      how, "Re-run this export after every import: the importer rewrites nl/embeddings with "
                      "its own model.", f"next: {done['next']}"])
