"""`python -m svtune ...` is the `svtune` command (svtune/run/cli.py)."""

from svtune.run.cli import main

main()
