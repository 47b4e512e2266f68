"""Stage 7, benchmarks: training speed against the machine's limit, quality and time-to-quality
(`--full`), large synthetic catalogs (`--scale`), and the paired comparison of two runs."""
