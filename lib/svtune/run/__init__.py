"""Stage 6, a run: the `Run` façade the train notebook calls, its folder, its provenance, the
pre-flight checks and the `svtune` command line."""

from svtune.run.run import Run

__all__ = ["Run"]
