"""Stage 7, benchmarks: training speed against the machine's limit, quality and time-to-quality
(`--full`), large synthetic catalogs (`--scale`), and the paired comparison of two runs."""

from svtune.bench.compare import compare, compare_latest
from svtune.bench.results import all_full_rows, latest, run_bench

__all__ = ["all_full_rows", "compare", "compare_latest", "latest", "run_bench"]
