"""Scale: mining and evaluation of synthetic catalogs (10k-100k StatVars), stage by stage, each size
in its own process: wall seconds, peak RSS, encoding against the forward limit.
`svtune bench --scale 10000,30000,100000`."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from svtune import paths
from svtune.bench.save import save
from svtune.bench.speed import machine
from svtune.data import synthetic
from svtune.data.catalog import load_catalog
from svtune.data.formats import index_from_catalog, names_from_catalog, read_pairs, read_queries
from svtune.data.mining import mine_pairs
from svtune.model.load import load_model, token_counter
from svtune.run.provenance import PeakRSS
from svtune.train.negatives import hard_negatives
from svtune.train.recipes import positives


def scale_one(n: int, folder: Path) -> dict:
    """Mining and evaluation (no training) of a synthetic catalog of `n` StatVars with topics,
    stage by stage: wall seconds and peak RSS, and encoding throughput against the forward limit."""
    import tempfile

    from svtune.eval.evaluate import Index, evaluate_model
    from svtune.eval.report import rank_diff
    paths.CACHE_DIR = Path(tempfile.mkdtemp(prefix="svtune-scale-cache-"))   # encoding is measured cold
    stages, out = {}, {"statvars": n}

    @contextlib.contextmanager
    def stage(name):
        start = time.perf_counter()
        with PeakRSS() as mem:
            yield
        stages[name] = {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": mem.mb}
        print(f"  {n:,} StatVars, {name}: {stages[name]['seconds']} s, peak RSS {mem.mb:,.0f} MB", flush=True)

    with stage("write synthetic catalog"):
        synthetic.write_catalog(folder, n)
    with stage("load catalog"):
        catalog = load_catalog(folder, "small", warn=False)
    with stage("mine pairs"):
        pairs, _ = mine_pairs(catalog)
    model = load_model("all-MiniLM-L6-v2")
    rows = index_from_catalog(catalog)
    queries = (read_queries(paths.DATA_DIR / "eval" / "queries.csv")
               + read_queries(paths.DATA_DIR / "eval" / "topic_queries.csv"))[:400]
    with stage("encode catalog"):
        index = Index(model, rows)
    with stage(f"search {len(queries)} queries"):
        index.search([q for q, _ in queries])
    with stage("evaluate (catalog cached)"):
        evaluate_model(model, rows, queries, read_pairs(paths.DATA_DIR / "eval" / "pairs.csv"))
    with stage("hard negatives (k=1)"):
        hard_negatives(pairs[positives(pairs)], pairs, model, k=1)
    with stage("rank-diff report"):
        rank_diff(model, model, rows, [q for q, _ in queries], names_from_catalog(catalog),
                  folder / "rank_diff.html", expected=[e for _, e in queries])
    hw = machine()
    sample = index.sentences[::max(1, len(index.sentences) // 5000)]
    tokens = sum(token_counter(model.tokenizer, model.max_seq_length)(sample)) / len(sample)
    rate = len(index.sentences) / stages["encode catalog"]["seconds"]
    limit = hw["fp32_gflops"] * 1e9 / (hw["forward_flops_per_token"] * tokens)
    out.update({"topics": catalog.num_topics, "index_sentences": len(index.sentences), "pairs": len(pairs),
                "encode_sentences_per_second": round(rate, 1), "tokens_per_sentence": round(tokens, 1),
                "encode_share_of_forward_limit": round(rate / limit, 3), "machine": hw["name"], "stages": stages})
    return out


def scale(sizes: list[int], out: str | Path | None = None) -> dict:
    """scale_one per size, each in a fresh process so its peak memory is its own."""
    import subprocess
    import sys
    import tempfile
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"svtune-synth-{n}-") as folder:
            res = subprocess.run([sys.executable, "-m", "svtune", "bench", "--scale-one", str(n), folder],
                                 capture_output=True, text=True)
            print(res.stdout, end="", flush=True)
            if res.returncode:
                raise SystemExit(f"scale {n} failed: {res.stderr[-2000:]}")
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    names = list(rows[0]["stages"])
    print("\n" + "stage".ljust(28) + "".join(f"  {r['statvars']:>9,} StatVars" for r in rows))
    for name in names:
        print(name.ljust(28) + "".join(f"  {r['stages'][name]['seconds']:>8.1f} s "
                                       f"{r['stages'][name]['peak_rss_mb'] / 1024:>4.1f} GB"
                             for r in rows))
    for r in rows:
        print(f"{r['statvars']:,}: {r['index_sentences']:,} index sentences, {r['pairs']:,} pairs; encoding "
              f"{r['encode_sentences_per_second']:,.0f} sentences/s = {r['encode_share_of_forward_limit']:.0%} of "
              f"the fp32 forward limit ({r['machine']})")
    result = {"mode": "scale", "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    save(result, "scale", out)
    return result
