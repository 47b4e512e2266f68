"""What a model costs to serve in the Data Commons NL server's own stack, per query and per 10k sentences.

    build/compat-venv/bin/python tests/compat/serving_cost.py --index INDEX.csv --queries QUERIES MODEL [MODEL ...]

Run with the compat venv's python (scripts/compat.sh: sentence-transformers 2.7.0, torch on this CPU),
never svtune's: this imports nothing from svtune, so the figures are the server's. Each MODEL is a model
folder that loads with a plain SentenceTransformer(path), as an `svtune export --to` bundle's model/ does.

For each model, as the server uses it (model.encode, default batch size, no normalisation):
  * ms per query: the queries encoded one call each, as one request each (median and 90th percentile,
    after WARMUP calls that are not counted);
  * index build: the first --sentences texts of INDEX (dcid,sentence CSV, `;`-separated texts, as
    Data Commons' input files are) encoded in one call, as its embeddings build does: sentences/s
    and seconds per 10k sentences.
QUERIES is a text file of queries, one a line, lines starting with # skipped (Data Commons'
queries/queryset_vars.csv is one). The torch thread count is printed: it is the machine's.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time

import torch
from sentence_transformers import SentenceTransformer, __version__

WARMUP = 5


def read_sentences(path: str, limit: int) -> list[str]:
    """The distinct texts of a dcid,sentence CSV, in file order, at most `limit`."""
    out: dict[str, None] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for text in row["sentence"].split(";"):
                if text.strip():
                    out.setdefault(text.strip(), None)
    return list(out)[:limit]


def read_queries(path: str, limit: int) -> list[str]:
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [q for q in lines if q and not q.startswith("#")][:limit]


def cost(model_dir: str, queries: list[str], sentences: list[str]) -> dict:
    model = SentenceTransformer(model_dir, device="cpu")
    for q in queries[:WARMUP]:
        model.encode([q])
    took = []
    for q in queries[WARMUP:]:
        start = time.perf_counter()
        model.encode([q])
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    start = time.perf_counter()
    model.encode(sentences)
    seconds = time.perf_counter() - start
    return {"model": model_dir, "dimension": model.get_sentence_embedding_dimension(),
            "ms_per_query_median": round(statistics.median(took), 2),
            "ms_per_query_p90": round(took[int(0.9 * (len(took) - 1))], 2), "queries": len(took),
            "sentences": len(sentences), "sentences_per_s": round(len(sentences) / seconds, 1),
            "seconds_per_10k_sentences": round(seconds * 10_000 / len(sentences), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--index", required=True, help="dcid,sentence CSV whose texts are encoded as an index build")
    ap.add_argument("--queries", required=True, help="queries, one a line")
    ap.add_argument("--sentences", type=int, default=10_000)
    ap.add_argument("--n-queries", type=int, default=105, help="queries timed one by one, warm-up included")
    ap.add_argument("--out", help="also write the rows as JSON here")
    args = ap.parse_args()
    sentences = read_sentences(args.index, args.sentences)
    queries = read_queries(args.queries, args.n_queries)
    assert len(queries) > WARMUP, f"{args.queries}: {len(queries)} queries, need more than {WARMUP}"
    print(f"sentence-transformers {__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{len(queries) - WARMUP} queries one at a time, {len(sentences)} index sentences", flush=True)
    rows = []
    for model_dir in args.models:
        rows.append(cost(model_dir, queries, sentences))
        r = rows[-1]
        print(f"{r['model']}: {r['ms_per_query_median']} ms/query (p90 {r['ms_per_query_p90']}), "
              f"{r['sentences_per_s']} sentences/s, {r['seconds_per_10k_sentences']} s per 10k sentences",
              flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
