"""svtune's command line: execute notebooks/train.ipynb with papermill into a new run folder.

    python -m svtune --size small                          # what `make train` runs
    python -m svtune -p data_dir ../shared/datacommons -p recipe seed
    python -m svtune -o center 0.3 -o mnrl_scale 30        # change knobs of the recipe
    python -m svtune --recipes                             # every recipe, its knobs and values
    torchrun --nproc_per_node 2 -m svtune --size small     # several processes (distributed.py)

Parameters, data and base model are all checked before the notebook starts: a problem is one
line naming file, line and column, exit status 2, and nothing is written. The run is built in
outputs/runs/.incomplete-<name>/ and renamed to <name>/ when complete; a run that fails or is
interrupted becomes <name>.failed/ with the reason in its config.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from svtune import paths
from svtune.data.csvio import DataError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m svtune", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Parameters: " + ", ".join(_params()))
    ap.add_argument("--size", help="tiny (smoke test) | small | medium (default small)")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a run parameter, as with papermill")
    ap.add_argument("-o", "--override", nargs=2, action="append", default=[], metavar=("KNOB", "VALUE"),
                    help="a knob of the recipe (see --recipes)")
    ap.add_argument("--recipes", action="store_true", help="list the recipes and their knobs, then exit")
    ap.add_argument("--notebook", default=str(paths.NOTEBOOKS_DIR / "train.ipynb"))
    return ap


def _params() -> list[str]:
    from svtune.run.config import PARAMETERS
    return PARAMETERS


def fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def parse_params(args) -> dict:
    from svtune.run.config import parse_value
    params = {k: parse_value(v) for k, v in args.param}
    if args.size:
        params["size"] = args.size
    params.setdefault("size", "small")
    if args.override:
        base = params.get("overrides") or {}
        if isinstance(base, str):
            from svtune.run.config import _overrides
            base = _overrides(base)
        params["overrides"] = {**base, **{k: parse_value(v) for k, v in args.override}}
    return params


def main(argv: list[str] | None = None) -> str | None:
    args = _parser().parse_args(argv)
    if args.recipes:
        from svtune.train.recipes import RECIPES, describe
        print("\n\n".join(describe(r) for r in RECIPES.values()))
        return None
    from svtune.train import distributed
    if not distributed.is_main():   # torchrun rank 1..N-1: train shards of rank 0's run (distributed.py)
        from svtune.run.run import Run
        Run.worker()
        return None
    from svtune.run.run import check_inputs
    try:
        params = parse_params(args)
        cfg = check_inputs(params)   # parameters, data, base model, disk: before anything is written
    except DataError as e:
        fail(str(e))
    return execute(args.notebook, params, cfg)


class ForwardInterrupt:
    """The notebook's kernel runs in its own session, so a terminal's Ctrl-C reaches only this
    process. Pass the first one on to the run (which stops after the current step with a
    checkpoint); a second one stops here at once."""

    def __init__(self, work):
        self.work, self.sent = work, False

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self)
        return self

    def __call__(self, signum, frame):
        pid = None
        try:
            pid = json.loads((self.work / "config.json").read_text()).get("pid")
        except (OSError, ValueError):
            pass
        if self.sent or not pid:
            raise KeyboardInterrupt
        self.sent = True
        print("\ninterrupt: asking the run to stop with a checkpoint (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)
        os.kill(pid, signal.SIGINT)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


def execute(notebook: str, params: dict, cfg) -> str:
    """Run the notebook into a new run folder (or the one being resumed); a failure leaves
    `<name>.failed` with the reason."""
    import papermill as pm

    from svtune.run.run import create_run_dir, final_dir, mark_failed, reopen
    if cfg.resume:
        work = reopen(paths.resolve(cfg.resume))
        params = {**params, "resume": str(work)}
    else:
        work = create_run_dir(cfg.size, cfg.base_model)
    executed = work.parent / f"{work.name}.ipynb"   # beside the folder: the folder is renamed when complete
    print(f"running {notebook} -> {final_dir(work)}", flush=True)
    reason = None
    try:
        with ForwardInterrupt(work):
            pm.execute_notebook(notebook, str(executed), parameters={**params, "run_dir": str(work)},
                                cwd=str(paths.REPO_ROOT), progress_bar=False,
                                stdout_file=sys.stdout, stderr_file=sys.stderr)
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
    except pm.PapermillExecutionError as e:
        reason = e.evalue if e.ename == "DataError" else f"{e.ename}: {e.evalue}"
        if e.ename == "KeyboardInterrupt":
            reason = "interrupted (Ctrl-C)"
    final = final_dir(work)
    folder = final if final.is_dir() and not work.exists() else work
    if reason is None and folder == final:
        if executed.exists():
            os.replace(executed, final / "train.ipynb")
        print(f"run complete: {final}", flush=True)
        return str(final)
    reason = reason or "the notebook ended before the run finished"
    failed = mark_failed(folder, reason) if folder.exists() else folder
    if executed.exists():
        os.replace(executed, (failed if failed.exists() else work.parent) / "train.ipynb")
    print(f"error: {reason}", file=sys.stderr)
    print(f"the run folder is kept as {failed} (config.json has the reason; executed notebook inside); "
          f"resume it with: python -m svtune -p resume {failed}; remove failed runs with: make clean-runs",
          file=sys.stderr)
    raise SystemExit(130 if reason.startswith("interrupted") else 1)


if __name__ == "__main__":
    main()
