"""`python -m svtune.bench ...` is `svtune bench ...`."""

import sys

from svtune.cli import main

main(["bench", *sys.argv[1:]])
