"""Check your own custom Data Commons export under the Data Commons NL server's own libraries.

usage: make check-custom-dc RUN=outputs/runs/<run> OUT=<output folder> [CACHE=<cache root>]
   or: .venv/bin/python scripts/check_custom_dc.py RUN OUTPUT_FOLDER [CACHE_ROOT]

OUTPUT_FOLDER is what `svtune export RUN --to-custom-dc OUTPUT_FOLDER` wrote; CACHE_ROOT is the export's
--cache-root (left out: where the export puts the model without one, /workspace/nl_cache where that
exists, else outputs/nl_cache). svtune
writes what it expects (the run model's embeddings of six held-out descriptions and its top result for
three of them over the exported sentences), then tests/compat/check_bundle.py loads the export in
build/compat-venv (`bash scripts/compat.sh`; `make check-custom-dc` builds it), where svtune is not
installed, and compares. Exit 0 when it passes ("bundle OK"), 1 when it fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from compat.reference import COMPAT_PYTHON, check_bundle, custom_dc_reference  # noqa: E402
from svtune.ship.custom_dc import cache_root_for  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    usage = __doc__.split("\n\n")[1].removeprefix("usage: ")
    parser = argparse.ArgumentParser(prog="scripts/check_custom_dc.py", usage=usage,
                                     description="Check a --to-custom-dc export under the NL server's libraries.")
    parser.add_argument("run", type=Path, help="the run folder that was exported")
    parser.add_argument("out", type=Path, help="the folder `svtune export RUN --to-custom-dc` wrote")
    parser.add_argument("cache_root", nargs="?", type=Path, help="the export's --cache-root, if it had one")
    args = parser.parse_args(argv)
    run, out = args.run.resolve(), args.out.resolve()
    for what, path in (("run", run / "config.json"), ("output folder", out / "nl" / "embeddings")):
        if not path.exists():
            parser.error(f"{path} not found: not a {what} (see the usage above)")
    if not COMPAT_PYTHON.is_file():
        parser.error(f"no compat venv at {COMPAT_PYTHON}: build it with `bash scripts/compat.sh`")
    with tempfile.TemporaryDirectory(prefix="svtune-check-custom-dc-") as tmp:
        work = Path(tmp)
        try:
            custom_dc_reference(run, out, work / "reference")
        except AssertionError as e:
            print(f"check-custom-dc: {e}", file=sys.stderr)
            return 1
        cache_root = args.cache_root.resolve() if args.cache_root else cache_root_for(None)
        done = check_bundle(out, work / "reference", work, str(cache_root))
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    return 0 if done.returncode == 0 and "bundle OK" in done.stdout else 1


if __name__ == "__main__":
    sys.exit(main())
