"""Stage 6, a run: the `Run` façade the train notebook calls (run.py), its folder's life (folder.py), its
provenance, the pre-flight checks, the launcher that `svtune train` calls (launch.py), the tuned-teacher
cache and the background retrain. The command line itself is svtune/cli.py; reading a finished run is
svtune/runs.py."""

from svtune.run.run import Run

__all__ = ["Run"]
