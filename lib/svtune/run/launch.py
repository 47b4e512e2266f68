"""`svtune train` (= `python -m svtune`, `make train`): check everything, then execute
notebooks/train.ipynb with papermill into a new run folder (or the one being resumed).

Parameters, data and base model are all checked before the notebook starts: a problem is one
line naming file, line and column, exit status 2, and nothing is written. The run is built in
outputs/runs/.incomplete-<name>/ and renamed to <name>/ when complete; a run that fails or is
interrupted (Ctrl-C or SIGTERM) becomes <name>.failed/ with the reason in its config.json.
This is rank 0's part: under torchrun, the `svtune` command sends ranks 1..N-1 to train their shards of
rank 0's run (cli.py, train/distributed.py). A recipe that learns from a tuned teacher gets it first:
the teacher is a whole run of its own, which this launcher makes (teacher_cache.ensure is handed `main`;
the dependency runs one way, launch -> teacher_cache).
"""

from __future__ import annotations

import os
import signal
import sys

from svtune import paths, runs
from svtune.run import teacher_cache
from svtune.run.checks import check_inputs
from svtune.run.config import model_slug
from svtune.run.folder import create_run_dir, final_dir, mark_failed, reopen


def main(params: dict, notebook: str | None = None) -> str:
    """Train with `params` (only those the user gave): check everything, tune the recipe's teacher
    first when it needs one, then execute the notebook; returns the finished run folder."""
    params = {"size": "small", **params} if not params.get("resume") else params
    cfg = check_inputs(params, given=set(params))   # before anything is written
    if cfg.hp.tuned_teacher and not cfg.teacher:      # a distil recipe: its teacher first (teacher_cache.py)
        params = {**params, "teacher": teacher_cache.ensure(cfg, main)}
        cfg = check_inputs(params, given=set(params))
    if cfg.resume:   # the notebook gets the run's own parameters, not its cell's defaults
        params = {**cfg.to_dict(), "overrides": cfg.overrides}
    return execute(notebook or str(paths.NOTEBOOKS_DIR / "train.ipynb"), params, cfg)


class ForwardInterrupt:
    """The notebook's kernel runs in its own session, so a terminal's Ctrl-C (or the SIGTERM that
    `timeout`, systemd and schedulers send) reaches only this process. Pass the first one on to the
    run as Ctrl-C (it stops after the current step with a checkpoint); a second one stops here at once."""

    SIGNALS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "interrupted (SIGTERM)"}

    def __init__(self, work):
        self.work, self.sent, self.reason = work, False, None

    def __enter__(self):
        self.previous = {s: signal.signal(s, self) for s in self.SIGNALS}
        return self

    def __call__(self, signum, frame):
        self.reason = self.reason or self.SIGNALS[signum]
        pid = None
        try:
            pid = runs.read_config(self.work).get("pid")
        except (OSError, ValueError):
            pass
        if self.sent or not pid:
            raise KeyboardInterrupt
        self.sent = True
        print(f"\n{self.reason}: asking the run to stop with a checkpoint (again to stop at once)",
              file=sys.stderr, flush=True)
        os.kill(pid, signal.SIGINT)

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def execute(notebook: str, params: dict, cfg) -> str:
    """Run the notebook into a new run folder (or the one being resumed); a failure leaves
    `<name>.failed` with the reason."""
    import papermill as pm
    if cfg.resume:
        work = reopen(paths.resolve(cfg.resume))
        params = {**params, "resume": str(work)}
    else:
        work = create_run_dir(cfg.size, model_slug(cfg.base_model))
    executed = work.parent / f"{work.name}.ipynb"   # beside the folder: the folder is renamed when complete
    print(f"running {notebook} -> {final_dir(work)}", flush=True)
    reason = None
    forward = ForwardInterrupt(work)
    try:
        with forward:
            pm.execute_notebook(notebook, str(executed), parameters={**params, "run_dir": str(work)},
                                cwd=str(paths.REPO_ROOT), progress_bar=False,
                                stdout_file=sys.stdout, stderr_file=sys.stderr)
    except KeyboardInterrupt:
        reason = forward.reason or "interrupted (Ctrl-C)"
    except pm.PapermillExecutionError as e:
        reason = e.evalue if e.ename == "DataError" else f"{e.ename}: {e.evalue}"
        if e.ename == "KeyboardInterrupt":
            reason = forward.reason or "interrupted (Ctrl-C)"
    final = final_dir(work)
    folder = final if final.is_dir() and not work.exists() else work
    if reason is None and folder == final:
        if executed.exists():
            os.replace(executed, final / "train.ipynb")
        print(f"{runs.COMPLETE_LINE}{final}", flush=True)
        from svtune.eval.summary import summary  # pandas and scipy: only once a run is complete
        print(summary(final), flush=True)
        return str(final)
    reason = reason or "the notebook ended before the run finished"
    failed = mark_failed(folder, reason) if folder.exists() else folder
    if executed.exists():
        os.replace(executed, (failed if failed.exists() else work.parent) / "train.ipynb")
    print(f"error: {reason}", file=sys.stderr)
    print(f"the run folder is kept as {failed} (config.json has the reason; executed notebook inside); "
          f"resume it with: python -m svtune train -p resume {failed}; remove failed runs with: make clean-runs",
          file=sys.stderr)
    raise SystemExit(143 if "SIGTERM" in reason else 130 if reason.startswith("interrupted") else 1)

