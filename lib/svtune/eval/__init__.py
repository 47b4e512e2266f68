"""Stage 4, evaluation: held-out queries, pairs and topics before and after, metrics and the paired
bootstrap, the health check, rank-diff reports, plots and the playground. Never imports `train`'s fit."""
