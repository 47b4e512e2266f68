"""Execute notebooks/train.ipynb with papermill into a fresh run folder (what `make train` does).

    python -m svtune.run --size small [-p epochs 1] [-p data_dir ../shared/datacommons]

The folder is built as outputs/runs/.incomplete-<name>/ and renamed to
outputs/runs/<YYYYmmdd-HHMMSS>-<size>-<base>/ only after the executed notebook
is saved into it, so a failed or interrupted run never looks complete.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time

from . import paths
from .config import DEFAULT_BASE_MODEL, make_config, model_slug
from .csvio import DataError


def _literal(text: str):
    """papermill-style -p values: numbers, None, True/False as Python literals, else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m svtune.run", description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small", help="tiny | small | medium")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="any notebook parameter, as with papermill")
    ap.add_argument("--notebook", default=str(paths.NOTEBOOKS_DIR / "train.ipynb"))
    args = ap.parse_args(argv)
    params = {"size": args.size, **{k: _literal(v) for k, v in args.param}}
    try:
        make_config(**{k: v for k, v in params.items() if k != "run_dir"})  # fail before papermill starts
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)
    import papermill as pm
    name = (f"{time.strftime('%Y%m%d-%H%M%S')}-{params['size']}-"
            f"{model_slug(str(params.get('base_model', DEFAULT_BASE_MODEL)))}")
    final = paths.RUNS_DIR / name
    work = paths.RUNS_DIR / (paths.INCOMPLETE_PREFIX + name)
    work.mkdir(parents=True)
    params["run_dir"] = str(work)
    print(f"running {args.notebook} into {work}")
    pm.execute_notebook(args.notebook, str(work / "train.ipynb"), parameters=params,
                        cwd=str(paths.REPO_ROOT), progress_bar=True, log_output=True)
    os.replace(work, final)
    print(f"run complete: {final}")
    return str(final)


if __name__ == "__main__":
    main()
