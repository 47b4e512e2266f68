"""`python -m svtune ...` is the `svtune` command (svtune/cli.py)."""

from svtune.cli import main

main()
